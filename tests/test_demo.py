"""``make demo``'s main job, on a fresh workspace, twice."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from lepton_lab.cli import cli
from lepton_lab.client import LocalClient
from lepton_lab.config import Settings
from lepton_lab.demo import DEMO_DATASETS
from lepton_lab.workspace import Workspace


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_demo_seeds_a_shared_catalog_and_is_safe_to_repeat(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    first = CliRunner().invoke(cli, ["--home", str(home), "demo"])
    assert first.exit_code == 0, first.output
    assert "registered  medical/breast-cancer@1  569 rows, 31 columns" in first.output
    assert "kenji (agri editor, vision viewer) sees 4" in first.output
    # The main job: the shipped template, run as a job on the local runner.
    assert re.search(r"job \w+ succeeded in [\d.]+ s, 9/9 cells", first.output), first.output
    assert "recorded values: {'rows': 178, 'columns': 14, 'missing_cells': 0}" in first.output
    again = CliRunner().invoke(cli, ["--home", str(home), "demo"])
    assert again.exit_code == 0, again.output
    assert again.output.count("already registered") == len(DEMO_DATASETS)

    ws = Workspace(Settings(home=home, user="kenji"))
    kenji = LocalClient(ws)
    assert {d.ref for d in kenji.datasets.search()} == {
        "vision/digits",
        "agri/iris",
        "agri/wine",
        "medical/breast-cancer",
    }
    assert kenji.datasets.load("medical/breast-cancer@1").shape == (569, 31)
    ws.close()
