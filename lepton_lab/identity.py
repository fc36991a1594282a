"""Who is acting, and the one permission check every surface goes through.

An :class:`Actor` is a user with a role in each of their teams.  Roles are ordered
viewer < contributor < editor < admin.  An asset (dataset, model, template) belongs to a
team, has an owner and a visibility:

* ``private``: the owner (and the team's admins) only;
* ``team``: every member of the owning team;
* ``org``: everybody.

What each action needs is decided here and nowhere else (:func:`can_see`,
:func:`require_role`); the services call these, surfaces never re-implement them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, and_, bindparam, or_, true
from sqlalchemy.orm import InstrumentedAttribute

from lepton_lab.errors import InvalidInput, NotFound, PermissionDenied

__all__ = [
    "Actor",
    "Role",
    "Visibility",
    "can_edit",
    "can_see",
    "require_edit",
    "require_role",
    "require_visible",
    "visible_clause",
    "visible_filter",
    "visible_params",
]


#: An asset table's column, from its ORM class or from its table.
_Column = InstrumentedAttribute[str] | ColumnElement[str]


class Role(enum.IntEnum):
    """A member's role in a team; a higher role can do everything a lower one can."""

    viewer = 1
    contributor = 2
    editor = 3
    admin = 4

    @classmethod
    def parse(cls, value: str | Role) -> Role:
        """``"editor"`` -> ``Role.editor``, with a clear error for anything else."""
        if isinstance(value, Role):
            return value
        try:
            return cls[str(value).strip().lower()]
        except KeyError:
            names = ", ".join(r.name for r in cls)
            raise InvalidInput(f"unknown role {value!r}; use one of: {names}") from None


class Visibility(enum.StrEnum):
    """Who may see an asset."""

    private = "private"
    team = "team"
    org = "org"

    @classmethod
    def parse(cls, value: str | Visibility) -> Visibility:
        """``"team"`` -> ``Visibility.team``, with a clear error for anything else."""
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            names = ", ".join(v.value for v in cls)
            raise InvalidInput(f"unknown visibility {value!r}; use one of: {names}") from None


@dataclass(frozen=True)
class Actor:
    """A user and their role in each team; every service call carries one."""

    user: str
    roles: Mapping[str, Role] = field(default_factory=dict)
    is_site_admin: bool = False

    @property
    def teams(self) -> frozenset[str]:
        """Slugs of the teams the user belongs to."""
        return frozenset(self.roles)

    def role_in(self, team: str) -> Role | None:
        """The user's role in ``team``; site admins are admins everywhere."""
        if self.is_site_admin:
            return Role.admin
        return self.roles.get(team)

    def has_role(self, team: str, role: Role) -> bool:
        """Whether the user holds ``role`` or a higher one in ``team``."""
        held = self.role_in(team)
        return held is not None and held >= role

    def to_dict(self) -> dict[str, object]:
        """JSON form (``whoami``)."""
        return {
            "user": self.user,
            "site_admin": self.is_site_admin,
            "teams": {team: role.name for team, role in sorted(self.roles.items())},
        }


def can_see(actor: Actor, *, team: str, owner: str, visibility: str) -> bool:
    """Whether ``actor`` may see an asset of ``team`` owned by ``owner``."""
    if visibility == Visibility.org or owner == actor.user:
        return True
    if visibility == Visibility.team:
        return actor.has_role(team, Role.viewer)
    return actor.has_role(team, Role.admin)


def visible_filter(
    actor: Actor,
    *,
    team: InstrumentedAttribute[str],
    owner: InstrumentedAttribute[str],
    visibility: InstrumentedAttribute[str],
) -> ColumnElement[bool]:
    """:func:`can_see` as a SQL condition over an asset table's columns (same rule)."""
    if actor.is_site_admin:
        return true()
    values = visible_params(actor)
    return _visible(
        team, owner, visibility, values["viewer"], values["viewer_teams"], values["viewer_admin_of"]
    )


def visible_clause(
    *,
    team: _Column,
    owner: _Column,
    visibility: _Column,
    site_admin: bool = False,
) -> ColumnElement[bool]:
    """:func:`visible_filter` whose viewer is bound parameters, given at execution as
    :func:`visible_params`: built once, it serves every viewer, and its compiled form is
    reused (the REST API's hot reads)."""
    if site_admin:
        return true()
    return _visible(
        team,
        owner,
        visibility,
        bindparam("viewer"),
        bindparam("viewer_teams", expanding=True),
        bindparam("viewer_admin_of", expanding=True),
    )


def _visible(
    team: _Column,
    owner: _Column,
    visibility: _Column,
    viewer: str | BindParameter[Any],
    teams: list[str] | BindParameter[Any],
    admin_of: list[str] | BindParameter[Any],
) -> ColumnElement[bool]:
    """The rule of :func:`can_see`, for a viewer given as values or as bound parameters."""
    return or_(
        visibility == Visibility.org.value,
        owner == viewer,
        and_(visibility == Visibility.team.value, team.in_(teams)),
        team.in_(admin_of),
    )


def visible_params(actor: Actor) -> dict[str, Any]:
    """The values of :func:`visible_clause`'s parameters for ``actor``."""
    return {
        "viewer": actor.user,
        "viewer_teams": sorted(actor.teams),
        "viewer_admin_of": sorted(t for t, role in actor.roles.items() if role >= Role.admin),
    }


def can_edit(actor: Actor, *, team: str, owner: str) -> bool:
    """Whether ``actor`` may change an asset: its owner (still a contributor) or an editor."""
    if owner == actor.user and actor.has_role(team, Role.contributor):
        return True
    return actor.has_role(team, Role.editor)


def require_edit(actor: Actor, *, team: str, owner: str, what: str) -> None:
    """Raise :class:`PermissionDenied` unless :func:`can_edit`."""
    if not can_edit(actor, team=team, owner=owner):
        require_role(actor, team, Role.editor, f"changing {what} (owned by {owner})")


def require_visible(actor: Actor, *, team: str, owner: str, visibility: str, what: str) -> None:
    """Raise :class:`NotFound` (not 403: existence is not revealed) unless visible."""
    if not can_see(actor, team=team, owner=owner, visibility=visibility):
        raise NotFound(f"no {what}")


def require_role(actor: Actor, team: str, role: Role, action: str) -> None:
    """Raise :class:`PermissionDenied` naming the role needed and who can grant it."""
    if actor.has_role(team, role):
        return
    held = actor.role_in(team)
    have = f"you are {held.name} of {team}" if held else f"you are not a member of team {team}"
    raise PermissionDenied(
        f"{action} needs the {role.name} role in team {team}, and {have}; "
        f"ask an admin of {team} to run: lepton-lab teams add-member {team} {actor.user} "
        f"--role {role.name}"
    )
