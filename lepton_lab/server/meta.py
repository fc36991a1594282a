"""Who am I, and the OpenAPI document of the whole API."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from lepton_lab.server.base import API, LeptonHandler

__all__ = ["WhoAmIHandler", "routes"]


class WhoAmIHandler(LeptonHandler):
    """``GET /whoami``: the user, their teams and roles."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        actor = await self.actor()
        self.reply(actor.to_dict())


routes = [
    (rf"{API}/whoami", WhoAmIHandler),
]
