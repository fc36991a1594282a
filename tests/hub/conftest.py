"""A real JupyterHub on loopback, with Lepton Lab as its service (module-scoped).

JupyterHub from PyPI, configurable-http-proxy from npm (``make install`` puts it in
``.venv/chp``), the DummyAuthenticator (one password), the simple local spawner running
``jupyterhub-singleuser`` as this OS user, and ``lepton-lab serve`` run by the Hub on a
SQLite catalog seeded beforehand: team finance (alice) and team medical (bob), each with
a dataset only its members see.  carol is a Hub user without the role that grants access
to the service.  The Hub's configuration is docs/deployment.md's, with test values.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from lepton_lab.client import LocalClient
from lepton_lab.config import Settings
from lepton_lab.workspace import Workspace

BIN = Path(sys.executable).parent
CHP = Path(
    os.environ.get(
        "LEPTON_LAB_TEST_CHP", BIN.parent / "chp/node_modules/.bin/configurable-http-proxy"
    )
)
PASSWORD = "lepton-test-password"
ADMIN_TOKEN = uuid.uuid4().hex
SERVICE = "lepton"
_STARTUP_SECONDS = 90


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def seed_catalog(home: Path) -> None:
    """Two teams, each with a dataset its members alone see."""
    workspace = Workspace(Settings(home=home, user="alice", auto_start_runner=False))
    try:
        for user, team, name, frame in (
            ("alice", "finance", "credit", pd.DataFrame({"amount": [1.0, 2.0], "default": [0, 1]})),
            ("bob", "medical", "patients", pd.DataFrame({"age": [31, 47, 52], "sick": [0, 1, 1]})),
        ):
            client = LocalClient(workspace, user=user)
            client.teams.create(team)
            client.datasets.register(frame, f"{team}/{name}", visibility="team")
    finally:
        workspace.close()


def hub_config(root: Path, ports: dict[str, int], catalog: Path) -> str:
    """docs/deployment.md's jupyterhub_config.py, on loopback with test values."""
    public = f"http://127.0.0.1:{ports['public']}"
    jupyter_dirs = {
        f"JUPYTER_{kind}_DIR": str(root / "service-jupyter" / kind.lower())
        for kind in ("CONFIG", "DATA", "RUNTIME")
    }
    service_env = {"LEPTON_LAB_HOME": str(catalog), "LEPTON_LAB_AUTO_RUNNER": "0", **jupyter_dirs}
    settings: dict[str, Any] = {
        "JupyterHub.bind_url": public,
        "JupyterHub.hub_ip": "127.0.0.1",
        "JupyterHub.hub_port": ports["hub"],
        "JupyterHub.db_url": f"sqlite:///{root / 'hub.sqlite'}",
        "JupyterHub.cookie_secret_file": str(root / "cookie_secret"),
        "JupyterHub.pid_file": str(root / "hub.pid"),
        "JupyterHub.authenticator_class": "dummy",
        "JupyterHub.spawner_class": "simple",
        "JupyterHub.services": [
            {
                "name": SERVICE,
                "url": f"http://127.0.0.1:{ports['service']}",
                "command": [str(BIN / "lepton-lab"), "serve", "--allow-root"],
                "environment": service_env,
                "oauth_no_confirm": True,
                "oauth_client_allowed_scopes": [f"access:services!service={SERVICE}"],
            },
            {"name": "test-admin", "api_token": ADMIN_TOKEN},
        ],
        "JupyterHub.load_roles": [
            {"name": "user", "scopes": ["self"]},
            {
                "name": "lepton-users",
                "scopes": [f"access:services!service={SERVICE}"],
                "users": ["alice", "bob"],
            },
            {"name": "admin", "services": ["test-admin"]},
        ],
        "ConfigurableHTTPProxy.command": [str(CHP)],
        "ConfigurableHTTPProxy.api_url": f"http://127.0.0.1:{ports['proxy_api']}",
        "DummyAuthenticator.password": PASSWORD,
        "Authenticator.allowed_users": ["alice", "bob", "carol"],
        "SimpleLocalProcessSpawner.home_dir_template": str(root / "homes" / "{username}"),
        "Spawner.cmd": [str(BIN / "jupyterhub-singleuser")],
        "Spawner.args": ["--allow-root"],
        "Spawner.environment": {"LEPTON_LAB_URL": f"{public}/services/{SERVICE}/"},
        "Spawner.server_token_scopes": [
            "users:activity!user",
            "access:servers!server",
            f"access:services!service={SERVICE}",
        ],
        "Spawner.start_timeout": 60,
        "Spawner.http_timeout": 60,
    }
    lines = [f"c.{key} = {value!r}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


@dataclass
class Hub:
    """A running Hub: its public URL, its folder and the catalog's, and API helpers."""

    url: str
    root: Path
    catalog: Path
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def service(self) -> str:
        """The Lepton Lab service's URL through the Hub's proxy."""
        return f"{self.url}/services/{SERVICE}"

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """The Hub's REST API with the admin service's token."""
        headers = {"Authorization": f"token {ADMIN_TOKEN}"}
        return requests.request(
            method, f"{self.url}/hub/api{path}", headers=headers, timeout=30, **kwargs
        )

    def token(self, user: str, scopes: list[str] | None = None) -> str:
        """A new Hub token of ``user`` (all their permissions, or only ``scopes``)."""
        body: dict[str, Any] = {"note": "lepton-lab test"}
        if scopes is not None:
            body["scopes"] = scopes
        answer = self.api("POST", f"/users/{user}/tokens", json=body)
        assert answer.status_code == 201, answer.text
        token: str = answer.json()["token"]
        return token

    def start_servers(self, *users: str) -> None:
        """Start each user's server and wait until all are ready."""
        for user in users:
            answer = self.api("POST", f"/users/{user}/server")
            assert answer.status_code in (201, 202), answer.text
        deadline = time.monotonic() + _STARTUP_SECONDS
        waiting = set(users)
        while waiting and time.monotonic() < deadline:
            for user in sorted(waiting):
                server = self.api("GET", f"/users/{user}").json()["servers"].get("", {})
                if server.get("ready"):
                    waiting.discard(user)
            time.sleep(0.2)
        assert not waiting, f"servers of {waiting} did not start:\n{self.log_tail()}"

    def run_in_kernel(self, user: str, token: str, code: str) -> str:
        """Start a kernel in ``user``'s server, run ``code`` there, return its stdout."""
        base = f"{self.url}/user/{user}/api/kernels"
        headers = {"Authorization": f"token {token}"}
        answer = requests.post(base, headers=headers, json={"name": "python3"}, timeout=60)
        assert answer.status_code == 201, answer.text
        kernel = answer.json()["id"]
        try:
            channels = f"{base.replace('http://', 'ws://')}/{kernel}/channels"
            return asyncio.run(_execute(channels, token, code))
        finally:
            requests.delete(f"{base}/{kernel}", headers=headers, timeout=30)

    def log_tail(self) -> str:
        """The end of the Hub's log (its services' and servers' output included)."""
        return self.log.read_text(errors="replace")[-6000:]


async def _execute(url: str, token: str, code: str, timeout: float = 120) -> str:
    """Run ``code`` over the kernel's websocket (Jupyter's messaging protocol); its stdout.
    An error in the kernel fails with the kernel's traceback."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    connection = await websocket_connect(
        HTTPRequest(url, headers={"Authorization": f"token {token}"})
    )
    msg_id = uuid.uuid4().hex
    header = {
        "msg_id": msg_id,
        "msg_type": "execute_request",
        "session": uuid.uuid4().hex,
        "username": "test",
        "version": "5.3",
    }
    content = {"code": code, "silent": False, "store_history": False, "allow_stdin": False}
    request = {"header": header, "parent_header": {}, "metadata": {}, "content": content}
    await connection.write_message(json.dumps({**request, "channel": "shell", "buffers": []}))
    out: list[str] = []
    try:
        while True:
            raw = await asyncio.wait_for(connection.read_message(), timeout)
            assert raw is not None, "the kernel's websocket closed"
            message = json.loads(raw)
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, body = message["msg_type"], message["content"]
            if kind == "stream":
                out.append(body["text"])
            elif kind == "error":
                raise AssertionError("\n".join(body["traceback"]))
            elif kind == "status" and body["execution_state"] == "idle":
                return "".join(out)
    finally:
        connection.close()


def _wait_until_up(hub: Hub) -> None:
    """Until the Hub answers and the service is routed (it answers 403 to nobody)."""
    deadline = time.monotonic() + _STARTUP_SECONDS
    while time.monotonic() < deadline:
        if hub.process.poll() is not None:
            break
        try:
            answer = requests.get(f"{hub.service}/api/status", timeout=2)
            if answer.status_code == 403:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the Hub or its Lepton Lab service did not start:\n{hub.log_tail()}")


def _hub_env(root: Path) -> dict[str, str]:
    """The Hub's environment: none of the developer's Lepton Lab or Jupyter settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEPTON_LAB_", "JUPYTER"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """The Hub with its Lepton Lab service, started once for the module."""
    if shutil.which("jupyterhub", path=str(BIN)) is None:
        pytest.skip("jupyterhub is not installed (pip install 'lepton-lab[hub]')")
    if not CHP.exists():
        pytest.skip(f"configurable-http-proxy is not installed at {CHP} (make install)")
    root = tmp_path_factory.mktemp("hub")
    catalog = root / "catalog"
    seed_catalog(catalog)
    ports = {name: _free_port() for name in ("public", "hub", "proxy_api", "service")}
    (root / "jupyterhub_config.py").write_text(hub_config(root, ports, catalog))
    log = root / "hub.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(BIN / "jupyterhub"), "-f", str(root / "jupyterhub_config.py")],
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_hub_env(root),
            start_new_session=True,
        )
    running = Hub(f"http://127.0.0.1:{ports['public']}", root, catalog, process, log)
    try:
        _wait_until_up(running)
        yield running
    finally:
        _stop(running)


def _stop(hub: Hub) -> None:
    """Stop the Hub; it stops the users' servers, its service and its proxy."""
    hub.process.terminate()
    try:
        hub.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        hub.process.kill()
        hub.process.wait()
