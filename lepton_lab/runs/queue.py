"""The job queue, as people use it: submit, look, cancel, rerun, read logs and results.

Jobs live in the database, so they outlive the notebook and the server that submitted
them; runners (:mod:`lepton_lab.runs.leases`) take them from here.  Everything a job
needs to run again is fixed at submit time: the notebook's bytes (by sha256), typed
parameters with dataset references pinned to versions, kernel, GPUs and seed.

Who sees a job: its submitter, site admins, and the members of the team it is shared
with (``team``); cancelling needs the submitter or an editor of that team.
"""

from __future__ import annotations

import builtins
import hashlib
import secrets
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, false, func, or_, select, true
from sqlalchemy.orm import Session

from lepton_lab.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from lepton_lab.events import record_event
from lepton_lab.identity import Actor, Role, require_role
from lepton_lab.paging import Page, check_page
from lepton_lab.refs import check_slug, check_text
from lepton_lab.runs.info import (
    FINAL_STATES,
    JOB_STATES,
    JobInfo,
    LogChunk,
    RecordInfo,
    Reproduction,
    TemplateInfo,
)
from lepton_lab.runs.kernelspecs import declared_gpus
from lepton_lab.runs.notebook import check_parameters
from lepton_lab.runs.notify_spec import check_notify, visible_notices
from lepton_lab.runs.templates import parse_template_ref
from lepton_lab.store.tables import Job, JobLog, JobRecord, utcnow

if TYPE_CHECKING:
    from lepton_lab.workspace import Workspace

__all__ = ["MAX_GPUS", "JobService", "job_info"]

MAX_GPUS = 64
_MAX_RETRIES = 10
_MAX_SEED = 2**32 - 1
# Log chunks are numbered in a 32-bit column; a page of logs holds at most this many.
_MAX_SEQ = 2**31 - 1
_MAX_LOG_CHUNKS = 100_000


