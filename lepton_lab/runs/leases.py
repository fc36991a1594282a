"""The job queue, as runners use it: claim with a lease, heartbeat, report, finish.

A runner owns a job while its lease is current.  Claims cannot hand one job to two
runners: on SQLite the claim runs in a write transaction (``BEGIN IMMEDIATE``: one
writer at a time); on PostgreSQL the runner locks the row it takes and skips rows other
runners hold (``FOR UPDATE SKIP LOCKED``), so runners on many machines claim in parallel.
Every later write names the runner and the attempt (a fencing token): once a lease has
expired and the job was handed on, the old runner's writes match nothing, and it learns
from its next heartbeat that the job is no longer its own.

The timings all follow from the lease time ``L`` (``job_lease_seconds``).  A runner
heartbeats every ``C = min(L / 3, 5 s)`` (:func:`check_interval`), so its leases never
lapse while it lives; it is judged alive while its last heartbeat is younger than ``L``
(:func:`alive_runner`); every live runner sweeps every ``C`` too, requeueing (retries
left) or losing the jobs whose lease expired.  A job whose runner died is so taken up
again at most ``L + C`` after the runner's last heartbeat.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, func, select, update
from sqlalchemy.orm import Session

from lepton_lab.events import record_event
from lepton_lab.runs import job_tokens
from lepton_lab.runs.info import JobInfo, RecordInfo
from lepton_lab.runs.queue import job_info
from lepton_lab.store.tables import Job, JobLog, JobRecord, Runner, utcnow

if TYPE_CHECKING:
    from lepton_lab.store.db import Database

__all__ = [
    "MAX_CHECK_INTERVAL",
    "Claim",
    "Heartbeat",
    "Lease",
    "Leases",
    "alive_runner",
    "check_interval",
    "new_runner_id",
]

#: The longest wait between two heartbeats or sweeps, whatever the lease: a dead runner's
#: jobs wait at most this long past their lease.
MAX_CHECK_INTERVAL = 5.0


def new_runner_id() -> str:
    """``host-pid-random``: unique, and says where the runner is."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def check_interval(lease_seconds: float) -> float:
    """Seconds between a runner's heartbeats, between its sweeps of expired leases, and
    between the server's checks for a live runner.

    A third of the lease (a runner misses two heartbeats before its leases lapse), and at
    most :data:`MAX_CHECK_INTERVAL`.
    """
    return min(lease_seconds / 3, MAX_CHECK_INTERVAL)


def alive_runner(lease: timedelta, now: datetime | None = None) -> ColumnElement[bool]:
    """SQL: a runner, not stopped, whose last heartbeat is younger than one lease (it is
    judged dead when the leases of its last heartbeat lapse)."""
    since = (now or utcnow()) - lease
    return and_(Runner.heartbeat_at > since, Runner.stopped_at.is_(None))


@dataclass(frozen=True)
class Claim:
    """What fences a runner's writes: the job and the attempt it claimed (a remote
    runner's reports name them; :class:`Lease` carries them too)."""

    job_id: str
    attempt: int


@dataclass(frozen=True)
class Lease:
    """A claimed job: what to run, the attempt number that fences this runner's writes,
    and the dataset versions pinned at submit (``{parameter: {"ref", "sha256"}}``), so
    that running it reads nothing more from the queue."""

    job: JobInfo
    attempt: int
    pins: dict[str, Any]
    #: The job token, for a runner that claimed over HTTP (job_tokens.py); "" otherwise.
    token: str = field(default="", repr=False)

    @property
    def job_id(self) -> str:
        """The claimed job's id."""
        return self.job.id


@dataclass(frozen=True)
class Heartbeat:
    """What a heartbeat learned: jobs to cancel, jobs this runner no longer owns."""

    cancel: frozenset[str]
    lost: frozenset[str]


