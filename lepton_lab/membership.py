"""Teams and memberships: the namespaces assets live in and the roles people hold there.

Named apart from ``ll.teams`` (the client namespace), so the two never shadow each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, bindparam, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lepton_lab.errors import Conflict, InvalidInput, NotFound, PermissionDenied, did_you_mean
from lepton_lab.events import record_event
from lepton_lab.identity import Actor, Role, can_see, require_edit, require_role
from lepton_lab.jsonform import JsonForm
from lepton_lab.refs import Ref, check_slug, check_text
from lepton_lab.store.tables import Dataset, Membership, Model, Team

if TYPE_CHECKING:
    from lepton_lab.workspace import Workspace

# Built once: every request reads the caller's roles with it (a Core select of two
# columns, its compiled form cached by the engine).
_ROLES = select(Membership.__table__.c.team, Membership.__table__.c.role).where(
    Membership.__table__.c.user == bindparam("user")
)

#: Longest team title and description.
MAX_TITLE = 200
MAX_TEAM_DESCRIPTION = 10_000

__all__ = [
    "MAX_TEAM_DESCRIPTION",
    "MAX_TITLE",
    "TeamInfo",
    "TeamService",
    "check_registering",
    "require_team",
]


@dataclass(frozen=True)
class TeamInfo(JsonForm):
    """A team and its members (user -> role name)."""

    slug: str
    title: str
    description: str
    created_by: str
    created_at: datetime
    members: dict[str, str] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """One line of a listing: the team, its title, members and admins."""
        return {
            "team": self.slug,
            "title": self.title,
            "members": len(self.members),
            "admins": [user for user, role in self.members.items() if role == Role.admin.name],
        }


class TeamService:
    """Create teams, manage members, and build the :class:`Actor` of a user."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def actor(self, user: str) -> Actor:
        """The user with their current roles, read from the catalog (never cached: a member
        removed from a team loses its access with the next request)."""
        with self._ws.db.reading() as conn:
            return self.actor_in(conn, user)

    def actor_in(self, session: Session | Connection, user: str) -> Actor:
        """The user's roles as the caller's transaction sees them (for checks at commit)."""
        rows = session.execute(_ROLES, {"user": user}).all()
        roles = {team: Role[role] for team, role in rows}
        return Actor(user, roles, is_site_admin=user in self._ws.settings.admin_users)

    def create(
        self, actor: Actor, slug: str, *, title: str = "", description: str = ""
    ) -> TeamInfo:
        """Create a team; its creator becomes its first admin.

        With ``auto_create_teams`` off (a shared deployment whose admins make the teams)
        only site admins may: the setting would mean nothing if anyone could.
        """
        check_slug(slug, "team")
        if not self._ws.settings.auto_create_teams and not actor.is_site_admin:
            raise PermissionDenied(
                f"creating team {slug} needs a site admin here (auto_create_teams is off); "
                f"ask one to run: lepton-lab teams create {slug}, then to add you"
            )
        check_text(title, "title", limit=MAX_TITLE)
        check_text(description, "description", limit=MAX_TEAM_DESCRIPTION)

        def work(session: Session) -> TeamInfo:
            if session.get(Team, slug) is not None:
                raise Conflict(f"team {slug} already exists; ask one of its admins to add you")
            self.add_team(session, actor, slug, title=title, description=description)
            return _team_info(session, slug)

        try:
            return self._ws.db.transact(work, attempts=1)
        except IntegrityError:
            raise Conflict(
                f"team {slug} already exists; ask one of its admins to add you"
            ) from None

    def add_team(
        self, session: Session, actor: Actor, slug: str, *, title: str = "", description: str = ""
    ) -> None:
        """Insert a team and its creator as admin inside the caller's transaction."""
        session.add(
            Team(slug=slug, title=title or slug, description=description, created_by=actor.user)
        )
        session.flush()
        session.add(
            Membership(team=slug, user=actor.user, role=Role.admin.name, added_by=actor.user)
        )
        record_event(session, actor.user, "team.create", f"team:{slug}")

    def list(self, actor: Actor) -> list[TeamInfo]:
        """Every team with its members; team names and members are not secret in an org."""
        with self._ws.db.read() as session:
            slugs = session.scalars(select(Team.slug).order_by(Team.slug)).all()
            return [_team_info(session, slug) for slug in slugs]

    def get(self, actor: Actor, slug: str) -> TeamInfo:
        """One team, or :class:`NotFound` with suggestions."""
        check_slug(slug, "team")
        with self._ws.db.read() as session:
            return _team_info(session, slug)

    def add_member(self, actor: Actor, slug: str, user: str, role: str | Role) -> TeamInfo:
        """Add ``user`` to the team with ``role``, or change their role (team admins only)."""
        parsed = Role.parse(role)
        user = _check_user(user)

        def work(session: Session) -> TeamInfo:
            require_team(session, slug)
            require_role(actor, slug, Role.admin, f"adding members to team {slug}")
            member = session.get(Membership, (slug, user))
            if member is None:
                session.add(Membership(team=slug, user=user, role=parsed.name, added_by=actor.user))
            else:
                self._check_not_last_admin(session, slug, member, parsed)
                member.role = parsed.name
            record_event(
                session, actor.user, "team.member", f"team:{slug}", user=user, role=parsed.name
            )
            session.flush()
            return _team_info(session, slug)

        return self._ws.db.transact(work)

    def remove_member(self, actor: Actor, slug: str, user: str) -> TeamInfo:
        """Remove ``user`` from the team (team admins only; the last admin stays)."""

        def work(session: Session) -> TeamInfo:
            require_team(session, slug)
            require_role(actor, slug, Role.admin, f"removing members from team {slug}")
            member = session.get(Membership, (slug, user))
            if member is None:
                raise NotFound(f"{user} is not a member of team {slug}")
            self._check_not_last_admin(session, slug, member, None)
            session.execute(
                delete(Membership).where(Membership.team == slug, Membership.user == user)
            )
            record_event(session, actor.user, "team.remove", f"team:{slug}", user=user)
            return _team_info(session, slug)

        return self._ws.db.transact(work)

    @staticmethod
    def _check_not_last_admin(
        session: Session, slug: str, member: Membership, new_role: Role | None
    ) -> None:
        if member.role != Role.admin.name or new_role == Role.admin:
            return
        admins = session.scalar(
            select(func.count()).where(Membership.team == slug, Membership.role == Role.admin.name)
        )
        if admins == 1:
            raise Conflict(
                f"{member.user} is the last admin of team {slug}; make someone else admin first"
            )


