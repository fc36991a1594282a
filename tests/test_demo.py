"""``make demo``'s main job, on a fresh workspace, twice; and what ``make lab`` opens."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from lepton_lab.cli import cli
from lepton_lab.cli.lab import lab_argv
from lepton_lab.client import LocalClient
from lepton_lab.config import Settings
from lepton_lab.demo import DEMO_DATASETS
from lepton_lab.demo.jobs import DEMO_JOBS
from lepton_lab.demo.welcome import WELCOME, write_welcome
from lepton_lab.workspace import Workspace


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_demo_runs_the_whole_loop_and_is_safe_to_repeat(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    first = CliRunner().invoke(cli, ["--home", str(home), "demo"])
    assert first.exit_code == 0, first.output
    out = first.output
    assert "registered  medical/breast-cancer@1  569 rows, 31 columns" in out
    assert "registered  finance/credit@1  10000 rows, 4 columns" in out
    assert "kenji (agri editor, vision viewer) sees 10" in out
    # Four templates as jobs, then an evaluation of the promoted model and a rerun.
    for template in (job.template for job in DEMO_JOBS):
        assert re.search(rf"succeeded  {template} on \S+: job \w+, [\d.]+ s", out), out
    assert "rows 178, columns 14, missing_cells 0" in out
    assert "promoted medical/diagnosis@1 to production" in out
    assert re.search(r"succeeded  evaluate-model on medical/breast-cancer@1", out), out
    assert re.search(r"job \w+ re-ran job \w+: reproduced", out), out
    assert "did NOT" not in out
    # The shipped pipeline, once: nothing in production yet, so the trained version is promoted.
    assert re.search(r"succeeded  step promote \(promote-if-better\): job \w+", out), out
    assert "promote-if-better: promoted agri/wine-classifier@1 to @production" in out

    ws = Workspace(Settings(home=home, user="alice"))  # the demo ran as alice (conftest)
    client = LocalClient(ws)
    assert len(client.jobs.list(limit=50)) == len(DEMO_JOBS) + 2 + 3  # + the pipeline's
    assert all(job.status == "succeeded" for job in client.jobs.list(limit=50))
    production = client.models.version("medical/diagnosis@production")
    assert production.version == 1
    # The evaluate-model job stored its scores with the promoted version.
    assert {(m.dataset, m.split) for m in production.metrics} == {
        ("medical/breast-cancer@1", "test"),
        ("medical/breast-cancer@1", "eval"),
    }
    assert {m.ref for m in client.models.search()} == {
        "medical/diagnosis",
        "finance/credit-risk",
        "agri/wine-classifier",
    }
    outputs = sorted(p.name for p in (home / "notebooks" / "outputs").glob("*.ipynb"))
    assert len(outputs) == len(DEMO_JOBS) + 2 + 3
    welcome = nbformat.read(home / "notebooks" / WELCOME, as_version=4)
    assert "ll.templates.browse()" in "".join(c.source for c in welcome.cells)
    ws.close()

    again = CliRunner().invoke(cli, ["--home", str(home), "demo"])
    assert again.exit_code == 0, again.output
    assert again.output.count("already registered") == len(DEMO_DATASETS)
    assert re.search(r"job \w+ re-ran job \w+: reproduced", again.output), again.output
    assert "skipped  step promote" in again.output  # the same version is not better

    kenji = LocalClient(Workspace(Settings(home=home, user="kenji")))
    assert {d.ref for d in kenji.datasets.search()} == {
        "vision/digits",
        "agri/iris",
        "agri/wine",
        "medical/breast-cancer",
        "retail/electrical-equipment",
        "text/adjective-sentiment",
        "finance/stock-market",
        "medical/brain-cancer",
        "retail/orange-juice",
        "mobility/bikeshare",
    }
    assert kenji.datasets.load("medical/breast-cancer@1").shape == (569, 31)
    kenji.workspace.close()


def test_every_demo_dataset_is_real_and_says_where_from_and_under_what_licence() -> None:
    for item in DEMO_DATASETS:
        assert item.available(), f"{item.name} needs {item.needs}: {item.install}"
        assert "stand-in" not in item.tags and "Stand-in" not in item.description
        licences = ("BSD licence", "CC BY 4.0", "public domain", "PDDL")
        assert any(licence in item.description for licence in licences), item.name
        frame = item.load()
        assert len(frame) > 80 and frame.shape[1] >= 2, item.name
    credit = next(item for item in DEMO_DATASETS if item.name == "finance/credit")
    assert "ISLP" in credit.description and "simulated" in credit.description


def test_the_welcome_notebook_is_never_overwritten(tmp_path: Path) -> None:
    path = write_welcome(tmp_path)
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    path.write_text(path.read_text().replace("Welcome to Lepton Lab", "My own notes"))
    write_welcome(tmp_path)
    assert "My own notes" in path.read_text()


def test_lab_serves_the_notebooks_folder_and_opens_the_welcome_notebook(tmp_path: Path) -> None:
    argv = lab_argv(tmp_path, ip="127.0.0.1", port=8123, browser=False, allow_root=True)
    assert f"--ServerApp.root_dir={tmp_path / 'notebooks'}" in argv
    assert f"--LabApp.default_url=/lab/tree/{WELCOME}" in argv
    assert f"--LeptonLabApp.home={tmp_path}" in argv
    assert (tmp_path / "notebooks" / WELCOME).is_file()
