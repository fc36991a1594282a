"""Widget tests build one catalog per module (its ``template`` fixture) and copy it per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from lepton_lab.config import Settings
from lepton_lab.workspace import Workspace


@pytest.fixture
def local_workspace(template: Path, tmp_path: Path) -> Iterator[Workspace]:
    """A copy of the module's template workspace (a real SQLite file and blobs) to change."""
    home = tmp_path / "local-ws"
    shutil.copytree(template, home)
    workspace = Workspace(Settings(home=home, user="alice", auto_start_runner=False))
    yield workspace
    workspace.close()