class JobService:
    """Submit and follow jobs, each call as one :class:`Actor`."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    # -- submit ---------------------------------------------------------------------------

    def submit(
        self,
        actor: Actor,
        template: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        *,
        notebook: bytes | None = None,
        notebook_name: str = "",
        gpus: int | None = None,
        seed: int | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        kernel: str | None = None,
        team: str | None = None,
        key: str | None = None,
        group: str = "",
        step: str = "",
        notify: Mapping[str, Any] | None = None,
    ) -> JobInfo:
        """Check everything, pin dataset references, and queue the job.

        Give a template name, or a notebook's bytes (``notebook``, with ``notebook_name``
        for display): it is snapshotted and checked like a template.  ``key`` makes the
        submit idempotent: every submit with the same key queues one job, and the later
        ones return it (a schedule's due time is such a key).  ``group`` and ``step`` place
        it in a sweep or a pipeline run.  ``notify`` asks for a webhook or an e-mail when it
        ends (:func:`~lepton_lab.runs.notify_spec.check_notify`).
        """
        wanted = check_notify(self._ws.settings, notify)  # before any work: a typo fails fast
        info = self._resolve(actor, template, notebook, notebook_name)
        values = check_parameters(info, parameters or {}, info.name)
        values, pins = self._pin_datasets(actor, info, values)
        chosen_kernel = _check_kernel(kernel) if kernel is not None else info.kernel
        # A kernel that declares a GPU need (lepton-gpu) gets it unless the job says.
        needed = max(info.gpus, declared_gpus(chosen_kernel))
        job = Job(
            id=_job_id(key),
            template=info.name,
            template_version=info.version or None,  # 0: a notebook, not a stored template
            notebook_sha256=info.sha256,
            parameters=values,
            pins=pins,
            kernel=chosen_kernel,
            gpus=_check_int(gpus, "gpus", 0, MAX_GPUS, needed),
            seed=_check_int(seed, "seed", 0, _MAX_SEED, secrets.randbelow(2**31)),
            timeout=_check_timeout(timeout),
            retries=_check_int(retries, "retries", 0, _MAX_RETRIES, 1),
            submitted_by=actor.user,
            team=self._check_team(actor, team),
            group_id=group,
            step=step,
            notify=wanted,
        )
        return self._insert(actor, job)

    def _resolve(
        self, actor: Actor, template: str | None, notebook: bytes | None, notebook_name: str
    ) -> TemplateInfo:
        """What is submitted, read once: a template version from the gallery, or the
        notebook (named by its label, version 0), stored by sha256."""
        if (template is None) == (notebook is None):
            raise InvalidInput("submit a template name or a notebook, not both or neither")
        if notebook is not None:
            label = check_text(notebook_name or "notebook.ipynb", "notebook_name", limit=255)
            info = self._ws.templates.inspect(notebook, label)
            self._ws.blobs.put_bytes(notebook)
            return info
        assert template is not None
        info = self._ws.templates.get(actor, template)
        from lepton_lab.runs.kernelspecs import require_kernel

        require_kernel(info.kernel)  # installed when published, maybe not on this machine
        return info

    def _pin_datasets(
        self, actor: Actor, info: TemplateInfo, values: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Dataset parameters (given or default) pinned to the version they name now."""
        pins: dict[str, Any] = {}
        for spec in info.parameters:
            value = values.get(spec.name, spec.default)
            if spec.kind != "dataset" or not isinstance(value, str) or not value:
                continue
            version = self._ws.datasets.version(actor, value)
            values[spec.name] = version.ref
            pins[spec.name] = {"ref": version.ref, "sha256": version.sha256}
        return values, pins

    def _check_team(self, actor: Actor, team: str | None) -> str:
        if not team:
            return ""
        check_slug(team, "team")  # also what the database can hold, whatever the caller sent
        require_role(actor, team, Role.viewer, f"sharing a job with team {team}")
        return team

    def _insert(self, actor: Actor, job: Job) -> JobInfo:
        def work(session: Session) -> JobInfo:
            queued = session.get(Job, job.id)
            if queued is not None:  # the same key: this submit was made already
                return job_info(queued)
            session.add(job)
            session.flush()
            record_event(session, actor.user, "job.submit", f"job:{job.id}",
                         template=job.template, rerun_of=job.rerun_of)  # fmt: skip
            return job_info(job)

        info = self._ws.db.transact(work)
        self._ws.runner_hook()
        return info

    # -- read -----------------------------------------------------------------------------

    def get(self, actor: Actor, job_id: str) -> JobInfo:
        """The job's state now."""
        with self._ws.db.read() as session:
            return job_info(self._visible(session, actor, job_id))

    def list(
        self,
        actor: Actor,
        *,
        status: str | None = None,
        template: str | None = None,
        user: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> Page[JobInfo]:
        """Jobs the actor may see, newest first."""
        check_page(limit, offset)
        where = [_visible_filter(actor)]
        if status is not None:
            if status not in JOB_STATES:
                raise InvalidInput(f"unknown status {status!r}; use one of {list(JOB_STATES)}")
            where.append(Job.status == status)
        if template is not None:
            # A notebook submitted from a file is listed under its file name.
            name = template if template.endswith(".ipynb") else parse_template_ref(template)[0]
            where.append(Job.template == name)
        if user is not None:
            where.append(Job.submitted_by == user)
        with self._ws.db.read() as session:
            total = session.scalar(select(func.count()).select_from(Job).where(*where)) or 0
            rows = session.scalars(
                select(Job).where(*where).order_by(Job.created_at.desc(), Job.id)
                .limit(limit).offset(offset)
            )  # fmt: skip
            return Page([job_info(r) for r in rows], total, offset, limit)

    def logs(
        self, actor: Actor, job_id: str, *, after: int = 0, limit: int = 1000
    ) -> builtins.list[LogChunk]:
        """Log chunks numbered above ``after``, oldest first (at most ``limit``)."""
        _check_int(after, "after", 0, _MAX_SEQ, 0)
        _check_int(limit, "limit", 1, _MAX_LOG_CHUNKS, 0)
        with self._ws.db.read() as session:
            self._visible(session, actor, job_id)
            rows = session.scalars(
                select(JobLog).where(JobLog.job_id == job_id, JobLog.seq > after)
                .order_by(JobLog.seq).limit(limit)
            )  # fmt: skip
            return [LogChunk(r.seq, r.stream, r.text, r.at) for r in rows]

    def records(self, actor: Actor, job_id: str) -> builtins.list[RecordInfo]:
        """The values the job recorded, in the order first recorded."""
        with self._ws.db.read() as session:
            self._visible(session, actor, job_id)
            rows = session.scalars(
                select(JobRecord).where(JobRecord.job_id == job_id).order_by(JobRecord.position)
            )
            return [RecordInfo(r.name, r.kind, r.value, r.cell) for r in rows]

    def notebook(self, actor: Actor, job_id: str) -> bytes:
        """The output notebook (saved on every outcome, so there once the job has ended)."""
        info = self.get(actor, job_id)
        if not info.output_sha256:
            raise NotFound(
                f"job {job_id} is {info.status} and has no output notebook yet; "
                f"wait for it: lepton-lab jobs wait {job_id}"
            )
        return self._ws.blobs.read_bytes(info.output_sha256)

    def reproduction(self, actor: Actor, job_id: str) -> Reproduction:
        """A rerun compared with its original, value by value."""
        from lepton_lab.runs.record import compare_all

        rerun = self.get(actor, job_id)
        if not rerun.rerun_of:
            raise InvalidInput(
                f"job {job_id} is not a rerun; rerun it first: lepton-lab jobs rerun {job_id}"
            )
        original = self.get(actor, rerun.rerun_of)
        if not rerun.done:
            return Reproduction(original, rerun, [])
        before, after = self.records(actor, original.id), self.records(actor, rerun.id)
        if original.status == "cancelled":
            # Stopped by someone: what it did not record yet is not a difference.
            recorded = {r.name for r in before}
            after = [r for r in after if r.name in recorded]
        return Reproduction(original, rerun, compare_all(before, after))

    def _visible(self, session: Session, actor: Actor, job_id: str) -> Job:
        row = session.get(Job, job_id) if isinstance(job_id, str) and job_id else None
        if row is None or not _can_see(actor, row):
            raise NotFound(f"no job {job_id!r}; lepton-lab jobs list shows yours")
        return row

    # -- change ---------------------------------------------------------------------------

    def cancel(self, actor: Actor, job_id: str) -> JobInfo:
        """Cancel a queued job at once; ask a running job's runner to stop its kernel."""

        def work(session: Session) -> JobInfo:
            row = self._visible(session, actor, job_id)
            if row.submitted_by != actor.user and not actor.has_role(row.team, Role.editor):
                raise PermissionDenied(
                    f"job {job_id} was submitted by {row.submitted_by}; only they, a site "
                    "admin or an editor of the team it is shared with may cancel it"
                )
            if row.status in FINAL_STATES:
                raise Conflict(f"job {job_id} has already ended ({row.status})")
            if row.status == "queued":
                row.status, row.ended_at = "cancelled", utcnow()
                row.reason = {"kind": "cancelled", "message": f"cancelled by {actor.user}"}
            row.cancel_requested = True
            record_event(session, actor.user, "job.cancel", f"job:{job_id}")
            return job_info(row)

        return self._ws.db.transact(work)

    def resubmit(self, actor: Actor, job_id: str) -> JobInfo:
        """Queue the job's manifest again: same notebook, parameters, pins, kernel and seed."""
        original = self.get(actor, job_id)
        with self._ws.db.read() as session:
            row = self._visible(session, actor, job_id)
            pins = dict(row.pins)
        job = Job(
            id=uuid.uuid4().hex[:16],
            template=original.template,
            template_version=original.template_version,
            notebook_sha256=original.notebook_sha256,
            parameters=dict(original.parameters),
            pins=pins,
            kernel=original.kernel,
            gpus=original.gpus,
            seed=original.seed,
            timeout=original.timeout,
            retries=original.retries,
            submitted_by=actor.user,
            team=original.team if original.team in actor.teams else "",
            rerun_of=original.id,
        )
        return self._insert(actor, job)


def job_info(row: Job) -> JobInfo:
    """A table row as the value surfaces show."""
    return JobInfo(
        id=row.id,
        template=row.template,
        template_version=row.template_version,
        notebook_sha256=row.notebook_sha256,
        parameters=dict(row.parameters),
        kernel=row.kernel,
        gpus=row.gpus,
        seed=row.seed,
        timeout=row.timeout,
        retries=row.retries,
        attempt=row.attempt,
        status=row.status,
        reason=dict(row.reason) if row.reason else None,
        cells_done=row.cells_done,
        cells_total=row.cells_total,
        current_cell=row.current_cell,
        submitted_by=row.submitted_by,
        team=row.team,
        runner=row.runner,
        devices=list(row.devices),
        output_sha256=row.output_sha256,
        rerun_of=row.rerun_of,
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        manifest=dict(row.manifest),
        group=row.group_id,
        step=row.step,
        notices=visible_notices(row.notices),
    )


def _can_see(actor: Actor, row: Job) -> bool:
    if actor.is_site_admin or row.submitted_by == actor.user:
        return True
    return bool(row.team) and actor.has_role(row.team, Role.viewer)


def _visible_filter(actor: Actor) -> ColumnElement[bool]:
    """:func:`_can_see` as SQL."""
    if actor.is_site_admin:
        return true()
    teams = sorted(actor.teams)
    return or_(Job.submitted_by == actor.user, Job.team.in_(teams) if teams else false())


def _check_int(value: Any, what: str, low: int, high: int, default: int) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidInput(f"{what} must be a whole number from {low} to {high}, not {value!r}")
    return value


def _check_timeout(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e7:
        raise InvalidInput(f"timeout must be a positive number of seconds, not {value!r}")
    return float(value)


def _check_kernel(kernel: str) -> str:
    from lepton_lab.runs.kernelspecs import require_kernel

    if not isinstance(kernel, str) or not kernel:
        raise InvalidInput("kernel must be the name of an installed kernelspec")
    require_kernel(kernel)
    return kernel


def _job_id(key: str | None) -> str:
    """A new job's id: random, or derived from an idempotency key."""
    if key is None:
        return uuid.uuid4().hex[:16]
    return hashlib.sha256(f"lepton-job:{key}".encode()).hexdigest()[:16]
