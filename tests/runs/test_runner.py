"""Jobs through the whole path: queue -> runner -> executor -> database, with real kernels.

Each failure mode runs its own notebook (tests/runs/notebooks/) and must end in the right
state, with its output notebook saved and nothing else disturbed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import pytest

from lepton_lab.client import LocalClient
from lepton_lab.workspace import Workspace
from tests.runner_support import RunnerThread
from tests.runs.helpers import make_notebook

NOTEBOOKS = Path(__file__).parent / "notebooks"

# notebook -> (status, reason kind or None, text the output notebook must hold)
OUTCOMES: dict[str, tuple[str, str | None, str]] = {
    "ok": ("succeeded", None, "hello stdout"),
    "raises": ("failed", "cell_error", "bad value"),
    "sys_exit_0": ("succeeded", None, "before"),
    "sys_exit_1": ("failed", "cell_error", "SystemExit"),
    "keyboard_interrupt": ("failed", "cell_error", "KeyboardInterrupt"),
    "os_exit": ("failed", "kernel_died", "before"),
    "sigkill_self": ("failed", "kernel_died", "before"),
    "memory_error": ("failed", "cell_error", "MemoryError"),
    "huge_output": ("succeeded", None, "more bytes of output dropped"),
}


def _submit(client: LocalClient, name: str, **options: Any) -> str:
    return client.jobs.submit(NOTEBOOKS / f"{name}.ipynb", **options).id


def _output(client: LocalClient, job_id: str) -> nbformat.NotebookNode:
    return nbformat.reads(client.jobs.notebook(job_id).decode(), as_version=4)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_every_outcome_lands_in_the_right_state(
    client: LocalClient, local_workspace: Workspace, wine: Any
) -> None:
    client.datasets.register(wine, "agri/wine")  # something else in the catalog to keep
    ids = {name: _submit(client, name) for name in OUTCOMES}
    slow = {
        "timeout": _submit(client, "infinite_loop", timeout=3),
        "cancel": _submit(client, "long_sleep"),
    }
    runner = RunnerThread(local_workspace, concurrency=2).start()
    try:
        _cancel_when_running(client, slow["cancel"])
        for name, job_id in ids.items():
            info = client.jobs.wait(job_id, timeout=300)
            status, kind, text = OUTCOMES[name]
            assert info.status == status, (name, info.reason)
            assert (info.reason or {}).get("kind") == kind, (name, info.reason)
            assert text in json.dumps(_output(client, job_id).cells), name
        timed_out = client.jobs.wait(slow["timeout"], timeout=120)
        cancelled = client.jobs.wait(slow["cancel"], timeout=120)
    finally:
        runner.stop()
    assert timed_out.status == "failed" and timed_out.reason is not None
    assert timed_out.reason["kind"] == "timeout" and "start" in json.dumps(
        _output(client, slow["timeout"]).cells
    )
    assert cancelled.status == "cancelled" and cancelled.output_sha256
    # Nothing else was disturbed: the catalog reads the same, no job is left running.
    assert client.datasets.load("agri/wine@1").shape == wine.shape
    assert client.jobs.list(status="running").total == 0


def _cancel_when_running(client: LocalClient, job_id: str) -> None:
    import time

    deadline = time.monotonic() + 120
    while client.jobs.get(job_id).status != "running" or client.jobs.get(job_id).cells_done < 1:
        assert time.monotonic() < deadline, "the job never started"
        time.sleep(0.1)
    client.jobs.cancel(job_id)


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_failed_cell_is_marked_and_reason_names_it(client: LocalClient, job_runner: Any) -> None:
    job = client.jobs.submit(NOTEBOOKS / "raises.ipynb", {"message": "custom failure"})
    info = job.wait(timeout=150).info
    assert info.status == "failed" and info.reason is not None
    assert info.reason["ename"] == "ValueError" and info.reason["evalue"] == "custom failure"
    assert "custom failure" in info.reason["message"] and info.reason.get("cell") is not None
    output = _output(client, job.id)
    marked = [c for c in output.cells if c.metadata.get("papermill", {}).get("status") == "failed"]
    assert len(marked) == 1
    assert "An Exception was encountered" in json.dumps(output.cells)  # papermill's marker


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_manifest_logs_records_and_staging(
    client: LocalClient, local_workspace: Workspace, job_runner: Any
) -> None:
    job = client.jobs.submit(NOTEBOOKS / "ok.ipynb", {"x": 4}, seed=99).wait(timeout=150)
    info = job.info
    assert info.status == "succeeded" and info.cells_done == info.cells_total > 0
    manifest = info.manifest
    for key in ("template_sha256", "parameters", "seed", "kernel", "python", "packages",
                "host", "started_at", "ended_at", "datasets", "gpus"):  # fmt: skip
        assert key in manifest, key
    assert manifest["seed"] == 99 and manifest["parameters"] == {"x": 4}
    assert manifest["template_sha256"] == info.notebook_sha256
    assert "hello stdout" in job.logs() and "hello stderr" in job.logs()
    assert job.outputs == {"answer": 42}
    staged = Path(manifest["staging"])
    assert staged == local_workspace.settings.home / "jobs" / info.id and staged.is_dir()
    # Serialised once: the stored output notebook is the staging folder's, byte for byte.
    assert client.jobs.notebook(info.id) == (staged / "output.ipynb").read_bytes()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_rerun_reproduces_a_seeded_job_and_reports_a_changed_value(
    client: LocalClient, job_runner: Any, tmp_path: Path
) -> None:
    seeded = tmp_path / "seeded.ipynb"
    seeded.write_bytes(
        make_notebook(
            "import random\nimport lepton_lab as ll\nll.record('draw', random.random())",
            "import time\nll.record('clock', 'same' if n else str(time.time()))",
            parameters="n = 1",
        )
    )
    first = client.jobs.submit(seeded, seed=5).wait(timeout=150)
    report = client.jobs.rerun(first.id, timeout=150)
    assert report.reproduced is True
    assert [(c.name, c.match) for c in report.checks] == [("draw", True), ("clock", True)]
    changing = client.jobs.submit(seeded, {"n": 0}, seed=5).wait(timeout=150)
    report = changing.rerun(timeout=150)
    assert report.reproduced is False
    assert [(c.name, c.match) for c in report.checks] == [("draw", True), ("clock", False)]
