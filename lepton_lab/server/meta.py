"""Who am I, and the OpenAPI document of the whole API."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from lepton_lab.server.base import API, LeptonHandler
from lepton_lab.server.openapi import document

__all__ = ["OpenAPIHandler", "WhoAmIHandler", "routes"]


class WhoAmIHandler(LeptonHandler):
    """``GET /whoami``: the user, their teams and roles."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        actor = await self.actor()
        self.reply(actor.to_dict())


class OpenAPIHandler(LeptonHandler):
    """``GET /openapi.json``: the OpenAPI 3.1 document of this API, for this server."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply(document(self.base_url))


routes = [
    (rf"{API}/whoami", WhoAmIHandler),
    (rf"{API}/openapi\.json", OpenAPIHandler),
]
