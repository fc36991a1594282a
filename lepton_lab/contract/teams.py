"""Who am I, and teams: list, show, create, and manage members (team admins)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import WithJsonSchema

from lepton_lab.contract.core import Empty, Info, Items, Plain, Request, declare
from lepton_lab.membership import MAX_TEAM_DESCRIPTION, MAX_TITLE, TeamInfo

__all__ = ["ADD_MEMBER", "CREATE", "GET", "LIST", "REMOVE_MEMBER", "WHOAMI"]


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


LIST = declare(
    "teams.list",
    "GET",
    "/teams",
    Empty,
    Items(TeamInfo),
    role="user",
    run=lambda ws, actor, r: ws.teams.list(actor),
    summary="Every team with its members",
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


GET = declare(
    "teams.get",
    "GET",
    "/teams/{slug}",
    OneTeam,
    Info(TeamInfo),
    role="user",
    run=lambda ws, actor, r: ws.teams.get(actor, r.slug),
    summary="One team and its members",
    refusals=(400, 404),
)


class Member(Request):
    """A member of a team, and the role to give them."""

    slug: str
    user: str
    role: str = "contributor"


ADD_MEMBER = declare(
    "teams.add_member",
    "PUT",
    "/teams/{slug}/members/{user}",
    Member,
    Info(TeamInfo),
    role="admin",
    run=lambda ws, actor, r: ws.teams.add_member(actor, r.slug, r.user, r.role),
    summary="Add a member or change their role",
    refusals=(400, 403, 404, 409),
)


class OneMember(Request):
    """A member of a team."""

    slug: str
    user: str


REMOVE_MEMBER = declare(
    "teams.remove_member",
    "DELETE",
    "/teams/{slug}/members/{user}",
    OneMember,
    Info(TeamInfo),
    role="admin",
    run=lambda ws, actor, r: ws.teams.remove_member(actor, r.slug, r.user),
    summary="Remove a member (the last admin stays)",
    refusals=(400, 403, 404, 409),
)
