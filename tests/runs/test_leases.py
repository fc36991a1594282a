"""Claims, leases, heartbeats and fencing, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from lepton_lab.config import Settings
from lepton_lab.runs.leases import Leases, new_runner_id
from lepton_lab.workspace import Workspace
from tests.runs.helpers import submit_code


def _leases(workspace: Workspace, lease: float = 30.0, *, gpus: int = 0) -> Leases:
    leases = Leases(workspace.db, new_runner_id(), lease_seconds=lease)
    leases.register(gpus=gpus, capacity=1)
    return leases


def test_claim_takes_oldest_and_marks_running(workspace: Workspace) -> None:
    actor = workspace.actor()
    first = submit_code(workspace, actor, "1")
    submit_code(workspace, actor, "2")
    lease = _leases(workspace).claim(free_gpus=0)
    assert lease is not None
    assert lease.job.id == first.id and lease.attempt == 1
    job = workspace.jobs.get(actor, first.id)
    assert job.status == "running" and job.runner and job.started_at is not None


def test_claim_respects_free_gpus(workspace: Workspace) -> None:
    actor = workspace.actor()
    big = submit_code(workspace, actor, "1", gpus=2)
    leases = _leases(workspace, gpus=2)
    assert leases.claim(free_gpus=1) is None
    lease = leases.claim(free_gpus=2)
    assert lease is not None and lease.job.id == big.id


def test_job_asking_more_gpus_than_any_runner_fails_at_once(workspace: Workspace) -> None:
    actor = workspace.actor()
    fits = submit_code(workspace, actor, "1", gpus=1)
    never = submit_code(workspace, actor, "1", gpus=2)
    leases = _leases(workspace, gpus=1)
    assert leases.sweep() == [never.id]
    failed = workspace.jobs.get(actor, never.id)
    assert failed.status == "failed"
    assert failed.reason is not None and failed.reason["kind"] == "unschedulable"
    assert "largest runner has 1" in failed.reason["message"]
    # The job that fits waits for its GPU instead.
    assert workspace.jobs.get(actor, fits.id).status == "queued"


def test_expired_lease_is_retried_then_lost(workspace: Workspace) -> None:
    actor = workspace.actor()
    job = submit_code(workspace, actor, "1", retries=1)
    dead = _leases(workspace, lease=0.5)
    first = dead.claim(0)
    assert first is not None
    time.sleep(0.7)
    other = _leases(workspace, lease=0.5)
    assert other.sweep() == [job.id]
    requeued = workspace.jobs.get(actor, job.id)
    assert requeued.status == "queued" and "lost_attempts" in requeued.manifest
    # The dead runner's late report matches nothing (fenced by runner and attempt).
    assert not dead.finish(first, "succeeded", None, output_sha256="", manifest={})
    second = other.claim(0)
    assert second is not None and second.attempt == 2
    time.sleep(0.7)
    assert other.sweep() == [job.id]
    lost = workspace.jobs.get(actor, job.id)
    assert lost.status == "lost"
    assert lost.reason is not None and "no retries left" in lost.reason["message"]


def test_heartbeat_extends_lease_and_reports_cancel_and_loss(workspace: Workspace) -> None:
    actor = workspace.actor()
    job = submit_code(workspace, actor, "1")
    leases = _leases(workspace, lease=0.6)
    lease = leases.claim(0)
    assert lease is not None
    for _ in range(3):
        time.sleep(0.3)
        beat = leases.heartbeat([job.id])
        assert not beat.cancel and not beat.lost
    assert leases.sweep() == []  # kept alive past two lease lengths
    workspace.jobs.cancel(actor, job.id)
    assert leases.heartbeat([job.id]).cancel == {job.id}
    assert leases.heartbeat(["not-mine"]).lost == {"not-mine"}


def test_progress_logs_records_are_fenced(workspace: Workspace) -> None:
    from lepton_lab.runs.info import RecordInfo

    actor = workspace.actor()
    job = submit_code(workspace, actor, "1")
    leases = _leases(workspace)
    lease = leases.claim(0)
    assert lease is not None
    assert leases.progress(lease, 1, 3, "print('hi')")
    assert leases.write_logs(lease, [("stdout", "a\n"), ("stderr", "b\n")])
    assert leases.write_logs(lease, [("stdout", "c\n")])
    assert leases.write_record(lease, RecordInfo("auc", "number", 0.5), 0)
    assert leases.write_record(lease, RecordInfo("auc", "number", 0.75), 0)  # last one wins
    assert leases.finish(lease, "succeeded", None, output_sha256="", manifest={"seed": 1})
    assert [(c.seq, c.text) for c in workspace.jobs.logs(actor, job.id)] == [
        (1, "a\n"),
        (2, "b\n"),
        (3, "c\n"),
    ]
    assert workspace.jobs.logs(actor, job.id, after=2)[0].text == "c\n"
    assert [(r.name, r.value) for r in workspace.jobs.records(actor, job.id)] == [("auc", 0.75)]
    done = workspace.jobs.get(actor, job.id)
    assert done.status == "succeeded" and done.cells_done == done.cells_total == 3
    # Once ended, nothing more is written.
    assert not leases.progress(lease, 0, 3, "")
    assert not leases.write_logs(lease, [("stdout", "late")])


def _claim_all(url: str, home: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """One racing runner: claim and finish until the queue is empty."""
    workspace = Workspace(Settings(home=Path(home), database_url=url, auto_start_runner=False))
    leases = Leases(workspace.db, new_runner_id(), lease_seconds=60)
    mine = []
    while (lease := leases.claim(0)) is not None:
        if leases.finish(lease, "succeeded", None, output_sha256="", manifest={}):
            mine.append(lease.job.id)
    out.put(mine)
    workspace.close()


@pytest.mark.timeout(300)
def test_racing_claimers_take_each_job_exactly_once(workspace: Workspace, tmp_path: Path) -> None:
    actor = workspace.actor()
    ids = {submit_code(workspace, actor, "1").id for _ in range(200)}
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    url = workspace.db.url.render_as_string(hide_password=False)
    workers = [
        context.Process(target=_claim_all, args=(url, str(tmp_path / f"h{i}"), out))
        for i in range(4)
    ]
    for worker in workers:
        worker.start()
    claimed = [out.get(timeout=240) for _ in workers]
    for worker in workers:
        worker.join(30)
    flat = [job for mine in claimed for job in mine]
    assert sorted(flat) == sorted(ids)  # every job once, none twice
    assert sum(1 for mine in claimed if mine) >= 2  # they really raced
