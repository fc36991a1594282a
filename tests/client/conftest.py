"""The client suite runs every test twice: on the local backend and on a real server.

``backend`` is ``local`` (a :class:`LocalClient` on a fresh SQLite workspace) or
``remote`` (a :class:`RemoteClient` talking to ``lepton-lab serve`` in another process:
the remote client is synchronous, so it cannot call a server running in the test's own
event loop).  One server is started per test session (per xdist worker) and shared; each
test works in teams of its own (``backend.team("finance")`` -> ``finance-<id>``), so
tests never see each other's datasets.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from lepton_lab.client import Client, LocalClient, RemoteClient
from lepton_lab.config import Settings
from lepton_lab.workspace import Workspace

#: User -> API token of the test server (tokens are at least 16 characters).
TOKENS = {user: f"{user}-token-{'0' * 16}" for user in ("alice", "bob", "carol")}
EXPIRED_TOKEN = "alice-expired-token-0000"
#: The server refuses uploads over this many bytes.
MAX_UPLOAD = 5_000_000
_STARTUP_SECONDS = 90


@dataclass
class Server:
    """A running ``lepton-lab serve``: its base URL, workspace folder and process."""

    url: str
    home: Path
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def api(self) -> str:
        """The REST API's base URL."""
        return f"{self.url}/lepton/api/v1"

    def headers(self, user: str) -> dict[str, str]:
        """``Authorization`` for ``user``."""
        return {"Authorization": f"token {TOKENS[user]}"}


def sql_source(root: Path) -> Path:
    """A SQLite database with a ``loans`` table, and the connections file naming it:
    ``warehouse`` (every team) and ``payroll`` (only team ``hr-only``, which no test user
    is in).  Returns the connections file."""
    import sqlite3

    root.mkdir(parents=True, exist_ok=True)
    source = root / "source.db"
    with sqlite3.connect(source) as db:
        db.execute("create table if not exists loans (id integer, amount real, note text)")
        db.execute("delete from loans")
        db.executemany("insert into loans values (?, ?, ?)", [(1, 10.5, "a"), (2, None, "b")])
    connections = root / "connections.toml"
    connections.write_text(
        f'[connections.warehouse]\nurl = "sqlite:///{source}"\nteams = ["*"]\n'
        f'[connections.payroll]\nurl = "sqlite:///{source}"\nteams = ["hr-only"]\n'
    )
    return connections


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _server_env(root: Path) -> dict[str, str]:
    """The environment of the server: none of the developer's Lepton Lab or Jupyter setup."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEPTON_LAB_", "JUPYTER"))}
    env.update(
        LEPTON_LAB_CONNECTIONS=str(sql_source(root / "sql")),
        LEPTON_LAB_MAX_UPLOAD_BYTES=str(MAX_UPLOAD),
        # Tests start the job runners they need (tests/runner_support.py): a runner the
        # server started on its own would outlive the tests by its ten idle minutes.
        LEPTON_LAB_AUTO_RUNNER="0",
        JUPYTER_CONFIG_DIR=str(root / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(root / "jupyter-runtime"),
        JUPYTER_DATA_DIR=str(root / "jupyter-data"),
    )
    return env


def _wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + _STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            answer = requests.get(
                f"{server.api}/whoami", headers=server.headers("alice"), timeout=2
            )
            if answer.status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    server.process.kill()
    raise RuntimeError(f"lepton-lab serve did not start:\n{server.log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``lepton-lab serve`` on a fresh workspace, with TOKENS and one expired token."""
    root = tmp_path_factory.mktemp("server")
    tokens = {token: user for user, token in TOKENS.items()}
    tokens[EXPIRED_TOKEN] = {"user": "alice", "expires": "2001-01-01T00:00:00Z"}  # type: ignore[assignment]
    (root / "tokens.json").write_text(json.dumps(tokens))
    port = _free_port()
    command = [
        str(Path(sys.executable).parent / "lepton-lab"),
        "--home",
        str(root / "home"),
        "serve",
        "--port",
        str(port),
        "--tokens-file",
        str(root / "tokens.json"),
        "--allow-root",
    ]
    log = root / "server.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=_server_env(root)
        )
    running = Server(f"http://127.0.0.1:{port}", root / "home", process, log)
    try:
        _wait_until_up(running)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Backend:
    """Clients of one backend for any user, and team names private to the test."""

    kind: str
    server: Server | None
    workspace: Workspace | None
    cache: Path
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    _clients: list[Client] = field(default_factory=list)

    def client(self, user: str = "alice") -> Client:
        """``user``'s client: local on the test's workspace, or remote with their token."""
        made: Client
        if self.workspace is not None:
            made = LocalClient(self.workspace, user=user)
        else:
            assert self.server is not None
            made = RemoteClient(self.server.url, TOKENS[user], cache_dir=self.cache)
        self._clients.append(made)
        return made

    def team(self, name: str) -> str:
        """A team name no other test uses (``finance`` -> ``finance-1a2b3c4d``)."""
        return f"{name}-{self.suffix}"

    @property
    def tag(self) -> str:
        """A tag no other test uses: filter searches with it to see this test's datasets."""
        return f"t{self.suffix}"

    def close(self) -> None:
        """Close every client handed out (the workspace is closed by its fixture)."""
        for client in self._clients:
            if isinstance(client, RemoteClient):
                client.close()


@pytest.fixture(params=["local", "remote"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Each client test runs on the local backend and on a real running server."""
    workspace = None
    server = None
    if request.param == "local":
        settings = Settings(
            home=tmp_path / "ws",
            user="alice",
            auto_start_runner=False,
            connections_file=str(sql_source(tmp_path / "sql")),
        )
        workspace = Workspace(settings)
    else:
        server = request.getfixturevalue("server")
    made = Backend(request.param, server, workspace, tmp_path / "cache")
    yield made
    made.close()
    if workspace is not None:
        workspace.close()


@pytest.fixture
def alice(backend: Backend) -> Client:
    """Alice's client on the backend under test."""
    return backend.client("alice")


@pytest.fixture
def bob(backend: Backend) -> Client:
    """Bob's client on the backend under test."""
    return backend.client("bob")
