"""How a runner reaches the job queue: the database itself, or the server over HTTP.

:class:`RunnerLink` is everything :class:`~lepton_lab.runs.runner.Runner` asks of the
queue.  Two links implement it:

* :class:`DatabaseLink` (personal mode, and operators' runners in a trusted network):
  the runner holds the catalog's credentials, claims with :class:`~lepton_lab.runs.
  leases.Leases`, reads notebooks and stores outputs in the blob store, fires schedules,
  and gives its jobs' kernels the workspace's settings;
* ``HttpLink`` (:mod:`lepton_lab.client.runners`, shared mode): the runner holds the
  server's URL and a runner token and nothing else; each claim brings a job token, the
  only credential the job's kernel gets.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lepton_lab.runs.leases import Heartbeat, Lease, Leases

if TYPE_CHECKING:
    from lepton_lab.runs.info import RecordInfo
    from lepton_lab.workspace import Workspace

__all__ = ["DatabaseLink", "Ending", "RunnerLink", "workspace_env"]


@dataclass(frozen=True)
class Ending:
    """How a job ended, as its runner reports it."""

    status: str
    """succeeded, failed or cancelled."""

    reason: dict[str, Any] | None
    """Why, when it did not succeed."""

    output: bytes
    """The output notebook as saved."""

    manifest: dict[str, Any]
    """What makes the run reproducible."""

    devices: Sequence[int] | None = None
    """The GPUs it ran on, when only known at the end (a cluster's)."""


class RunnerLink(Protocol):
    """The queue as one runner sees it (the methods of :class:`Leases`, and more)."""

    runner_id: str
    lease_seconds: float
    #: Whether this link fires schedules, advances pipelines and sends notifications
    #: (a database runner does; over HTTP the server does it).
    tends: bool
    #: Variables of every kernel the runner starts (warm kernels start before their job).
    base_env: dict[str, str]
    #: Whether kernels also inherit the runner's own environment (personal mode only).
    inherit_env: bool
    #: Where the jobs' working folders are made.
    staging_root: Path

    def register(self, *, gpus: int, capacity: int) -> None:
        """Announce the runner."""

    def unregister(self) -> None:
        """Mark the runner stopped."""

    def heartbeat(self, job_ids: Iterable[str]) -> Heartbeat:
        """Extend the leases; learn what to cancel and what was lost."""

    def claim(self, free_gpus: int) -> Lease | None:
        """Take the oldest queued job that fits."""

    def sweep(self) -> list[str]:
        """Requeue or lose the jobs whose lease expired."""

    def notebook(self, lease: Lease) -> bytes:
        """The job's notebook snapshot."""

    def start(self, lease: Lease, devices: Sequence[int], manifest: dict[str, Any]) -> bool:
        """Record the start."""

    def progress(self, lease: Lease, done: int, total: int, current: str) -> bool:
        """Record progress."""

    def write_logs(self, lease: Lease, chunks: Sequence[tuple[str, str]]) -> bool:
        """Append logs."""

    def write_record(self, lease: Lease, record: RecordInfo, position: int) -> bool:
        """Store a recorded value."""

    def complete(self, lease: Lease, ending: Ending) -> bool:
        """Store the output notebook and record the outcome."""

    def lose(self, lease: Lease, why: str) -> bool:
        """The job's worker died."""

    def job_env(self, lease: Lease) -> dict[str, str]:
        """Variables the job's kernel gets when its job starts."""

    def stage(self, lease: Lease) -> tuple[tuple[str, str], ...]:
        """``(url, sha256)`` of each pinned dataset version the executor stages into the
        job's folder before its cells run (fetched with the job's token)."""

    def tend(self) -> bool:
        """Fire due schedules, advance pipelines, send notifications; True if a job was
        queued by it."""

    def close(self) -> None:
        """Release connections."""


def workspace_env(workspace: Workspace) -> dict[str, str]:
    """What a job's kernel needs to reach the same workspace as its runner (personal mode)."""
    settings = workspace.settings
    return {
        "LEPTON_LAB_HOME": str(settings.home),
        "LEPTON_LAB_DATABASE_URL": workspace.db.url.render_as_string(hide_password=False),
        "LEPTON_LAB_BLOB_ROOT": settings.blob_root,
        # A job's kernel must never start a runner of its own.
        "LEPTON_LAB_AUTO_RUNNER": "0",
    }


class DatabaseLink(Leases):
    """The queue in the workspace's database; the kernels get the workspace's settings."""

    tends = True

    def __init__(self, workspace: Workspace, runner_id: str) -> None:
        lease = workspace.settings.job_lease_seconds
        super().__init__(workspace.db, runner_id, lease_seconds=lease)
        self.workspace = workspace
        self.lease_seconds = lease
        self.base_env = workspace_env(workspace)
        self.inherit_env = True
        self.staging_root = workspace.settings.home / "jobs"

    def notebook(self, lease: Lease) -> bytes:
        """The snapshot, from the blob store."""
        return self.workspace.blobs.read_bytes(lease.job.notebook_sha256)

    def complete(self, lease: Lease, ending: Ending) -> bool:
        """Store the output notebook in the blob store, then record the outcome."""
        stored = self.workspace.blobs.put_bytes(ending.output)
        return self.finish(lease, ending.status, ending.reason, output_sha256=stored.sha256,
                           manifest=ending.manifest, devices=ending.devices)  # fmt: skip

    def job_env(self, lease: Lease) -> dict[str, str]:
        """Nothing more: the kernel already has the workspace's settings."""
        return {}

    def stage(self, lease: Lease) -> tuple[tuple[str, str], ...]:
        """Nothing: the kernel reads the pinned versions from the workspace's blobs."""
        return ()

    def tend(self) -> bool:
        """Fire due schedules, advance pipelines, send ended jobs' notifications."""
        from lepton_lab.runs.notify import deliver_in_background

        fired = self.workspace.schedules.fire_due()
        self.workspace.pipelines.advance()
        deliver_in_background(self.workspace)
        return any(run.job_id for run in fired)

    def close(self) -> None:
        """Nothing: the workspace belongs to whoever opened it."""
