"""The OpenAPI document of the whole API, generated from the contract."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from lepton_lab.contract.openapi import document
from lepton_lab.server.base import LeptonHandler

__all__ = ["STREAMED", "OpenAPIHandler"]


class OpenAPIHandler(LeptonHandler):
    """``GET /openapi.json``: the OpenAPI 3.1 document of this API, for this server.

    A verb of its own: the document names the server's URL, which the contract's service
    calls do not know.
    """

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply(document(self.base_url))


#: The verbs the contract's routes take from here, by operation name.
STREAMED: dict[str, type[LeptonHandler]] = {"openapi": OpenAPIHandler}
