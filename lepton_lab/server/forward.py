"""The extension in a user's server that holds no catalog: Lepton Lab's REST, forwarded.

Under JupyterHub the catalog's credentials stay with the Lepton Lab service; the users'
single-user servers name the service instead (``LEPTON_LAB_URL`` in the spawner's
environment, or ``c.LeptonLabApp.service_url``).  There the extension opens no workspace:
each request the JupyterLab front end sends under ``{base_url}lepton/api/v1/`` goes on to
the service with this server's own token (``LEPTON_LAB_TOKEN``, else the Hub's
``JUPYTERHUB_API_TOKEN``: the owner's, holding the service's access scope), so that the
service, not this server, says who the user is.  Bodies stream both ways; the service's
status, the headers describing its body and its JSON errors come back unchanged.

Only the server's owner is forwarded: someone the owner shares the server with would
otherwise act with the owner's token.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.auth.utils import HTTP_METHOD_TO_AUTH_ACTION
from jupyter_server.base.handlers import APIHandler
from tornado import httputil, web
from tornado.http1connection import HTTP1Connection
from tornado.httpclient import AsyncHTTPClient, HTTPRequest, HTTPResponse

from lepton_lab.errors import LeptonLabError, NotAuthenticated, PermissionDenied
from lepton_lab.server.base import API

__all__ = ["ServiceLink", "forward_routes"]

#: Request headers passed on to the service (never cookies, nor the caller's credentials).
_REQUEST_HEADERS = ("Accept", "Content-Type", "Content-Length", "Content-Encoding")
#: Response headers passed back: those that describe the body, and where to go next.
_RESPONSE_HEADERS = (
    "Content-Type",
    "Content-Length",
    "Content-Encoding",
    "Content-Disposition",
    "Cache-Control",
    "ETag",
    "Last-Modified",
    "Location",
    "Retry-After",
)
#: Chunks of a request body held while the service reads the ones before.
_QUEUED_CHUNKS = 16
#: The service enforces its own upload limit; this server only has to let bodies through.
_MAX_BODY_BYTES = 1 << 40


@dataclass(frozen=True)
class ServiceLink:
    """Where requests are forwarded, with whose token, for whom."""

    url: str
    token: str
    #: The server's owner (``JUPYTERHUB_USER``); empty outside JupyterHub (one person).
    owner: str
    #: Seconds a forwarded request may take, body included (uploads, downloads).
    timeout: float = 3600.0

    @classmethod
    def from_env(cls, url: str, env: Mapping[str, str]) -> ServiceLink:
        """The link for the service at ``url``, with the token and owner ``env`` names."""
        token = env.get("LEPTON_LAB_TOKEN") or env.get("JUPYTERHUB_API_TOKEN") or ""
        return cls(url.rstrip("/"), token, env.get("JUPYTERHUB_USER", ""))


@web.stream_request_body
class ForwardHandler(APIHandler):
    """Every verb of ``{base_url}lepton/api/v1/…``, sent on to the Lepton Lab service.

    Checked in :meth:`prepare`, before any of the body arrives: a known user, allowed the
    ``lepton`` resource, the server's owner.  The upstream request starts there too, its
    body fed from :meth:`data_received` as the chunks come.
    """

    auth_resource = "lepton"

    _body: asyncio.Queue[bytes | None] | None = None
    _upstream: asyncio.Future[HTTPResponse] | None = None
    _head_sent = False
    _caller_left = False

    def initialize(self, link: ServiceLink, client: AsyncHTTPClient) -> None:
        """The service to forward to, and the HTTP client shared by every request."""
        self.link = link
        self.client = client

    async def prepare(self) -> None:  # type: ignore[override]
        """Who is calling (Jupyter Server, then the checks above); start the request."""
        await super().prepare()
        user = self.current_user
        method = self.request.method or "GET"
        if user is None:
            raise web.HTTPError(403)
        action = HTTP_METHOD_TO_AUTH_ACTION.get(method, "write")
        if not self.authorizer.is_authorized(self, user, action, self.auth_resource):
            raise web.HTTPError(403)
        if self.link.owner and user.username != self.link.owner:
            raise PermissionDenied(
                f"this server forwards Lepton Lab requests of {self.link.owner} only; "
                "use your own server, or the service with your own token"
            )
        if isinstance(self.request.connection, HTTP1Connection):
            self.request.connection.set_max_body_size(_MAX_BODY_BYTES)
        self._start(method)

    def _start(self, method: str) -> None:
        with_body = method in ("POST", "PUT", "PATCH")
        if with_body:
            self._body = asyncio.Queue(_QUEUED_CHUNKS)
        headers = {k: v for k in _REQUEST_HEADERS if (v := self.request.headers.get(k))}
        headers["Authorization"] = f"token {self.link.token}"
        prefix = self.base_url.rstrip("/") + API
        path = self.request.path[len(prefix) :] if self.request.path.startswith(prefix) else ""
        query = f"?{self.request.query}" if self.request.query else ""
        request = HTTPRequest(
            self.link.url + API + path + query,
            method=method,
            headers=headers,
            # A coroutine function, as tornado documents (its type hints say otherwise).
            body_producer=self._produce if with_body else None,  # type: ignore[arg-type]
            header_callback=self._on_header_line,
            streaming_callback=self._on_chunk,
            follow_redirects=False,
            decompress_response=False,
            connect_timeout=30,
            request_timeout=self.link.timeout,
        )
        self._upstream = asyncio.ensure_future(self.client.fetch(request, raise_error=False))

    async def data_received(self, chunk: bytes) -> None:
        """Pass a chunk of the body on to the service."""
        await self._feed(chunk)

    async def _feed(self, chunk: bytes | None) -> None:
        """Queue a chunk (None: the end) for the service, waiting while it is behind;
        dropped once the service has answered (it wants no more)."""
        if self._body is None or self._upstream is None or self._upstream.done():
            return
        put = asyncio.ensure_future(self._body.put(chunk))
        waiting: set[asyncio.Future[Any]] = {put, self._upstream}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        put.cancel()

    async def _produce(self, write: Callable[[bytes], Awaitable[None]]) -> None:
        assert self._body is not None
        while (chunk := await self._body.get()) is not None:
            await write(chunk)
        if self._caller_left:  # fail the upstream request rather than send half a body
            raise ConnectionAbortedError("the caller went away during the upload")

    def _on_header_line(self, line: str) -> None:
        if line.startswith("HTTP/"):  # a new response (a redirect is not followed)
            start = httputil.parse_response_start_line(line.strip())
            self._upstream_status = (start.code, start.reason)
            self._upstream_headers = httputil.HTTPHeaders()
        elif line.strip():
            self._upstream_headers.parse_line(line)
        else:  # the blank line that ends the head
            self.set_status(*self._upstream_status)
            self.clear_header("Content-Type")
            for name in _RESPONSE_HEADERS:
                if name in self._upstream_headers:
                    self.set_header(name, self._upstream_headers[name])
            self._head_sent = True

    def _on_chunk(self, chunk: bytes) -> None:
        self.write(chunk)
        self.flush()

    async def _forward(self) -> None:
        """Finish the request's body, wait for the service's answer, finish ours."""
        assert self._upstream is not None
        await self._feed(None)
        try:
            answer: HTTPResponse | Exception = await self._upstream
        except Exception as exc:  # refused, unreachable: no HTTP answer at all
            answer = exc
        if not self._head_sent:  # never reached the service (or timed out before answering)
            self.set_status(502)
            self.finish(
                json.dumps(
                    {
                        "error": "ServiceUnavailable",
                        "message": (
                            f"the Lepton Lab service at {self.link.url} did not answer "
                            f"({_reason(answer)}); is it running, and LEPTON_LAB_URL right?"
                        ),
                    }
                )
            )
            return
        # Jupyter's API handlers end with a JSON Content-Type unless told otherwise.
        self.finish(set_content_type=self._upstream_headers.get("Content-Type", "application/json"))

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Forward a GET."""
        await self._forward()

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Forward a POST, its body streamed."""
        await self._forward()

    @web.authenticated
    @authorized
    async def put(self) -> None:
        """Forward a PUT, its body streamed."""
        await self._forward()

    @web.authenticated
    @authorized
    async def patch(self) -> None:
        """Forward a PATCH, its body streamed."""
        await self._forward()

    @web.authenticated
    @authorized
    async def delete(self) -> None:
        """Forward a DELETE."""
        await self._forward()

    def on_connection_close(self) -> None:
        """The caller went away: end the upload to the service, as a failure."""
        self._caller_left = True
        if self._body is not None:
            while not self._body.empty():
                self._body.get_nowait()
            self._body.put_nowait(None)
        super().on_connection_close()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """This server's own refusals as Lepton Lab's JSON errors (``error``, ``message``)."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        self.set_header("Content-Type", "application/json")
        if isinstance(exc, LeptonLabError):
            self.set_status(exc.http_status)
            self.finish(json.dumps(exc.to_dict()))
            return
        name, message = "HTTPError", self._reason
        if status_code == 403 and self.current_user is None:
            name = NotAuthenticated.__name__
            message = "not logged in to this Jupyter server"
        self.finish(json.dumps({"error": name, "message": message}))


def _reason(answer: HTTPResponse | Exception) -> str:
    return str(answer.error if isinstance(answer, HTTPResponse) else answer)


def forward_routes(link: ServiceLink) -> list[tuple[str, type[web.RequestHandler], dict[str, Any]]]:
    """The one route of a forwarding extension: all of ``lepton/api/v1`` to the service."""
    client = AsyncHTTPClient(force_instance=True, max_clients=64, max_body_size=_MAX_BODY_BYTES)
    return [(rf"{API}(?:/.*)?", ForwardHandler, {"link": link, "client": client})]
