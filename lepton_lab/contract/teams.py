"""Who am I, and teams: list, show, create, and manage members (team admins)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import WithJsonSchema

from lepton_lab.contract.core import Empty, Info, Items, Plain, Request, declare
from lepton_lab.contract.shapes import calls, reader
from lepton_lab.membership import MAX_TEAM_DESCRIPTION, MAX_TITLE, TeamInfo, TeamService

__all__ = ["ADD_MEMBER", "CREATE", "GET", "LIST", "REMOVE_MEMBER", "WHOAMI"]

_read = reader("teams")
_call = calls("teams")


class WhoAmI(Request):
    """No inputs: the token says who you are."""


WHOAMI = declare(
    "whoami",
    "GET",
    "/whoami",
    WhoAmI,
    Plain(dict[str, Any], "WhoAmI"),
    role="user",
    run=lambda ws, actor, r: actor.to_dict(),
    summary="The user, their teams and roles",
    refusals=(),
)


LIST = _read(
    TeamService.list,
    "/teams",
    Empty,
    Items(TeamInfo),
    "Every team with its members",
    refusals=(400,),
)


def _text(limit: int) -> WithJsonSchema:
    """The schema of text of at most ``limit`` characters, which the service checks (in its
    own words: "title must be text"): the request model takes any JSON value."""
    return WithJsonSchema({"type": "string", "maxLength": limit})


class CreateTeam(Request):
    """A new team's slug, title and description."""

    slug: Annotated[
        str, WithJsonSchema({"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"})
    ]
    title: Annotated[Any, _text(MAX_TITLE)] = ""
    description: Annotated[Any, _text(MAX_TEAM_DESCRIPTION)] = ""


CREATE = declare(
    "teams.create",
    "POST",
    "/teams",
    CreateTeam,
    Info(TeamInfo),
    role="user",
    run=lambda ws, actor, r: ws.teams.create(
        actor, r.slug, title=r.title, description=r.description
    ),
    status=201,
    summary="Create a team; you become its admin",
    refusals=(400, 403, 409),
    owner_note="403 for everyone but site admins where auto_create_teams is off",
)


class OneTeam(Request):
    """A team by slug."""

    slug: str


GET = _read(
    TeamService.get,
    "/teams/{slug}",
    OneTeam,
    Info(TeamInfo),
    "One team and its members",
    refusals=(400, 404),
)


class Member(Request):
    """A member of a team, and the role to give them."""

    slug: str
    user: str
    role: str = "contributor"


ADD_MEMBER = _call(
    "PUT",
    TeamService.add_member,
    "/teams/{slug}/members/{user}",
    Member,
    Info(TeamInfo),
    "Add a member or change their role",
    role="admin",
    refusals=(400, 403, 404, 409),
)


class OneMember(Request):
    """A member of a team."""

    slug: str
    user: str


REMOVE_MEMBER = _call(
    "DELETE",
    TeamService.remove_member,
    "/teams/{slug}/members/{user}",
    OneMember,
    Info(TeamInfo),
    "Remove a member (the last admin stays)",
    role="admin",
    refusals=(400, 403, 404, 409),
)
