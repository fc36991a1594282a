"""Job tokens: valid while their job runs in their attempt, never after; stored hashed."""

from __future__ import annotations

import time

from sqlalchemy import select

from lepton_lab.runs import job_tokens
from lepton_lab.runs.leases import Lease, Leases, new_runner_id
from lepton_lab.store.tables import JobToken
from lepton_lab.workspace import Workspace
from tests.runs.helpers import submit_code


def _claim(workspace: Workspace, lease: float = 30.0) -> tuple[Leases, Lease]:
    leases = Leases(workspace.db, new_runner_id(), lease_seconds=lease)
    leases.register(gpus=0, capacity=1)
    claimed = leases.claim(free_gpus=0, token=True)
    assert claimed is not None
    return leases, claimed


def test_a_token_acts_as_the_submitter_for_its_job_and_is_stored_hashed(
    workspace: Workspace,
) -> None:
    job = submit_code(workspace, workspace.actor("bob"), "1")
    _, lease = _claim(workspace)
    assert lease.token.startswith(job_tokens.PREFIX) and len(lease.token) > 40
    assert job_tokens.resolve(workspace.db, lease.token) == job_tokens.JobIdentity("bob", job.id)
    with workspace.db.read() as session:
        stored = session.scalars(select(JobToken.sha256)).all()
    assert stored == [job_tokens.digest(lease.token)] and lease.token not in stored
    # A database runner's claim issues none.
    submit_code(workspace, workspace.actor("bob"), "2")
    plain = Leases(workspace.db, new_runner_id()).claim(free_gpus=0)
    assert plain is not None and plain.token == ""


def test_a_token_ends_with_its_job(workspace: Workspace) -> None:
    submit_code(workspace, workspace.actor(), "1")
    leases, lease = _claim(workspace)
    leases.finish(lease, "succeeded", None, output_sha256="", manifest={})
    assert job_tokens.resolve(workspace.db, lease.token) is None
    with workspace.db.read() as session:
        assert session.scalars(select(JobToken)).all() == []


def test_a_token_ends_when_its_lease_expires_and_the_job_is_retried(
    workspace: Workspace,
) -> None:
    submit_code(workspace, workspace.actor(), "1", retries=1)
    leases, first = _claim(workspace, lease=0.5)
    time.sleep(0.7)
    # Expired, not yet swept: no longer valid.
    assert job_tokens.resolve(workspace.db, first.token) is None
    leases.sweep()  # requeued; the next attempt gets a token of its own
    _, second = _claim(workspace)
    assert second.attempt == 2 and second.token != first.token
    assert job_tokens.resolve(workspace.db, first.token) is None
    assert job_tokens.resolve(workspace.db, second.token) is not None


def test_a_lost_worker_revokes_the_token(workspace: Workspace) -> None:
    submit_code(workspace, workspace.actor(), "1", retries=0)
    leases, lease = _claim(workspace)
    leases.lose(lease, "the Ray worker died")
    assert job_tokens.resolve(workspace.db, lease.token) is None


def test_forged_and_foreign_tokens_resolve_to_nobody(workspace: Workspace) -> None:
    submit_code(workspace, workspace.actor(), "1")
    _, lease = _claim(workspace)
    for forged in (lease.token[:-1], lease.token + "x", "llr_" + lease.token[4:], "", "llj_"):
        assert job_tokens.resolve(workspace.db, forged) is None
