"""Job groups: sweeps (one job per combination of a parameter grid) and what they share.

A group is a row of ``job_groups`` that its jobs name (``jobs.group_id``).  A sweep checks
every combination against the template's parameters before it queues any, then queues
one ordinary job per combination (each with its own manifest, seed and kernel; the
runners run them at their own concurrency).  A group's status is read from its jobs:
running while any is queued or running, then succeeded when all did, else failed (or
cancelled).  Cancelling a group cancels every job of it still queued or running.
"""

from __future__ import annotations

import builtins
import itertools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lepton_lab.errors import InvalidInput, NotFound, PermissionDenied
from lepton_lab.events import record_event
from lepton_lab.identity import Actor, Role
from lepton_lab.runs.info import FINAL_STATES
from lepton_lab.runs.notebook import check_parameters
from lepton_lab.store.tables import Job, JobGroup, JobRecord, utcnow

if TYPE_CHECKING:
    from lepton_lab.workspace import Workspace

__all__ = ["MAX_COMBINATIONS", "GroupInfo", "GroupService", "group_status"]

#: The most jobs one sweep may queue.
MAX_COMBINATIONS = 1000
# Recorded values of these kinds are columns of a sweep's results (tables and figures not).
_SCALAR_KINDS = frozenset({"number", "string", "bool"})


@dataclass(frozen=True)
class GroupInfo:
    """A sweep or a pipeline run: its jobs, their states, and the group's own."""

    id: str
    kind: str
    name: str
    submitted_by: str
    team: str
    status: str
    created_at: datetime
    ended_at: datetime | None
    jobs: list[dict[str, Any]] = field(default_factory=list)
    definition: dict[str, Any] = field(default_factory=dict)
    rerun_of: str = ""

    @property
    def done(self) -> bool:
        """Whether every job of the group has ended."""
        return self.status in FINAL_STATES

    @property
    def counts(self) -> dict[str, int]:
        """How many jobs are in each state."""
        found: dict[str, int] = {}
        for job in self.jobs:
            found[job["status"]] = found.get(job["status"], 0) + 1
        return found

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        ended = self.ended_at.isoformat() if self.ended_at else None
        return {**asdict(self), "created_at": self.created_at.isoformat(), "ended_at": ended}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GroupInfo:
        """From :meth:`to_dict`."""
        values = {k: v for k, v in data.items() if k in {f.name for f in fields(cls)}}
        values["created_at"] = datetime.fromisoformat(values["created_at"])
        ended = values.get("ended_at")
        values["ended_at"] = datetime.fromisoformat(ended) if ended else None
        return cls(**values)

    def row(self) -> dict[str, Any]:
        """One row of a table of groups."""
        counts = ", ".join(f"{n} {state}" for state, n in sorted(self.counts.items()))
        return {"id": self.id, "kind": self.kind, "name": self.name, "status": self.status,
                "jobs": counts}  # fmt: skip


def group_status(states: Sequence[str]) -> str:
    """A group's status from its jobs' states."""
    if not states or any(s not in FINAL_STATES for s in states):
        return "running"
    if all(s == "succeeded" for s in states):
        return "succeeded"
    return "cancelled" if "cancelled" in states and "failed" not in states else "failed"


