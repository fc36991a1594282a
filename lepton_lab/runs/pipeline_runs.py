"""Running pipelines: a job group of kind ``pipeline``, one job per step.

:meth:`PipelineRuns.run` stores the run (the pipeline version's definition and its
inputs) and submits the steps that wait for nothing.  :meth:`PipelineRuns.advance`,
called every half second by every runner and by the server extension, moves every running
pipeline on: it submits the steps whose dependencies all succeeded and whose condition
holds, and ends the run when no step is left.  Nothing is stored for a step but its job:
``skipped``, ``blocked`` and ``waiting`` follow from the jobs' states and recorded values
(:func:`~lepton_lab.runs.pipeline_spec.step_states`), so any number of processes may
advance at once: a step's job is keyed by the run and the step (the same key queues one
job), and the run's end is written only while it is still ``running``.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lepton_lab.errors import Conflict, InvalidInput, LeptonLabError, PermissionDenied
from lepton_lab.events import record_event
from lepton_lab.identity import Actor, Role, require_role
from lepton_lab.refs import check_slug
from lepton_lab.runs.info import JobInfo
from lepton_lab.runs.notify import deliver_group_end
from lepton_lab.runs.notify_spec import check_notify
from lepton_lab.runs.pipeline_info import (
    PipelineInfo,
    PipelineReproduction,
    PipelineRun,
    StepCheck,
    StepState,
)
from lepton_lab.runs.pipeline_spec import (
    PipelineSpec,
    dependencies,
    is_reference,
    resolve,
    run_status,
    step_states,
)
from lepton_lab.runs.queue import job_info
from lepton_lab.store.tables import Job, JobGroup, JobRecord, utcnow

if TYPE_CHECKING:
    from lepton_lab.config import Settings
    from lepton_lab.workspace import Workspace

__all__ = ["KIND", "PipelineRuns"]

#: The job group kind of a pipeline run.
KIND = "pipeline"
log = logging.getLogger(__name__)
# Recorded values of these kinds may be referred to by later steps.
_VALUE_KINDS = ("number", "string", "bool", "json")


@dataclass(frozen=True)
class _Snapshot:
    """A run as read in one transaction: its steps, jobs, states and recorded values."""

    spec: PipelineSpec
    jobs: dict[str, JobInfo]
    states: dict[str, str]
    values: dict[str, dict[str, Any]]


class PipelineRuns:
    """Run, advance, cancel and rerun pipelines (the part of the pipeline service that
    runs them)."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def run(
        self,
        actor: Actor,
        pipeline: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        team: str | None = None,
        key: str | None = None,
        notify: Mapping[str, Any] | None = None,
    ) -> PipelineRun:
        """Run ``pipeline`` (``name`` or ``name@version``) with its inputs set from
        ``parameters``; the steps that wait for nothing are queued now.  ``key`` makes the
        run idempotent: every run with the same key is one group (a schedule's due time).
        ``notify`` (as a job's: webhooks, e-mail, on which ends) is told when the run ends."""
        info: PipelineInfo = self._ws.pipelines.get(actor, pipeline)
        inputs = _inputs(info.definition.get("parameters", {}), parameters or {}, info.name)
        if team:  # checked before anything is stored, as a job's team is
            check_slug(team, "team")
            require_role(actor, team, Role.viewer, f"sharing a pipeline run with team {team}")
        definition = {"pipeline": info.name, "version": info.version, "spec": info.definition,
                      "inputs": inputs, "seeds": {}, "fixed": {}, "errors": {},
                      "notify": _checked_notify(self._ws.settings, notify)}  # fmt: skip
        name = f"{info.name}@{info.version}"
        return self._start(actor, name, definition, team or "", "", key=key)

    def _start(
        self,
        actor: Actor,
        name: str,
        definition: dict[str, Any],
        team: str,
        rerun_of: str,
        *,
        key: str | None = None,
    ) -> PipelineRun:
        group_id = _group_id(key)

        def work(session: Session) -> None:
            if session.get(JobGroup, group_id) is not None:  # the same key: started already
                return
            session.add(JobGroup(id=group_id, kind=KIND, name=name, definition=definition,
                                 submitted_by=actor.user, team=team, status="running",
                                 rerun_of=rerun_of, created_at=utcnow()))  # fmt: skip
            record_event(session, actor.user, "pipeline.run", f"group:{group_id}", name=name,
                         rerun_of=rerun_of)  # fmt: skip

        self._ws.db.transact(work)
        self._advance_one(group_id)
        return self.get_run(actor, group_id)

    # -- read -----------------------------------------------------------------------------

    def get_run(self, actor: Actor, run_id: str) -> PipelineRun:
        """A run: its group (status, jobs) and every step's state."""
        group = self._ws.groups.get(actor, run_id)
        if group.kind != KIND:
            raise InvalidInput(f"group {run_id} is a {group.kind}, not a pipeline run")
        with self._ws.db.read() as session:
            row = session.get(JobGroup, run_id)
            assert row is not None
            now = self._states(session, row)
            errors = dict(row.definition.get("errors", {}))
        return PipelineRun(group, [
            StepState(name=name, template=step.template, status=now.states[name],
                      job=now.jobs[name].id if name in now.jobs else "",
                      after=dependencies(step),
                      reason=errors.get(name, "") or _reason(now.jobs.get(name)))
            for name, step in now.spec.steps.items()
        ])  # fmt: skip

    def runs(
        self, actor: Actor, *, pipeline: str | None = None, limit: int = 20
    ) -> builtins.list[PipelineRun]:
        """Pipeline runs you may see, newest first (of one pipeline when named)."""
        groups = self._ws.groups.list(actor, kind=KIND, limit=limit if not pipeline else 500)
        if pipeline:
            groups = [g for g in groups if g.name.split("@")[0] == pipeline.split("@")[0]]
        return [self.get_run(actor, g.id) for g in groups[:limit]]

    def _states(self, session: Session, row: JobGroup) -> _Snapshot:
        spec = PipelineSpec.model_validate(row.definition["spec"])
        rows = session.scalars(select(Job).where(Job.group_id == row.id))
        jobs = {job.step: job_info(job) for job in rows}
        values = _values(session, [j.id for j in jobs.values() if j.status == "succeeded"])
        by_step = {step: values.get(job.id, {}) for step, job in jobs.items()}
        states = step_states(
            spec,
            {step: job.status for step, job in jobs.items()},
            lambda step, name: by_step.get(step, {}).get(name) is True,
            row.definition.get("errors", {}),
            cancelled=row.status == "cancelled",
        )
        return _Snapshot(spec, jobs, states, by_step)

    # -- move on --------------------------------------------------------------------------

    def advance(self) -> builtins.list[str]:
        """Move every running pipeline on; the ids of those that ended now.

        Safe to call from any number of processes at once (see the module's docstring).
        """
        query = select(JobGroup.id).where(JobGroup.kind == KIND, JobGroup.status == "running")
        with self._ws.db.read() as session:
            running = list(session.scalars(query))
        ended = []
        for group_id in running:
            try:
                if self._advance_one(group_id):
                    ended.append(group_id)
            except Exception:  # one broken run must not stop the others moving on
                log.exception("pipeline run %s could not advance", group_id)
        return ended

    def _advance_one(self, group_id: str) -> bool:
        """Submit the run's ready steps, or end it when nothing is left; whether it ended."""
        with self._ws.db.read() as session:
            row = session.get(JobGroup, group_id)
            if row is None or row.status != "running":
                return False
            now = self._states(session, row)
            definition = {**row.definition, "team": row.team, "owner": row.submitted_by}
        ready = [name for name, state in now.states.items() if state == "ready"]
        for name in ready:
            self._submit(group_id, now.spec, name, definition, now.values)
        if ready:
            return False
        status = run_status(now.states, cancelled=False)
        if status == "running" or not self._end(group_id, status):
            return False
        self._notify_end(group_id, definition)  # this process alone ended it
        return True

    def _notify_end(self, group_id: str, definition: Mapping[str, Any]) -> None:
        """Tell whoever the run's ``notify`` names that it ended; keep the notices with
        the run.  A notification that fails is recorded, never changes the run."""
        spec = definition.get("notify") or {}
        if not spec:
            return
        group = self._ws.groups.get(self._ws.actor(definition["owner"]), group_id)
        notices = deliver_group_end(self._ws.settings, spec, group)

        def work(session: Session) -> None:
            row = session.get(JobGroup, group_id)
            if row is not None:
                row.definition = {**row.definition, "notices": notices}

        self._ws.db.transact(work)

    def _submit(
        self,
        group_id: str,
        spec: PipelineSpec,
        name: str,
        definition: dict[str, Any],
        values: Mapping[str, Mapping[str, Any]],
    ) -> None:
        """Queue one step as the run's submitter (roles read now), or record why not;
        ``definition`` is the run's, with its ``team`` and ``owner``."""
        step, owner = spec.steps[name], definition["owner"]
        try:
            parameters = resolve(name, step, definition["inputs"], values)
            parameters.update(definition.get("fixed", {}).get(name, {}))
            job = self._ws.jobs.submit(
                self._ws.actor(owner), step.template, parameters, team=definition["team"] or None,
                seed=definition.get("seeds", {}).get(name), key=f"group:{group_id}:step:{name}",
                group=group_id, step=name,
            )  # fmt: skip
        except LeptonLabError as exc:  # the template changed, a value is missing, ...
            reason = exc.message
            self._ws.db.transact(lambda session: _record_error(session, group_id, name, reason))
            return
        if self._ws.groups.get(self._ws.actor(owner), group_id).status == "cancelled":
            self._cancel_job(owner, job.id)  # cancelled while this step was being queued

    def _end(self, group_id: str, status: str) -> bool:
        def work(session: Session) -> bool:
            done = session.execute(
                update(JobGroup)
                .where(JobGroup.id == group_id, JobGroup.status == "running")
                .values(status=status, ended_at=utcnow())
            )
            return bool(done.rowcount)  # type: ignore[attr-defined]

        return self._ws.db.transact(work)

    # -- cancel, rerun ----------------------------------------------------------------------

    def cancel(self, actor: Actor, run_id: str) -> PipelineRun:
        """Cancel the run: its queued and running steps, and every step not yet queued."""
        group = self.get_run(actor, run_id).group
        if group.submitted_by != actor.user and not actor.has_role(group.team, Role.editor):
            raise PermissionDenied(
                f"pipeline run {run_id} was submitted by {group.submitted_by}; only they, a "
                "site admin or an editor of its team may cancel it"
            )
        if group.done:
            raise Conflict(f"pipeline run {run_id} has already ended ({group.status})")
        self._end(run_id, "cancelled")
        for job in self._ws.groups.get(actor, run_id).jobs:
            self._cancel_job(actor.user, job["id"])
        return self.get_run(actor, run_id)

    def _cancel_job(self, user: str, job_id: str) -> None:
        with contextlib.suppress(Conflict):  # it ended meanwhile
            self._ws.jobs.cancel(self._ws.actor(user), job_id)

    def rerun(self, actor: Actor, run_id: str) -> PipelineRun:
        """Run the whole pipeline again as it ran: the same version, inputs, each step's
        seed and literal parameters (datasets pinned as they were); later steps take what
        the rerun's earlier steps record.  :meth:`reproduction` compares them."""
        original = self.get_run(actor, run_id)
        if not original.done:
            raise Conflict(f"pipeline run {run_id} is still running; wait for it to end first")
        with self._ws.db.read() as session:
            row = session.get(JobGroup, run_id)
            assert row is not None
            definition = dict(row.definition)
            spec = PipelineSpec.model_validate(definition["spec"])
            jobs = self._states(session, row).jobs
        seeds = {step: job.seed for step, job in jobs.items()}
        fixed = {step: {key: job.parameters[key]
                        for key, value in spec.steps[step].parameters.items()
                        if not _refers_to_a_step(value) and key in job.parameters}
                 for step, job in jobs.items() if step in spec.steps}  # fmt: skip
        definition.update(seeds=seeds, fixed=fixed, errors={})
        return self._start(actor, original.group.name, definition, original.group.team, run_id)

    def reproduction(self, actor: Actor, run_id: str) -> PipelineReproduction:
        """A rerun compared with its original, step by step: same state, and for steps
        that ran both times, the same recorded values."""
        from lepton_lab.runs.record import compare_all

        rerun = self.get_run(actor, run_id)
        if not rerun.group.rerun_of:
            raise InvalidInput(
                f"pipeline run {run_id} is not a rerun; rerun it first: "
                f"lepton-lab pipelines rerun {run_id}"
            )
        original = self.get_run(actor, rerun.group.rerun_of)
        checks = []
        for step in rerun.steps:
            before = original.step(step.name)
            values = []
            if before.job and step.job and rerun.done:
                records = self._ws.jobs.records
                values = compare_all(records(actor, before.job), records(actor, step.job))
            checks.append(StepCheck(step.name, before.status, step.status, before.job,
                                    step.job, values))  # fmt: skip
        return PipelineReproduction(original.id, rerun.id, rerun.done, checks)


