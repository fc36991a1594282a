"""A personal JupyterLab (Jupyter's own token or password) acts as the workspace's user.

Jupyter Server calls the one user of a personal server "Anonymous …", a new name per
browser; the REST API (and the JupyterLab extension over it) then acts as the same user
a kernel on the workspace does (``LEPTON_LAB_USER``, else the OS user), and the usual
query arguments of Jupyter clients (``?token=``, a cache-buster) are not inputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config


@pytest.fixture
def jp_server_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("LEPTON_LAB_USER", "alice")
    monkeypatch.setenv("LEPTON_LAB_AUTO_RUNNER", "0")
    return Config(
        {
            "ServerApp": {"jpserver_extensions": {"lepton_lab": True}},
            "LeptonLabApp": {"home": str(tmp_path / "personal")},
        }
    )


async def test_the_workspace_user_acts(jp_fetch: Any, jp_server_config: Config) -> None:
    answer = await jp_fetch("lepton", "api", "v1", "whoami")
    assert json.loads(answer.body)["user"] == "alice"
    teams = await jp_fetch("lepton", "api", "v1", "teams", params={"_": "1", "1712345678": ""})
    assert teams.code == 200 and json.loads(teams.body) == {"items": []}
