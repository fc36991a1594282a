"""The OpenAPI document of the whole API, generated from the contract."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from lepton_lab.server.base import API, LeptonHandler
from lepton_lab.contract.openapi import document

__all__ = ["OpenAPIHandler", "routes"]


class OpenAPIHandler(LeptonHandler):
    """``GET /openapi.json``: the OpenAPI 3.1 document of this API, for this server."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply(document(self.base_url))


routes = [
    (rf"{API}/openapi\.json", OpenAPIHandler),
]
