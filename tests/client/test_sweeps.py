"""``ll.jobs.sweep``: the same on the local and the remote backend, and ``lepton-lab sweep``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from lepton_lab.cli import cli
from lepton_lab.client import Client
from lepton_lab.config import Settings
from lepton_lab.errors import InvalidInput, NotFound
from lepton_lab.workspace import Workspace
from tests.client.conftest import Backend
from tests.runner_support import RunnerThread
from tests.runs.helpers import make_notebook

CODE = "import lepton_lab as ll\nll.record('score', a * 10 + b)"


@pytest.fixture
def template(alice: Client, backend: Backend, tmp_path: Path) -> str:
    path = tmp_path / "grid.ipynb"
    path.write_bytes(make_notebook(CODE, parameters="a = 1\nb = 0\n"))
    team = backend.team("botany")
    alice.teams.create(team)
    return alice.templates.publish(path, f"{team}/grid").name


@pytest.fixture
def runner(backend: Backend) -> Iterator[RunnerThread]:
    """A job runner on the backend's workspace, in a thread of this process."""
    own = None
    workspace = backend.workspace
    if workspace is None:
        assert backend.server is not None
        settings = Settings(home=backend.server.home, user="alice", auto_start_runner=False)
        workspace = own = Workspace(settings)
    thread = RunnerThread(workspace, concurrency=2, pool_size=2).start()
    yield thread
    thread.stop()
    if own is not None:
        own.close()


def test_a_sweep_runs_and_tabulates(
    alice: Client, bob: Client, template: str, runner: RunnerThread
) -> None:
    sweep = alice.jobs.sweep(template, grid={"a": [1, 2], "b": [5, 7]})
    assert sweep.info.kind == "sweep" and len(sweep.info.jobs) == 4
    assert sweep.wait(150).info.status == "succeeded"
    table = sweep.results("score")
    assert list(table["score"]) == [27, 25, 17, 15]
    assert list(table.columns[:4]) == ["job", "status", "a", "b"]
    best = sweep.best("score", maximize=False)
    assert (best["a"], best["b"], best["score"]) == (1, 5, 15)
    assert alice.jobs.group(sweep.id).info.counts == {"succeeded": 4}
    assert sweep.id in [g.id for g in alice.jobs.groups(kind="sweep")]
    with pytest.raises(NotFound):
        bob.jobs.group(sweep.id)


def test_a_bad_grid_raises_the_same_error_and_queues_nothing(alice: Client, template: str) -> None:
    with pytest.raises(InvalidInput, match="has no parameter 'c'"):
        alice.jobs.sweep(template, grid={"a": [1], "c": [2]})
    with pytest.raises(InvalidInput, match="non-empty list"):
        alice.jobs.sweep(template, grid={"a": []})
    assert alice.jobs.list(template=template).total == 0


def test_a_sweep_is_cancelled_as_a_whole(alice: Client, template: str) -> None:
    sweep = alice.jobs.sweep(template, grid={"a": [1, 2, 3]})
    assert sweep.cancel().counts == {"cancelled": 3}
    assert sweep.status == "cancelled"


def test_the_cli(local_workspace: Workspace, tmp_path: Path) -> None:
    alice = local_workspace.actor("alice")
    local_workspace.teams.create(alice, "botany")
    notebook = make_notebook(CODE, parameters="a = 1\nb = 0\n")
    template = local_workspace.templates.publish(alice, notebook, "botany/grid").name
    home = ["--home", str(local_workspace.settings.home), "--user", "alice"]
    queued = CliRunner().invoke(
        cli, [*home, "--json", "sweep", template, "-g", "a", "1,2", "-p", "b", "4"]
    )
    assert queued.exit_code == 0, queued.output
    group = json.loads(queued.output)
    assert [job["parameters"] for job in group["jobs"]] == [{"a": 1, "b": 4}, {"a": 2, "b": 4}]
    bad = CliRunner().invoke(cli, [*home, "sweep", template, "-g", "a", "1", "-g", "a", "2"])
    assert bad.exit_code == 2 and "given twice" in bad.output