def combinations(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in the grid's order, or InvalidInput."""
    if not isinstance(grid, Mapping) or not grid:
        raise InvalidInput("grid must map parameter names to lists of values, e.g. {'cv': [3, 5]}")
    for name, values in grid.items():
        if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
            raise InvalidInput(f"grid[{name!r}] must be a non-empty list of values")
    size = 1
    for values in grid.values():
        size *= len(values)
    if size > MAX_COMBINATIONS:
        raise InvalidInput(
            f"the grid makes {size} combinations; at most {MAX_COMBINATIONS} jobs per sweep"
        )
    names = list(grid)
    return [dict(zip(names, chosen, strict=True)) for chosen in itertools.product(*grid.values())]


class GroupService:
    """Sweeps and the groups of jobs they make, each call as one :class:`Actor`."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def sweep(
        self,
        actor: Actor,
        template: str,
        grid: Mapping[str, Sequence[Any]],
        parameters: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> GroupInfo:
        """One job of ``template`` per combination of ``grid`` (over the fixed
        ``parameters``), as one group; every combination is checked before any is queued."""
        chosen = combinations(grid)
        fixed = dict(parameters or {})
        overlap = sorted(set(fixed) & set(grid))
        if overlap:
            raise InvalidInput(f"{overlap} are both fixed parameters and in the grid; choose one")
        info = self._ws.templates.get(actor, template)
        for combination in chosen:
            check_parameters(info, {**fixed, **combination}, info.name)
        group_id = uuid.uuid4().hex[:16]
        definition = {"template": template, "grid": dict(grid), "parameters": fixed,
                      "options": options}  # fmt: skip
        self._insert_group(actor, group_id, "sweep", template, definition, options.get("team"))
        for index, combination in enumerate(chosen):
            self._ws.jobs.submit(actor, template, {**fixed, **combination},
                                 key=f"group:{group_id}:{index}", group=group_id,
                                 **options)  # fmt: skip
        return self.get(actor, group_id)

    def _insert_group(
        self,
        actor: Actor,
        group_id: str,
        kind: str,
        name: str,
        definition: dict[str, Any],
        team: str | None,
        rerun_of: str = "",
    ) -> None:
        def work(session: Session) -> None:
            session.add(JobGroup(id=group_id, kind=kind, name=name, definition=definition,
                                 submitted_by=actor.user, team=team or "", status="running",
                                 rerun_of=rerun_of, created_at=utcnow()))  # fmt: skip
            record_event(session, actor.user, f"{kind}.submit", f"group:{group_id}", name=name)

        self._ws.db.transact(work)

    def get(self, actor: Actor, group_id: str) -> GroupInfo:
        """The group with its jobs' states now."""
        with self._ws.db.read() as session:
            row = self._visible(session, actor, group_id)
            jobs = session.scalars(
                select(Job).where(Job.group_id == group_id).order_by(Job.created_at, Job.id)
            ).all()
            return _info(row, jobs)

    def list(
        self, actor: Actor, *, kind: str | None = None, limit: int = 20
    ) -> builtins.list[GroupInfo]:
        """Groups you may see, newest first."""
        query = select(JobGroup).order_by(JobGroup.created_at.desc()).limit(max(1, limit) * 5)
        if kind:
            query = query.where(JobGroup.kind == kind)
        with self._ws.db.read() as session:
            ids = [r.id for r in session.scalars(query) if _may_see(actor, r)][:limit]
        return [self.get(actor, group_id) for group_id in ids]

    def results(self, actor: Actor, group_id: str) -> builtins.list[dict[str, Any]]:
        """One row per job: its id, status, the grid's parameters and the scalar values it
        recorded (a sweep's results table)."""
        group = self.get(actor, group_id)
        grid = list(group.definition.get("grid", {}))
        ids = [job["id"] for job in group.jobs]
        query = select(JobRecord.job_id, JobRecord.name, JobRecord.value).where(
            JobRecord.job_id.in_(ids), JobRecord.kind.in_(_SCALAR_KINDS)
        )
        values: dict[str, dict[str, Any]] = {job_id: {} for job_id in ids}
        with self._ws.db.read() as session:
            for job_id, name, value in session.execute(query):
                values[job_id][name] = value
        return [
            {"job": job["id"], "status": job["status"],
             **{name: job["parameters"].get(name) for name in grid}, **values[job["id"]]}
            for job in group.jobs
        ]  # fmt: skip

    def cancel(self, actor: Actor, group_id: str) -> GroupInfo:
        """Cancel every job of the group still queued or running."""
        group = self.get(actor, group_id)
        if group.submitted_by != actor.user and not actor.has_role(group.team, Role.editor):
            raise PermissionDenied(
                f"group {group_id} was submitted by {group.submitted_by}; only they, a site "
                "admin or an editor of its team may cancel it"
            )
        for job in group.jobs:
            if job["status"] not in FINAL_STATES:
                self._ws.jobs.cancel(actor, job["id"])
        return self.get(actor, group_id)

    def _visible(self, session: Session, actor: Actor, group_id: str) -> JobGroup:
        row = session.get(JobGroup, group_id) if isinstance(group_id, str) else None
        if row is None or not _may_see(actor, row):
            raise NotFound(f"no sweep or pipeline run {group_id!r}; lepton-lab jobs groups")
        return row


def _may_see(actor: Actor, row: JobGroup) -> bool:
    if row.submitted_by == actor.user or actor.is_site_admin:
        return True
    return bool(row.team) and actor.has_role(row.team, Role.viewer)


def _job_entry(job: Job) -> dict[str, Any]:
    return {"id": job.id, "status": job.status, "step": job.step,
            "parameters": dict(job.parameters)}  # fmt: skip


def _info(row: JobGroup, jobs: Sequence[Job]) -> GroupInfo:
    states = [job.status for job in jobs]
    status = group_status(states)
    ends = [job.ended_at for job in jobs if job.ended_at is not None]
    if row.kind == "pipeline":  # steps not queued yet count: the pipeline service ends it
        status, ends = row.status, [row.ended_at] if row.ended_at else []
    return GroupInfo(
        id=row.id,
        kind=row.kind,
        name=row.name,
        submitted_by=row.submitted_by,
        team=row.team,
        status=status,
        created_at=row.created_at,
        ended_at=max(ends) if status in FINAL_STATES and ends else None,
        jobs=[_job_entry(job) for job in jobs],
        definition=dict(row.definition),
        rerun_of=row.rerun_of,
    )
