"""Firing schedules: each due time exactly once, however many runners and servers fire.

Whatever process calls :meth:`Firer.fire_due` (every job runner's loop, and the server
extension) fires what is due.  Firing is two steps:

1. **claim**, in one write transaction: the schedules due now are read (on PostgreSQL
   ``FOR UPDATE SKIP LOCKED``, on SQLite under the database's write lock), each due time
   becomes a ``schedule_runs`` row (unique per schedule and due time) and ``next_due``
   moves on.  Whoever commits that transaction fired that time; every other process finds
   ``next_due`` already past it, and the unique key refuses a second row regardless.
2. **submit**: the job is queued as the schedule's owner (roles read now: someone who
   left the team no longer runs its schedules) with an idempotency key made of the
   schedule and the due time, and the run row records the job, or why there is none.  A
   run left ``firing`` by a process that died between the steps is taken over by the
   next firer once it is :data:`STUCK_AFTER` old; the key makes that queue nothing more
   if the first firer was only slow.

Due times that passed while nothing fired follow the schedule's ``missed`` policy
(:data:`~lepton_lab.runs.schedule_info.MISSED_POLICIES`); a due time while the previous
run is still queued or running is ``skipped`` unless ``overlap`` is on.  A schedule that
refreshes a SQL dataset runs its query here, where the connections are.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lepton_lab.errors import LeptonLabError
from lepton_lab.events import record_event
from lepton_lab.runs.cron import missed_since
from lepton_lab.runs.schedule_info import ScheduleRunInfo
from lepton_lab.store.tables import Job, JobGroup, Schedule, ScheduleRun, utcnow

if TYPE_CHECKING:
    from lepton_lab.workspace import Workspace

__all__ = ["MISSED_AFTER", "STUCK_AFTER", "Firer", "run_info"]

#: A due time fired later than this counts as missed (the ``missed`` policy decides).
MISSED_AFTER = timedelta(seconds=60)
#: A run still ``firing`` after this is submitted by the next firer (its firer died).
STUCK_AFTER = timedelta(seconds=120)
_ACTIVE = ("queued", "running")
_CLAIM_BATCH = 200


@dataclass(frozen=True)
class _Claim:
    """A due time claimed for a schedule: the run row, and what to submit as whom."""

    run_id: int
    key: str
    schedule_id: str
    owner: str
    template: str
    parameters: dict[str, Any]
    options: dict[str, Any]


class Firer:
    """Fires the due schedules of one workspace (see the module docstring)."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def fire_due(self, now: datetime | None = None) -> builtins.list[ScheduleRunInfo]:
        """Fire every schedule due at ``now`` (default: now); what this call fired.

        Safe to call from any number of processes at once: each due time fires once.
        """
        moment = now or utcnow()
        claims = self._ws.db.transact(lambda session: self._claim(session, moment))
        claims += self._ws.db.transact(lambda session: self._stuck(session, moment))
        return [self._submit(claim) for claim in claims]

    def next_due(self) -> datetime | None:
        """The earliest due time of an active schedule (a firer may sleep until then)."""
        query = select(Schedule.next_due).where(Schedule.paused.is_(False))
        with self._ws.db.read() as session:
            return session.scalar(query.order_by(Schedule.next_due).limit(1))

    def _claim(self, session: Session, now: datetime) -> builtins.list[_Claim]:
        query = (
            select(Schedule)
            .where(Schedule.paused.is_(False), Schedule.next_due <= now)
            .order_by(Schedule.next_due)
            .limit(_CLAIM_BATCH)
        )
        if not self._ws.db.is_sqlite:  # SQLite's write lock already keeps others out
            query = query.with_for_update(skip_locked=True)
        claims: builtins.list[_Claim] = []
        for row in session.scalars(query).all():
            claim = self._claim_one(session, row, now)
            if claim is not None:
                claims.append(claim)
        return claims

    def _claim_one(self, session: Session, row: Schedule, now: datetime) -> _Claim | None:
        """Record what the schedule's due times up to ``now`` become; move ``next_due`` on."""
        first = row.next_due
        count, latest, following = missed_since(row.cron, row.timezone, first, now)
        row.next_due = following
        if self._recorded(session, row.id, latest):
            # Fired already, before an edit or a resume moved next_due back onto it:
            # a due time is never recorded, nor run, twice.
            return None
        on_time = now - latest <= MISSED_AFTER
        missed = count - 1 if on_time or row.missed == "run_once" else count
        if missed and not self._recorded(session, row.id, first):
            session.add(ScheduleRun(schedule_id=row.id, due_at=first, status="missed",
                                    detail={"count": missed, "last": latest.isoformat(),
                                            "reason": f"{missed} due time(s) passed "
                                            "while no runner or server was up"}))  # fmt: skip
        if not on_time and row.missed == "skip":
            return None
        if not row.overlap and self._still_running(session, row.id):
            session.add(ScheduleRun(schedule_id=row.id, due_at=latest, status="skipped",
                                    detail={"reason": "the previous run is still queued "
                                            "or running (overlap is off)"}))  # fmt: skip
            return None
        run = ScheduleRun(schedule_id=row.id, due_at=latest, status="firing", fired_at=now)
        session.add(run)
        session.flush()
        return _claim_of(run, row)

    def _recorded(self, session: Session, schedule_id: str, due: datetime) -> bool:
        """Whether the due time has a run row already."""
        query = select(ScheduleRun.id).where(
            ScheduleRun.schedule_id == schedule_id, ScheduleRun.due_at == due
        )
        return session.scalar(query.limit(1)) is not None

    def _still_running(self, session: Session, schedule_id: str) -> bool:
        """Whether a job, or a pipeline run, this schedule submitted is still going."""
        query = (
            select(Job.status)
            .join(ScheduleRun, ScheduleRun.job_id == Job.id)
            .where(ScheduleRun.schedule_id == schedule_id, Job.status.in_(_ACTIVE))
            .limit(1)
        )
        if session.scalar(query) is not None:
            return True
        last = session.scalars(
            select(ScheduleRun.detail)
            .where(ScheduleRun.schedule_id == schedule_id, ScheduleRun.status == "submitted")
            .order_by(ScheduleRun.due_at.desc())
            .limit(1)
        ).first()
        group = session.get(JobGroup, (last or {}).get("group") or "")
        return group is not None and group.status == "running"

    def _stuck(self, session: Session, now: datetime) -> builtins.list[_Claim]:
        """Runs left ``firing`` by a firer that died: taken over, once, by this one."""
        query = (
            select(ScheduleRun, Schedule)
            .join(Schedule, Schedule.id == ScheduleRun.schedule_id)
            .where(ScheduleRun.status == "firing", ScheduleRun.fired_at < now - STUCK_AFTER)
        )
        claims = []
        for run, row in session.execute(query).all():
            taken = session.execute(
                update(ScheduleRun)
                .where(ScheduleRun.id == run.id, ScheduleRun.fired_at == run.fired_at)
                .values(fired_at=now)
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                claims.append(_claim_of(run, row))
        return claims

    def _submit(self, claim: _Claim) -> ScheduleRunInfo:
        """Queue the claimed run's job as the owner; record the job or the reason."""
        try:
            actor = self._ws.actor(claim.owner)
            if claim.options.get("refresh"):
                # The query runs here, where the connections are: never in a job's kernel.
                version = self._ws.datasets.refresh(actor, claim.options["refresh"])
                detail = {"version": version.ref, "created": version.created}
                status, job_id = "refreshed", ""
            elif claim.options.get("pipeline"):
                started = self._ws.pipelines.run(
                    actor, claim.options["pipeline"], claim.parameters, key=claim.key
                )
                status, job_id, detail = "submitted", "", {"group": started.id}
            else:
                job = self._ws.jobs.submit(
                    actor, claim.template, claim.parameters, key=claim.key, **claim.options
                )
                status, job_id, detail = "submitted", job.id, {}
        except LeptonLabError as exc:  # the template changed, the owner left the team, …
            status, job_id, detail = "error", "", {"reason": exc.message}

        def work(session: Session) -> ScheduleRunInfo:
            run = session.get(ScheduleRun, claim.run_id)
            assert run is not None
            run.status, run.job_id, run.detail = status, job_id, detail
            record_event(session, claim.owner, f"schedule.{status}",
                         f"schedule:{claim.schedule_id}", job=job_id, **detail)  # fmt: skip
            return run_info(run, "queued" if job_id else "")

        return self._ws.db.transact(work)


def _claim_of(run: ScheduleRun, row: Schedule) -> _Claim:
    """What to submit for a claimed run; its key makes a second submit return the first
    job (a firer taking over a run whose firer was only slow queues nothing more)."""
    key = f"schedule:{row.id}:{run.due_at.isoformat()}"
    return _Claim(run.id, key, row.id, row.owner, row.template, row.parameters, row.options)


def run_info(run: ScheduleRun, job_status: str) -> ScheduleRunInfo:
    """A run row (with its job's status) as the value surfaces show."""
    return ScheduleRunInfo(
        schedule_id=run.schedule_id,
        due_at=run.due_at,
        status=run.status,
        job_id=run.job_id,
        fired_at=run.fired_at,
        detail=dict(run.detail),
        job_status=job_status,
    )
