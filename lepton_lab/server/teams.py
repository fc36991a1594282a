"""Teams: list, show, create, and manage members (admins)."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from lepton_lab.server.base import API, LeptonHandler

__all__ = ["MemberHandler", "TeamHandler", "TeamsHandler", "routes"]

#: The longest team title the catalog stores (TeamService.create does not check it yet).


class TeamsHandler(LeptonHandler):
    """``GET /teams``: every team; ``POST /teams``: create one (you become its admin)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        teams = await self.call(self.workspace.teams.list)
        self.reply({"items": [t.to_dict() for t in teams]})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body({"slug", "title", "description"})
        title, description = body.get("title") or "", body.get("description") or ""
        team = await self.call(
            self.workspace.teams.create,
            body.get("slug"),
            title=title,
            description=description,
        )
        self.reply(team.to_dict(), status=201)


class TeamHandler(LeptonHandler):
    """``GET /teams/{slug}``: one team and its members."""

    @web.authenticated
    @authorized
    async def get(self, slug: str) -> None:
        team = await self.call(self.workspace.teams.get, slug)
        self.reply(team.to_dict())


class MemberHandler(LeptonHandler):
    """``PUT /teams/{slug}/members/{user}`` {"role"}: add or change; ``DELETE``: remove."""

    @web.authenticated
    @authorized
    async def put(self, slug: str, user: str) -> None:
        body = self.json_body({"role"})
        team = await self.call(
            self.workspace.teams.add_member, slug, user, body.get("role", "contributor")
        )
        self.reply(team.to_dict())

    @web.authenticated
    @authorized
    async def delete(self, slug: str, user: str) -> None:
        team = await self.call(self.workspace.teams.remove_member, slug, user)
        self.reply(team.to_dict())


routes = [
    (rf"{API}/teams", TeamsHandler),
    (rf"{API}/teams/([^/]+)", TeamHandler),
    (rf"{API}/teams/([^/]+)/members/([^/]+)", MemberHandler),
]
