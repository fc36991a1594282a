"""``ll.teams``: teams and their members, on either backend."""

from __future__ import annotations

import builtins

from lepton_lab.client.backend import Backend
from lepton_lab.contract import teams as ops
from lepton_lab.membership import TeamInfo

__all__ = ["Teams"]


class Teams:
    """``ll.teams``: teams and their members."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def list(self) -> builtins.list[TeamInfo]:
        """Every team with its members."""
        teams: builtins.list[TeamInfo] = self._backend.call(ops.LIST)
        return teams

    def get(self, slug: str) -> TeamInfo:
        """One team."""
        team: TeamInfo = self._backend.call(ops.GET, slug=slug)
        return team

    def create(self, slug: str, *, title: str = "", description: str = "") -> TeamInfo:
        """Create a team; you become its admin."""
        team: TeamInfo = self._backend.call(
            ops.CREATE, slug=slug, title=title, description=description
        )
        return team

    def add_member(self, slug: str, user: str, role: str = "contributor") -> TeamInfo:
        """Add a member or change their role (team admins)."""
        team: TeamInfo = self._backend.call(ops.ADD_MEMBER, slug=slug, user=user, role=role)
        return team

    def remove_member(self, slug: str, user: str) -> TeamInfo:
        """Remove a member (team admins)."""
        team: TeamInfo = self._backend.call(ops.REMOVE_MEMBER, slug=slug, user=user)
        return team
