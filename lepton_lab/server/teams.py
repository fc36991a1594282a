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
        actor = await self.actor()
        teams = await self.run(self.workspace.teams.list, actor)
        self.reply({"items": [t.to_dict() for t in teams]})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.json_body({"slug", "title", "description"})
        title, description = body.get("title") or "", body.get("description") or ""
        actor = await self.actor()
        team = await self.run(
            self.workspace.teams.create,
            actor,
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
        actor = await self.actor()
        team = await self.run(self.workspace.teams.get, actor, slug)
        self.reply(team.to_dict())


class MemberHandler(LeptonHandler):
    """``PUT /teams/{slug}/members/{user}`` {"role"}: add or change; ``DELETE``: remove."""

    @web.authenticated
    @authorized
    async def put(self, slug: str, user: str) -> None:
        body = self.json_body({"role"})
        actor = await self.actor()
        team = await self.run(
            self.workspace.teams.add_member, actor, slug, user, body.get("role", "contributor")
        )
        self.reply(team.to_dict())

    @web.authenticated
    @authorized
    async def delete(self, slug: str, user: str) -> None:
        actor = await self.actor()
        team = await self.run(self.workspace.teams.remove_member, actor, slug, user)
        self.reply(team.to_dict())


routes = [
    (rf"{API}/teams", TeamsHandler),
    (rf"{API}/teams/([^/]+)", TeamHandler),
    (rf"{API}/teams/([^/]+)/members/([^/]+)", MemberHandler),
]
