"""``ll.templates`` and ``ll.jobs``: the same behaviour on the local and the remote backend.

Jobs run on a :class:`RunnerThread` in this process, working on the backend's workspace:
the local one, or the running server's (its folder is ``server.home``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from lepton_lab.client import Client
from lepton_lab.config import Settings
from lepton_lab.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from lepton_lab.runs.notify import deliver_due
from lepton_lab.workspace import Workspace
from tests.client.conftest import Backend
from tests.runner_support import RunnerThread
from tests.runs.helpers import make_notebook
from tests.runs.test_notify import Receiver

#: A template with two typed parameters that prints and records.
CODE = """import random
import lepton_lab as ll
print("hello", label)
ll.record("x", 1)
ll.record("r", random.random())"""
PARAMETERS = 'rows = 3\nlabel = "a"'


@pytest.fixture
def typed(tmp_path: Path) -> Path:
    """A notebook file with a parameters cell (rows: int, label: str)."""
    path = tmp_path / "typed.ipynb"
    path.write_bytes(make_notebook(CODE, parameters=PARAMETERS))
    return path


@pytest.fixture
def runner(backend: Backend) -> Iterator[RunnerThread]:
    """A job runner on the backend's workspace, in a thread of this process."""
    own = None
    workspace = backend.workspace
    if workspace is None:
        assert backend.server is not None
        settings = Settings(home=backend.server.home, user="alice", auto_start_runner=False)
        workspace = own = Workspace(settings)
    thread = RunnerThread(workspace).start()
    yield thread
    thread.stop()
    if own is not None:
        own.close()


def test_the_gallery(alice: Client, backend: Backend, typed: Path) -> None:
    assert "dataset-report" in [t.name for t in alice.templates.list()]
    report = alice.templates.get("dataset-report")
    assert (report.builtin, report.ref) == (True, "dataset-report@1")
    assert [p.name for p in report.parameters] == ["dataset", "max_columns"]
    assert [v.version for v in alice.templates.versions("dataset-report@latest")] == [1]
    assert nbformat.reads(alice.templates.notebook("dataset-report"), as_version=4).cells

    name = f"{backend.team('botany')}/typed"
    info = alice.templates.publish(typed, name, description="Typed", tags=["demo"])
    assert (info.name, info.version, info.description, info.tags) == (name, 1, "Typed", ["demo"])
    assert {p.name: p.type for p in info.parameters} == {"rows": "int", "label": "str"}
    assert alice.templates.publish(typed, name).version == 1  # the same content
    # The exact bytes of the file, whichever backend stored them.
    assert alice.templates.notebook(name) == typed.read_bytes()
    assert alice.templates.get(f"{name}@1") == info
    found = alice.templates.list(team=backend.team("botany"))
    assert [t.ref for t in found] == [f"{name}@1"]

    # A team template called "versions" is not the versions of a template of that name.
    odd = f"{backend.team('botany')}/versions"
    alice.templates.publish(typed, odd)
    assert alice.templates.get(odd).name == odd
    assert [v.name for v in alice.templates.versions(odd)] == [odd]
    assert alice.templates.notebook(odd) == typed.read_bytes()


def test_mistakes_raise_the_same_errors(
    alice: Client, bob: Client, backend: Backend, typed: Path, tmp_path: Path
) -> None:
    name = f"{backend.team('botany')}/typed"
    alice.templates.publish(typed, name)
    with pytest.raises(InvalidInput, match="must be int"):
        alice.jobs.submit(name, {"rows": "many"})
    with pytest.raises(InvalidInput, match="did you mean rows"):
        alice.jobs.submit(name, {"rwos": 1})
    with pytest.raises(InvalidInput):
        alice.jobs.submit(name, {"rows": object()})
    with pytest.raises(InvalidInput, match="no notebook file"):
        alice.jobs.submit(tmp_path / "missing.ipynb")
    (tmp_path / "bad.ipynb").write_text('{"nbformat": 4}')
    with pytest.raises(InvalidInput, match="not a valid notebook"):
        alice.templates.publish(tmp_path / "bad.ipynb", name)
    with pytest.raises(InvalidInput, match="is not allowed"):
        alice.templates.get("Bad Name")
    with pytest.raises(NotFound, match="did you mean"):
        alice.templates.get(f"{name[:-1]}")
    with pytest.raises(PermissionDenied, match="contributor role"):
        bob.templates.publish(typed, f"{backend.team('botany')}/mine")
    for job_id in ("0123456789abcdef", "", "a/b"):
        with pytest.raises(NotFound, match="no job"):
            alice.jobs.get(job_id)