def _check_user(user: str) -> str:
    if not isinstance(user, str) or not user.strip() or len(user) > 200 or "/" in user:
        raise InvalidInput(f"user name {user!r} is not valid: a non-empty name without '/'")
    return user.strip()


def require_team(session: Session, slug: str) -> Team:
    check_slug(slug, "team")
    team = session.get(Team, slug)
    if team is None:
        known = session.scalars(select(Team.slug)).all()
        raise NotFound(
            f"no team {slug}{did_you_mean(slug, known)} "
            f"(create it with: lepton-lab teams create {slug})"
        )
    return team


def check_registering(
    actor: Actor, ref: Ref, row: Dataset | Model | None, *, kind: str, action: str, hint: str = ""
) -> None:
    """Refuse ``actor`` adding a version of the ``kind`` (dataset, model) named ``ref``,
    ``row`` (None: a free name): a new name needs a contributor of the team (``action``
    says what for), an existing one its owner or a team editor.  ``hint`` ends the
    message of a name taken by one the actor cannot see."""
    if row is None:
        require_role(actor, ref.team, Role.contributor, action)
        return
    if not can_see(actor, team=row.team, owner=row.owner, visibility=row.visibility):
        # Someone who may not register in the team gets the answer of a free name, so that
        # a name they cannot see is not revealed; a member learns it is taken.
        require_role(actor, ref.team, Role.contributor, action)
        raise Conflict(f"the name {ref.qualified} is taken by a {kind} you cannot see{hint}")
    require_edit(actor, team=row.team, owner=row.owner, what=f"{kind} {ref.qualified}")


def _team_info(session: Session, slug: str) -> TeamInfo:
    team = require_team(session, slug)
    members = session.execute(
        select(Membership.user, Membership.role)
        .where(Membership.team == slug)
        .order_by(Membership.user)
    )
    return TeamInfo(
        team.slug,
        team.title,
        team.description,
        team.created_by,
        team.created_at,
        {user: role for user, role in members},
    )
