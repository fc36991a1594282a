"""A real Jupyter Server with the extension, on a temporary workspace, via pytest-jupyter.

Requests carry ``Authorization: token <t>``; :class:`TokenUsers` maps each test token to
a user so that several users can talk to one server, as JupyterHub users do.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from jupyter_server.auth.identity import IdentityProvider, User
from tornado.httpclient import HTTPResponse
from traitlets import Dict
from traitlets.config import Config

TOKENS = {"alice-token": "alice", "bob-token": "bob", "carol-token": "carol"}


class TokenUsers(IdentityProvider):
    """Each known token is one user; anything else is refused."""

    users = Dict(config=True, help="token -> user name")

    def get_user(self, handler: Any) -> User | None:
        header = handler.request.headers.get("Authorization", "")
        token = header.removeprefix("token ").strip()
        name = self.users.get(token)
        return User(username=name) if name else None

    def is_token_authenticated(self, handler: Any) -> bool:
        # Requests with a token are API calls: exempt from XSRF, as Jupyter's own tokens are.
        return handler.request.headers.get("Authorization", "").startswith("token ")


@pytest.fixture
def lepton_home(tmp_path: Path) -> Path:
    return tmp_path / "server-workspace"


@pytest.fixture
def jp_server_config(lepton_home: Path) -> Config:
    return Config(
        {
            "ServerApp": {
                "jpserver_extensions": {"lepton_lab": True},
                "identity_provider_class": TokenUsers,
            },
            "TokenUsers": {"users": TOKENS},
            "LeptonLabApp": {"home": str(lepton_home), "max_upload_bytes": 5_000_000},
        }
    )


Api = Callable[..., Awaitable[tuple[int, Any]]]


@pytest.fixture
def api(jp_fetch: Any) -> Api:
    """``await api("GET", "datasets", user="alice", params=..., body=...)`` -> (status, JSON)."""

    async def call(
        method: str,
        *path: str,
        user: str | None = "alice",
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> tuple[int, Any]:
        sent = dict(headers or {})
        if user is not None:
            sent["Authorization"] = f"token {user}-token"
        else:  # no user: no token, unless the caller sends one of its own
            sent.setdefault("Authorization", "")
        payload = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if payload is None and method in {"POST", "PUT", "PATCH"}:
            payload = b""
        response: HTTPResponse = await jp_fetch(
            "lepton",
            "api",
            "v1",
            *path,
            method=method,
            body=payload,
            headers=sent,
            params=params or {},
            raise_error=False,
        )
        content_type = response.headers.get("Content-Type", "")
        data = (
            json.loads(response.body) if "json" in content_type and response.body else response.body
        )
        return response.code, data

    return call
