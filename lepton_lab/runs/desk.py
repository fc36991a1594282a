"""The queue as remote runners reach it: the server's side of the runner protocol.

In a shared deployment a runner holds no database or blob credentials (Airflow 3's rule
for its workers): it registers, claims, heartbeats, reports and finishes over HTTP with a
runner token, and the server runs those calls here, on :class:`~lepton_lab.runs.leases.
Leases`, so the lease and fencing rules are the very ones a database runner follows.  A
claim hands over what running the job needs and nothing more: the job, its attempt, the
pinned dataset versions, the notebook snapshot's text and a job token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from typing_extensions import TypedDict

from lepton_lab.runs.info import RecordInfo
from lepton_lab.runs.leases import Claim, Leases

if TYPE_CHECKING:
    from lepton_lab.workspace import Workspace

__all__ = ["Claimed", "HeartbeatAnswer", "RunnerDesk"]


class Claimed(TypedDict):
    """A claimed job, as the claim answers it."""

    job: dict[str, Any]
    attempt: int
    pins: dict[str, Any]
    notebook: str
    token: str


class HeartbeatAnswer(TypedDict):
    """Jobs to cancel, and jobs the runner no longer owns."""

    cancel: list[str]
    lost: list[str]


class RunnerDesk:
    """Runner calls on one workspace, each naming the runner (its lease's owner)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def _leases(self, runner_id: str) -> Leases:
        lease = self.workspace.settings.job_lease_seconds
        return Leases(self.workspace.db, runner_id, lease_seconds=lease)

    def register(
        self, runner_id: str, *, host: str, pid: int, gpus: int, capacity: int
    ) -> dict[str, float]:
        """Announce a runner (alive while it heartbeats); the lease time it must keep."""
        self._leases(runner_id).register(gpus=gpus, capacity=capacity, host=host, pid=pid)
        return {"lease_seconds": self.workspace.settings.job_lease_seconds}

    def unregister(self, runner_id: str) -> None:
        """Mark the runner stopped."""
        self._leases(runner_id).unregister()

    def heartbeat(self, runner_id: str, jobs: list[str]) -> HeartbeatAnswer:
        """Extend the runner's leases (and so its job tokens)."""
        beat = self._leases(runner_id).heartbeat(jobs)
        return {"cancel": sorted(beat.cancel), "lost": sorted(beat.lost)}

    def claim(self, runner_id: str, free_gpus: int) -> Claimed | None:
        """The oldest queued job that fits, with its notebook and a job token; or None."""
        lease = self._leases(runner_id).claim(free_gpus, token=True)
        if lease is None:
            return None
        content = self.workspace.blobs.read_bytes(lease.job.notebook_sha256)
        return {
            "job": lease.job.to_dict(),
            "attempt": lease.attempt,
            "pins": lease.pins,
            "notebook": content.decode("utf-8"),
            "token": lease.token,
        }

    def sweep(self, runner_id: str) -> list[str]:
        """Requeue or lose the jobs whose lease expired; the ids changed."""
        return self._leases(runner_id).sweep()

    def start(
        self, runner_id: str, claim: Claim, devices: list[int], manifest: dict[str, Any]
    ) -> bool:
        """Record the devices and the manifest known at start."""
        return self._leases(runner_id).start(claim, devices, manifest)

    def progress(self, runner_id: str, claim: Claim, done: int, total: int, current: str) -> bool:
        """Cells done of total, and the cell running."""
        return self._leases(runner_id).progress(claim, done, total, current)

    def logs(self, runner_id: str, claim: Claim, chunks: list[tuple[str, str]]) -> bool:
        """Append what the cells printed."""
        return self._leases(runner_id).write_logs(claim, chunks)

    def record(self, runner_id: str, claim: Claim, record: RecordInfo, position: int) -> bool:
        """Store a recorded value."""
        return self._leases(runner_id).write_record(claim, record, position)

    def finish(
        self,
        runner_id: str,
        claim: Claim,
        status: str,
        reason: dict[str, Any] | None,
        *,
        output: str,
        manifest: dict[str, Any],
        devices: list[int] | None,
    ) -> bool:
        """Store the output notebook, record the outcome and revoke the job's token."""
        stored = self.workspace.blobs.put_bytes(output.encode("utf-8"))
        return self._leases(runner_id).finish(
            claim, status, reason, output_sha256=stored.sha256, manifest=manifest,
            devices=devices,
        )  # fmt: skip

    def lose(self, runner_id: str, claim: Claim, why: str) -> bool:
        """The job's worker died: requeue it while retries remain, else mark it lost."""
        return self._leases(runner_id).lose(claim, why)
