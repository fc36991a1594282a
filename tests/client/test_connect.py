"""Which backend ``ll`` uses: ``ll.connect``, ``ll.configure`` and discovery from the
environment, in the kernel and in the ``lepton-lab`` command."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import lepton_lab as ll
import lepton_lab.client
from lepton_lab.cli import cli
from lepton_lab.client import LocalClient, RemoteClient, default_client, discover
from lepton_lab.errors import InvalidInput, NotAuthenticated
from lepton_lab.widgets.namespaces import namespace
from tests.client.conftest import EXPIRED_TOKEN, TOKENS, Server


@pytest.fixture(autouse=True)
def _no_default_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test chooses the default client afresh; the previous choice is restored after."""
    monkeypatch.setattr(lepton_lab.client, "_default", None)
    yield
    client = lepton_lab.client._default
    if client is not None:
        client.close()


def test_the_public_api_is_exactly_this() -> None:
    assert ll.__all__ == [
        "LeptonLabError",
        "__version__",
        "_jupyter_server_extension_points",
        "configure",
        "connect",
        "datasets",
        "evaluate",
        "jobs",
        "models",
        "pipelines",
        "record",
        "schedules",
        "teams",
        "templates",
        "train",
        "train_widget",
        "whoami",
    ]
    for name in ll.__all__:
        namespaces = ("datasets", "teams", "templates", "jobs", "models", "schedules", "pipelines")
        assert name in namespaces or hasattr(ll, name), name


def test_importing_lepton_lab_loads_no_backend() -> None:
    code = (
        "import sys, lepton_lab; "
        "print([m for m in ('requests', 'pandas', 'sqlalchemy', 'pyarrow') if m in sys.modules])"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"


def test_discovery_picks_a_backend_from_the_environment(tmp_path: Path) -> None:
    local = discover({})
    assert isinstance(local, LocalClient)
    local.close()
    remote = discover({"LEPTON_LAB_URL": "http://lab:8888/", "LEPTON_LAB_TOKEN": "t" * 16})
    assert isinstance(remote, RemoteClient)
    assert remote.url == "http://lab:8888"
    assert remote.transport.session().headers["Authorization"] == f"token {'t' * 16}"
    hub = discover(
        {"LEPTON_LAB_URL": "https://hub/services/lepton-lab/", "JUPYTERHUB_API_TOKEN": "h" * 16}
    )
    assert isinstance(hub, RemoteClient)
    assert (
        hub.transport.endpoint("whoami") == "https://hub/services/lepton-lab/lepton/api/v1/whoami"
    )
    assert hub.transport.session().headers["Authorization"] == f"token {'h' * 16}"
    with pytest.raises(InvalidInput, match="LEPTON_LAB_URL names a server, where user cannot"):
        discover({"LEPTON_LAB_URL": "http://lab"}, user="bob")


def test_ll_follows_lepton_lab_url(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEPTON_LAB_URL", server.url)
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", TOKENS["bob"])
    assert isinstance(default_client(), RemoteClient)
    assert ll.whoami()["user"] == "bob"
    assert ll.whoami()["workspace"] == server.url
    assert isinstance(ll.teams.list(), list)


def test_connect_then_configure(
    server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, iris: pd.DataFrame
) -> None:
    client = ll.connect(server.url, TOKENS["alice"])
    assert default_client() is client
    # ll.datasets is the client's datasets, with the browser widget added.
    assert ll.datasets is namespace(client, "datasets") and ll.teams is client.teams
    with pytest.raises(NotAuthenticated, match="unknown or expired token"):
        ll.connect(server.url, EXPIRED_TOKEN)
    assert default_client() is client  # a failed connect changes nothing
    monkeypatch.setenv("LEPTON_LAB_TOKEN", TOKENS["carol"])
    assert ll.connect(server.url).whoami()["user"] == "carol"
    local = ll.configure(home=tmp_path / "ws", user="dana")
    assert ll.whoami()["user"] == "dana"
    assert default_client() is local
    monkeypatch.delenv("LEPTON_LAB_URL", raising=False)
    with pytest.raises(InvalidInput, match="connect to which server"):
        ll.connect()


def test_the_command_line_follows_lepton_lab_url(server: Server, tmp_path: Path) -> None:
    env = {"LEPTON_LAB_URL": server.url, "LEPTON_LAB_TOKEN": TOKENS["bob"]}
    result = CliRunner(env=env).invoke(cli, ["--json", "whoami"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["user"] == "bob"
    assert json.loads(result.output)["workspace"] == server.url
    home = ["--home", str(tmp_path / "ws")]
    result = CliRunner(env=env).invoke(cli, [*home, "--json", "whoami"], catch_exceptions=False)
    assert json.loads(result.output)["workspace"] == str(tmp_path / "ws")
    result = CliRunner(env=env).invoke(cli, ["--user", "x", "whoami"], catch_exceptions=False)
    assert result.exit_code == 2 and "LEPTON_LAB_URL names a server" in result.output
    result = CliRunner(env=env).invoke(cli, ["demo"], catch_exceptions=False)
    assert result.exit_code == 2 and "the demo seeds a local workspace" in result.output


def test_inside_jupyterhub_the_kernel_talks_to_its_own_server(tmp_path: Path) -> None:
    from lepton_lab.client import discover
    from lepton_lab.client.remote import RemoteClient

    hub = {
        "JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:8888/user/alice/",
        "JUPYTERHUB_API_TOKEN": "hub-token-of-alice",
    }
    found = discover(hub)
    assert isinstance(found, RemoteClient)
    assert found.url.startswith("http://127.0.0.1:8888/user/alice")
    found.close()
    # A workspace named explicitly wins: the user chose local.
    local = discover({**hub, "LEPTON_LAB_HOME": str(tmp_path / "ws")})
    assert not isinstance(local, RemoteClient)
    local.close()