class Leases:
    """Runner-side queue operations on one database (no actor: runners are trusted)."""

    def __init__(self, db: Database, runner_id: str, *, lease_seconds: float = 30.0) -> None:
        self.db = db
        self.runner_id = runner_id
        self.lease = timedelta(seconds=lease_seconds)

    # -- the runner itself ----------------------------------------------------------------

    def register(self, *, gpus: int, capacity: int, host: str = "", pid: int = 0) -> None:
        """Announce this runner (alive while it heartbeats); ``host`` and ``pid`` default
        to this process's (a remote runner states its own)."""
        host, pid = host or socket.gethostname(), pid or os.getpid()

        def work(session: Session) -> None:
            session.merge(Runner(id=self.runner_id, host=host[:200], pid=pid, gpus=gpus,
                                 capacity=capacity))  # fmt: skip

        self.db.transact(work)

    def unregister(self) -> None:
        """Mark the runner stopped."""

        def work(session: Session) -> None:
            session.execute(
                update(Runner).where(Runner.id == self.runner_id).values(stopped_at=utcnow())
            )

        self.db.transact(work)

    def heartbeat(self, job_ids: Iterable[str]) -> Heartbeat:
        """Extend this runner's leases; say which jobs to cancel and which were taken away."""
        ids = sorted(job_ids)
        now = utcnow()

        def work(session: Session) -> Heartbeat:
            session.execute(
                update(Runner).where(Runner.id == self.runner_id).values(heartbeat_at=now)
            )
            if not ids:
                return Heartbeat(frozenset(), frozenset())
            owned = self._owned(session, ids)
            session.execute(
                update(Job).where(Job.id.in_(list(owned)), Job.runner == self.runner_id)
                .values(lease_expires_at=now + self.lease)
            )  # fmt: skip
            cancel = {i for i, flag in owned.items() if flag}
            return Heartbeat(frozenset(cancel), frozenset(set(ids) - set(owned)))

        return self.db.transact(work)

    def _owned(self, session: Session, ids: Sequence[str]) -> dict[str, bool]:
        rows = session.execute(
            select(Job.id, Job.cancel_requested).where(
                Job.id.in_(ids), Job.runner == self.runner_id, Job.status == "running"
            )
        )
        return {job_id: bool(flag) for job_id, flag in rows}

    # -- claiming -------------------------------------------------------------------------

    def claim(self, free_gpus: int, *, token: bool = False) -> Lease | None:
        """Take the oldest queued job that fits in ``free_gpus``, or None.

        ``token``: issue a job token with the lease (a runner that claims over HTTP)."""

        def work(session: Session) -> Lease | None:
            query = (
                select(Job).where(Job.status == "queued", Job.gpus <= free_gpus)
                .order_by(Job.created_at, Job.id).limit(1)
            )  # fmt: skip
            if not self.db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            row = session.scalar(query)
            if row is None:
                return None
            now = utcnow()
            row.status, row.runner, row.attempt = "running", self.runner_id, row.attempt + 1
            row.lease_expires_at, row.started_at = now + self.lease, now
            row.cells_done = row.cells_total = 0
            row.current_cell, row.reason = "", None
            issued = job_tokens.issue(session, row) if token else ""
            return Lease(job_info(row), row.attempt, dict(row.pins), issued)

        return self.db.transact(work)

    def sweep(self) -> list[str]:
        """Requeue (retries left) or mark ``lost`` the running jobs whose lease expired.

        Also fails at once the queued jobs asking for more GPUs than any live runner has.
        Returns the ids of the jobs it changed.
        """
        now = utcnow()

        def work(session: Session) -> list[str]:
            query = select(Job).where(Job.status == "running", Job.lease_expires_at < now)
            if not self.db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            changed = []
            for row in session.scalars(query):
                _expire(session, row, now)
                changed.append(row.id)
            changed += self._unschedulable(session, now)
            return changed

        return self.db.transact(work)

    def _unschedulable(self, session: Session, now: datetime) -> list[str]:
        largest = session.scalar(select(func.max(Runner.gpus)).where(alive_runner(self.lease, now)))
        if largest is None:
            return []
        rows = session.scalars(select(Job).where(Job.status == "queued", Job.gpus > largest))
        changed = []
        for row in rows:
            row.status, row.ended_at = "failed", now
            row.reason = {
                "kind": "unschedulable",
                "message": f"the job asks for {row.gpus} GPU(s) and the largest runner has "
                f"{largest}; submit with fewer GPUs (--gpus), or start a runner on a machine "
                "that has them",
            }
            changed.append(row.id)
        return changed

    # -- while running --------------------------------------------------------------------

    def progress(self, lease: Claim | Lease, done: int, total: int, current: str) -> bool:
        """Record cells done / total and the current cell; False once the job is not ours."""
        return self._update(lease, cells_done=done, cells_total=total, current_cell=current[:200])

    def start(self, lease: Claim | Lease, devices: Sequence[int], manifest: dict[str, Any]) -> bool:
        """Record the devices assigned and the manifest known at start."""

        def work(session: Session) -> bool:
            row = self._still_ours(session, lease)
            if row is None:
                return False
            row.devices, row.manifest = list(devices), _with_history(row, manifest)
            return True

        return self.db.transact(work)

    def write_logs(self, lease: Claim | Lease, chunks: Sequence[tuple[str, str]]) -> bool:
        """Append (stream, text) chunks in order."""
        if not chunks:
            return True

        def work(session: Session) -> bool:
            if not self._still_ours(session, lease):
                return False
            last = session.scalar(select(func.max(JobLog.seq)).where(JobLog.job_id == lease.job_id))
            now, seq = utcnow(), last or 0
            for stream, text in chunks:
                seq += 1
                session.add(JobLog(job_id=lease.job_id, seq=seq, stream=stream, text=text, at=now))
            return True

        return self.db.transact(work)

    def write_record(self, lease: Claim | Lease, record: RecordInfo, position: int) -> bool:
        """Store a recorded value; the last one of a name wins, at its first ``position``."""

        def work(session: Session) -> bool:
            if not self._still_ours(session, lease):
                return False
            row = session.get(JobRecord, (lease.job_id, record.name))
            if row is None:
                row = JobRecord(job_id=lease.job_id, name=record.name, position=position)
                session.add(row)
            row.kind, row.value, row.cell = record.kind, record.value, record.cell
            return True

        return self.db.transact(work)

    def finish(
        self,
        lease: Claim | Lease,
        status: str,
        reason: dict[str, Any] | None,
        *,
        output_sha256: str,
        manifest: dict[str, Any],
        devices: Sequence[int] | None = None,
    ) -> bool:
        """Record the outcome; False when the job was no longer this runner's.

        ``devices``: the GPUs the job ran on, when only known at the end (a cluster's)."""

        def work(session: Session) -> bool:
            row = self._still_ours(session, lease)
            if row is None:
                return False
            if devices is not None:
                row.devices = list(devices)
            row.status, row.reason, row.ended_at = status, reason, utcnow()
            row.output_sha256, row.manifest = output_sha256, _with_history(row, manifest)
            row.lease_expires_at = None
            job_tokens.revoke(session, row.id)
            if status == "succeeded":
                row.cells_done = row.cells_total
            record_event(session, row.submitted_by, f"job.{status}", f"job:{row.id}",
                         runner=self.runner_id)  # fmt: skip
            return True

        return self.db.transact(work)

    def lose(self, lease: Claim | Lease, why: str) -> bool:
        """The worker running the job died (``why``): requeue it while retries remain, else
        mark it ``lost``, as for an expired lease.  False when the job was no longer ours."""

        def work(session: Session) -> bool:
            row = self._still_ours(session, lease)
            if row is None:
                return False
            _expire(session, row, utcnow(), why)
            return True

        return self.db.transact(work)

    def _update(self, lease: Claim | Lease, **values: Any) -> bool:
        def work(session: Session) -> bool:
            result = session.execute(
                update(Job).where(*_fence(lease, self.runner_id)).values(**values)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

        return self.db.transact(work)

    def _still_ours(self, session: Session, lease: Claim | Lease) -> Job | None:
        return session.scalar(select(Job).where(*_fence(lease, self.runner_id)))


def _with_history(row: Job, manifest: dict[str, Any]) -> dict[str, Any]:
    """The new manifest, keeping what earlier attempts left (why they were lost)."""
    history = row.manifest.get("lost_attempts")
    return {**manifest, "lost_attempts": history} if history else manifest


def _fence(lease: Claim | Lease, runner_id: str) -> list[Any]:
    return [
        Job.id == lease.job_id,
        Job.runner == runner_id,
        Job.attempt == lease.attempt,
        Job.status == "running",
    ]


def _expire(session: Session, row: Job, now: datetime, why: str = "") -> None:
    """A job whose runner stopped heartbeating (or whose worker died): retry it, or call
    it lost.  ``why`` says what happened; the default is the expired lease."""
    why = why or f"runner {row.runner} stopped heartbeating (lease expired)"
    job_tokens.revoke(session, row.id)
    message = f"{why} during attempt {row.attempt}"
    if row.attempt <= row.retries:
        row.status, row.runner, row.lease_expires_at = "queued", "", None
        row.manifest = {
            **row.manifest,
            "lost_attempts": [*row.manifest.get("lost_attempts", []), message],
        }
    else:
        row.status, row.ended_at = "lost", now
        row.reason = {"kind": "lost", "message": message + "; no retries left"}
    record_event(session, "lepton-lab", f"job.{row.status}", f"job:{row.id}", reason=message)
