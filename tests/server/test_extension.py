"""The extension as Jupyter sees it: enabled on install, configured by traitlets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config

from tests.server.conftest import Api


def test_installed_extension_is_listed_enabled_and_ok() -> None:
    jupyter = Path(sys.executable).parent / "jupyter"
    listing = subprocess.run(
        [str(jupyter), "server", "extension", "list"], capture_output=True, text=True, check=True
    )
    text = listing.stdout + listing.stderr
    assert "lepton_lab \x1b[32menabled" in text or "lepton_lab enabled" in text
    assert "lepton_lab 0.1.0 \x1b[32mOK" in text or "lepton_lab 0.1.0 OK" in text


@pytest.fixture
def jp_server_config(jp_server_config: Config, tmp_path: Path) -> Config:
    jp_server_config.LeptonLabApp.database_url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    jp_server_config.LeptonLabApp.auto_create_teams = False
    jp_server_config.LeptonLabApp.connections_file = str(tmp_path / "connections.toml")
    return jp_server_config


async def test_traitlets_configure_the_workspace(
    api: Api, jp_serverapp: Any, tmp_path: Path
) -> None:
    workspace = jp_serverapp.web_app.settings["lepton_lab_workspace"]
    assert workspace.settings.database_url == f"sqlite:///{tmp_path / 'elsewhere.db'}"
    assert workspace.settings.connections_file == str(tmp_path / "connections.toml")
    assert (tmp_path / "elsewhere.db").exists()
    status, body = await api(
        "POST", "datasets", "nosuch", "x", "versions", raw=b"a\n1\n", params={"format": "csv"}
    )
    assert (status, body["error"]) == (404, "NotFound")
    assert "lepton-lab teams create nosuch" in body["message"]