def _refers_to_a_step(value: Any) -> bool:
    """Whether a parameter's value names a step's recorded value (inputs do not count)."""
    return is_reference(value) and not str(value).startswith("${parameters.")


def _inputs(declared: Mapping[str, Any], given: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The pipeline's inputs: its defaults, overridden by ``given``; none left unset."""
    if not isinstance(given, Mapping):
        raise InvalidInput("parameters must map the pipeline's input names to values")
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise InvalidInput(
            f"pipeline {name} has no input(s) {unknown}; its inputs: "
            f"{', '.join(declared) or 'none'}"
        )
    inputs = {**declared, **given}
    missing = sorted(key for key, value in inputs.items() if value is None)
    if missing:
        raise InvalidInput(f"pipeline {name} needs input(s) {missing}: give them a value")
    return inputs


def _values(session: Session, job_ids: builtins.list[str]) -> dict[str, dict[str, Any]]:
    """The values each job recorded that a later step may use (the last of each name)."""
    found: dict[str, dict[str, Any]] = {job_id: {} for job_id in job_ids}
    if not job_ids:
        return found
    query = (
        select(JobRecord.job_id, JobRecord.name, JobRecord.value)
        .where(JobRecord.job_id.in_(job_ids), JobRecord.kind.in_(_VALUE_KINDS))
        .order_by(JobRecord.position)
    )
    for job_id, name, value in session.execute(query):
        found[job_id][name] = value
    return found


def _record_error(session: Session, group_id: str, step: str, reason: str) -> None:
    row = session.get(JobGroup, group_id)
    if row is None:
        return
    errors = {**row.definition.get("errors", {}), step: f"could not be queued: {reason}"}
    row.definition = {**row.definition, "errors": errors}
    record_event(session, row.submitted_by, "pipeline.step_error", f"group:{group_id}",
                 step=step, reason=reason)  # fmt: skip


def _reason(job: JobInfo | None) -> str:
    if job is None or not job.reason:
        return ""
    return str(job.reason.get("message", ""))


def _group_id(key: str | None) -> str:
    """A new run's group id: random, or derived from an idempotency key."""
    if key is None:
        return uuid.uuid4().hex[:16]
    return hashlib.sha256(f"lepton-group:{key}".encode()).hexdigest()[:16]


def _checked_notify(settings: Settings, notify: Mapping[str, Any] | None) -> dict[str, Any]:
    """A run's ``notify`` checked now (as a job's), so a wrong address fails at once."""
    return check_notify(settings, notify) if notify else {}