def test_queue_cancel_and_resubmit(
    alice: Client, bob: Client, backend: Backend, typed: Path
) -> None:
    name = f"{backend.team('botany')}/typed"
    alice.templates.publish(typed, name)
    job = alice.jobs.submit(name, {"rows": 5}, seed=7)
    assert (job.info.status, job.info.parameters, job.info.seed) == ("queued", {"rows": 5}, 7)
    page = alice.jobs.list(template=name)
    assert ([j.id for j in page], page.total) == ([job.id], 1)
    assert alice.jobs.get(job.id) == job.info
    assert alice.jobs.logs(job.id) == [] and alice.jobs.records(job.id) == []
    with pytest.raises(NotFound, match="no output notebook yet"):
        alice.jobs.notebook(job.id)
    with pytest.raises(NotFound):
        bob.jobs.get(job.id)

    assert alice.jobs.cancel(job.id).status == "cancelled"
    with pytest.raises(Conflict, match="already ended"):
        alice.jobs.cancel(job.id)
    rerun = alice.jobs.resubmit(job.id)
    assert (rerun.rerun_of, rerun.seed, rerun.parameters) == (job.id, 7, {"rows": 5})
    report = alice.jobs.reproduction(rerun.id)
    assert (report.original.id, report.reproduced, report.checks) == (job.id, None, [])
    with pytest.raises(InvalidInput, match="is not a rerun"):
        alice.jobs.reproduction(job.id)
    alice.jobs.cancel(rerun.id)  # no runner of a later test should run it


@pytest.mark.timeout(180)
def test_a_job_runs_and_reruns_the_same(
    alice: Client,
    typed: Path,
    runner: RunnerThread,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    job = alice.jobs.submit(typed, {"label": "b"}, seed=7).wait(150)
    assert job.info.status == "succeeded", job.info.reason
    assert (job.info.template, job.info.parameters) == ("typed.ipynb", {"label": "b"})
    outputs = job.outputs
    assert outputs["x"] == 1 and 0 <= outputs["r"] < 1
    # (In any order: the runner writes each record in a thread of its own, so that the
    # order they were recorded in is not kept yet.)
    assert sorted((r.name, r.kind) for r in job.records) == [("r", "number"), ("x", "number")]
    assert "hello b" in job.logs()
    saved = job.notebook_path
    assert saved == Path("lepton-jobs") / f"{job.id}.ipynb"
    assert nbformat.read(saved, as_version=4).cells

    report = alice.jobs.rerun(job.id, timeout=150)
    assert report.rerun.rerun_of == job.id and report.rerun.status == "succeeded"
    assert {c.name: c.match for c in report.checks} == {"x": True, "r": True}
    assert report.reproduced is True


def test_notify_travels_and_the_notices_come_back(
    alice: Client, backend: Backend, typed: Path
) -> None:
    name = f"{backend.team('botany')}/typed"
    alice.templates.publish(typed, name)
    with pytest.raises(InvalidInput, match="http:// or https://"):
        alice.jobs.submit(name, notify={"webhook": "ftp://127.0.0.1/x"})
    # Deliveries are made by whoever runs a pass on the workspace: here, this test.
    own = None
    if backend.workspace is None:
        assert backend.server is not None
        own = Workspace(Settings(home=backend.server.home, user="alice", auto_start_runner=False))
    workspace = own or backend.workspace
    assert workspace is not None
    try:
        with Receiver() as receiver:
            job = alice.jobs.submit(name, notify={"webhook": receiver.url, "on": ["cancelled"]})
            alice.jobs.cancel(job.id)
            assert job.id in deliver_due(workspace)
        [notice] = alice.jobs.get(job.id).notices
        assert (notice["channel"], notice["status"]) == ("webhook", "delivered")
        assert json.loads(receiver.requests[0][1])["job"]["status"] == "cancelled"
    finally:
        if own is not None:
            own.close()
