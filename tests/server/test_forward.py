"""A Jupyter Server that names a Lepton Lab service forwards its REST API there.

The service here is a small tornado app on loopback that reports what it received, so
that what goes over the wire (path, query, token, body) and what comes back (status,
JSON errors, a streamed body) can be checked exactly.  The Hub test
(tests/hub/test_hub_service.py) runs the same forwarding against the real service.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado import web
from tornado.httpserver import HTTPServer
from traitlets.config import Config

from tests.server.conftest import Api

SERVER_TOKEN = "the-servers-own-hub-token"
BIG = 2_000_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Service(web.RequestHandler):
    """Answers what it was sent; ``…/missing`` is a 404, ``…/big`` a streamed body."""

    async def get(self, path: str) -> None:
        if path.endswith("missing"):
            self.set_status(404)
            self.finish({"error": "NotFound", "message": "no dataset finance/missing"})
            return
        if path == "big":
            self.set_header("Content-Type", "application/octet-stream")
            for _ in range(BIG // 100_000):
                self.write(b"x" * 100_000)
                await self.flush()
            return
        self.finish(self._seen(path))

    async def post(self, path: str) -> None:
        self.set_status(201)
        seen = self._seen(path)
        seen["sha256"] = hashlib.sha256(self.request.body).hexdigest()
        self.finish(seen)

    def _seen(self, path: str) -> dict[str, Any]:
        headers = self.request.headers
        return {
            "method": self.request.method,
            "path": path,
            "query": self.request.query,
            "authorization": headers.get("Authorization"),
            "cookie": headers.get("Cookie"),
            "content_type": headers.get("Content-Type"),
        }


@web.stream_request_body
class Refusing(web.RequestHandler):
    """Refuses an upload before reading its body, as the real service does past its limit."""

    def prepare(self) -> None:
        raise web.HTTPError(413)


@pytest.fixture
def service_port() -> int:
    return _free_port()


@pytest.fixture
def service(service_port: int, jp_asyncio_loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """The service, listening on the loop the Jupyter server and the test run on."""
    app = web.Application(
        [(r"/svc/lepton/api/v1/refused", Refusing), (r"/svc/lepton/api/v1/(.*)", Service)]
    )
    server = HTTPServer(app, max_body_size=10 * BIG)

    async def listen() -> None:
        server.listen(service_port, "127.0.0.1")

    jp_asyncio_loop.run_until_complete(listen())
    yield
    server.stop()


@pytest.fixture
def jp_server_config(
    jp_server_config: Config, service_port: int, monkeypatch: pytest.MonkeyPatch
) -> Config:
    # A single-user server's environment under JupyterHub: its own token and owner.
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", SERVER_TOKEN)
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    monkeypatch.delenv("LEPTON_LAB_TOKEN", raising=False)
    jp_server_config.LeptonLabApp.service_url = f"http://127.0.0.1:{service_port}/svc/"
    return jp_server_config


async def test_requests_go_on_with_the_servers_token(
    service: None, api: Api, jp_serverapp: Any, lepton_home: Path
) -> None:
    status, seen = await api(
        "GET", "datasets", "finance", "credit", params={"q": "a b"}, headers={"Cookie": "c=1"}
    )
    assert status == 200
    assert seen["path"] == "datasets/finance/credit" and seen["query"] == "q=a+b"
    assert seen["authorization"] == f"token {SERVER_TOKEN}"  # not the caller's
    assert seen["cookie"] is None
    # No catalog here: no workspace opened, no database file.
    assert "lepton_lab_workspace" not in jp_serverapp.web_app.settings
    assert not lepton_home.exists()


async def test_the_services_errors_come_back_as_they_are(service: None, api: Api) -> None:
    status, error = await api("GET", "datasets", "finance", "missing")
    assert (status, error) == (404, {"error": "NotFound", "message": "no dataset finance/missing"})


async def test_bodies_stream_both_ways(service: None, api: Api) -> None:
    body = bytes(range(256)) * (BIG // 256)
    status, seen = await api(
        "POST", "datasets", "finance", "up", "versions", raw=body,
        headers={"Content-Type": "text/csv"},
    )  # fmt: skip
    assert status == 201
    assert seen["sha256"] == hashlib.sha256(body).hexdigest()
    assert seen["content_type"] == "text/csv"
    status, data = await api("GET", "big")
    assert status == 200 and data == b"x" * BIG


async def test_an_upload_the_service_refuses_early_does_not_hang(service: None, api: Api) -> None:
    status, _ = await asyncio.wait_for(api("POST", "refused", raw=b"x" * BIG), timeout=30)
    # The refusal, or (when the service closed before the forwarder read it) a 502.
    assert status in (413, 502)


async def test_only_the_servers_owner_is_forwarded(service: None, api: Api) -> None:
    status, error = await api("GET", "whoami", user="bob")
    assert status == 403 and error["error"] == "PermissionDenied"
    status, error = await api("GET", "whoami", user=None)
    assert status == 403 and error["error"] == "NotAuthenticated"


async def test_a_service_that_does_not_answer_is_a_502(api: Api) -> None:
    status, error = await api("GET", "whoami")  # no service fixture: nothing listens
    assert status == 502 and error["error"] == "ServiceUnavailable"
    assert "LEPTON_LAB_URL" in json.dumps(error)
