"""Schedules: a template run on a cron schedule, as its owner, fired exactly once per due time.

A schedule lives in the database and is fired by whatever process calls :meth:`fire_due`
(every job runner's loop, and the server extension), never by a user's session, so it
outlives any notebook or Jupyter server; how it fires exactly once is
:mod:`lepton_lab.runs.firing`.  This module defines, checks, reads and changes schedules:
each definition is checked as a submit would check it (cron, time zone, template,
parameters, job options), each edit is a new version with the previous one kept in its
``history``.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from typing_extensions import Unpack

from lepton_lab.errors import InvalidInput, NotFound, did_you_mean
from lepton_lab.events import record_event
from lepton_lab.identity import Actor, Role, require_edit, require_role
from lepton_lab.refs import check_slug
from lepton_lab.runs.cron import check_cron, check_timezone, due_after
from lepton_lab.runs.firing import MISSED_AFTER, STUCK_AFTER, Firer, run_info
from lepton_lab.runs.info import JobInfo, JobOptionArgs
from lepton_lab.runs.notebook import check_parameters
from lepton_lab.runs.notify_spec import check_notify
from lepton_lab.runs.schedule_info import (
    MISSED_POLICIES,
    ScheduleInfo,
    ScheduleRunInfo,
    TeamWhenArgs,
    WhenArgs,
    when_values,
)
from lepton_lab.store.tables import Job, Schedule, ScheduleRun, utcnow

if TYPE_CHECKING:
    from lepton_lab.config import Settings
    from lepton_lab.workspace import Workspace

__all__ = ["MISSED_AFTER", "OPTIONS", "STUCK_AFTER", "ScheduleService"]

#: Job options a schedule passes on to every job it submits.
OPTIONS = JobOptionArgs.__optional_keys__


class ScheduleService:
    """Create, change and fire schedules, each user call as one :class:`Actor`."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    # -- define ---------------------------------------------------------------------------

    def create(
        self,
        actor: Actor,
        template: str,
        parameters: Mapping[str, Any] | None = None,
        *,
        options: Mapping[str, Any] | None = None,
        **when: Unpack[TeamWhenArgs],
    ) -> ScheduleInfo:
        """A new schedule of ``template`` in ``team`` (you need the contributor role)."""
        given = when_values(when)
        team = self._team(actor, given["team"])
        require_role(actor, team, Role.contributor, f"scheduling jobs in team {team}")
        values = self._check(actor, template, parameters, given, options)
        default = template.rsplit("/", 1)[-1].split("@")[0]
        return self._insert(actor, team, given["name"] or default, values, given["overlap"])

    def create_refresh(self, actor: Actor, dataset: str, **when: Unpack[WhenArgs]) -> ScheduleInfo:
        """A schedule that re-runs the query of a SQL dataset (``team/name``): a new
        version each due time the rows changed.  It belongs to the dataset's team."""
        given = when_values(when, WhenArgs)
        info = self._ws.datasets.get(actor, dataset)
        if not info.query:
            raise InvalidInput(
                f"{info.team}/{info.name} was not registered from a SQL query: there is no "
                "query to refresh; register it with ll.datasets.register_query"
            )
        require_role(actor, info.team, Role.contributor, f"refreshing {info.team}/{info.name}")
        values = _target_values({"refresh": f"{info.team}/{info.name}"}, given)
        return self._insert(
            actor, info.team, given["name"] or f"refresh-{info.name}", values, False
        )

    def create_pipeline(
        self,
        actor: Actor,
        pipeline: str,
        parameters: Mapping[str, Any] | None = None,
        **when: Unpack[TeamWhenArgs],
    ) -> ScheduleInfo:
        """A schedule that runs ``pipeline`` (its latest version at each due time) with
        these inputs, in ``team`` (you need the contributor role)."""
        given = when_values(when)
        team = self._team(actor, given["team"])
        require_role(actor, team, Role.contributor, f"scheduling pipelines in team {team}")
        info = self._ws.pipelines.get(actor, pipeline)
        values = _target_values({"pipeline": info.name}, given)
        values["parameters"] = dict(parameters or {})
        default = info.name.rsplit("/", 1)[-1]
        return self._insert(actor, team, given["name"] or default, values, given["overlap"])

    def _insert(
        self, actor: Actor, team: str, name: str, values: dict[str, Any], overlap: bool
    ) -> ScheduleInfo:
        """Store a new schedule whose definition was checked."""
        now = utcnow()
        target = values["options"]
        template = values["template"] or (
            f"pipeline {target['pipeline']}"
            if "pipeline" in target
            else f"refresh {target.get('refresh')}"
        )
        row = Schedule(
            id=uuid.uuid4().hex[:12],
            team=team,
            name=check_slug(name, "schedule name"),
            owner=actor.user,
            overlap=bool(overlap),
            paused=False,
            version=1,
            history=[],
            next_due=due_after(values["cron"], values["timezone"], now),
            created_at=now,
            updated_at=now,
            **values,
        )

        def work(session: Session) -> ScheduleInfo:
            taken = session.scalar(
                select(Schedule.id).where(Schedule.team == team, Schedule.name == row.name)
            )
            if taken:
                raise InvalidInput(
                    f"team {team} already has a schedule named {row.name}; pass another name="
                )
            session.add(row)
            record_event(session, actor.user, "schedule.create", f"schedule:{row.id}",
                         template=template, cron=row.cron, timezone=row.timezone)  # fmt: skip
            return _info(row)

        return self._ws.db.transact(work)

    def _team(self, actor: Actor, team: str | None) -> str:
        """The team named, or the user's only team."""
        if team:
            return check_slug(team, "team")
        if len(actor.teams) == 1:
            return next(iter(actor.teams))
        teams = ", ".join(sorted(actor.teams)) or "none yet"
        raise InvalidInput(f"say which team the schedule belongs to (team=); yours: {teams}")

    def _check_any(self, actor: Actor, row: Schedule, merged: dict[str, Any]) -> dict[str, Any]:
        """An edited definition checked: a refresh keeps its dataset, a job its template."""
        if row.options.get("refresh") or row.options.get("pipeline"):
            target = {k: v for k, v in row.options.items() if k in ("refresh", "pipeline")}
            values = _target_values(target, merged)
            values["parameters"] = dict(merged["parameters"] or {})
            return values
        return self._check(
            actor, merged["template"], merged["parameters"], merged, merged["options"]
        )

    def _check(
        self,
        actor: Actor,
        template: str,
        parameters: Mapping[str, Any] | None,
        when: Mapping[str, Any],
        options: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """The schedule's definition (``when``: its ``cron``, ``timezone`` and ``missed``),
        checked as a submit would check it now."""
        cron, timezone, missed = when["cron"], when["timezone"], when["missed"]
        if missed not in MISSED_POLICIES:
            raise InvalidInput(
                f"missed must be one of {', '.join(MISSED_POLICIES)}, not {missed!r}"
            )
        unknown = sorted(set(options or {}) - OPTIONS)
        if unknown:
            raise InvalidInput(f"unknown job option(s) {unknown}; allowed: {sorted(OPTIONS)}")
        check_timezone(timezone)
        info = self._ws.templates.get(actor, template)
        try:
            values = check_parameters(info, parameters or {}, info.name)
        except InvalidInput as exc:
            raise InvalidInput(f"the parameters do not fit {info.name}: {exc.message}") from None
        return {
            "template": template,
            "parameters": values,
            "cron": check_cron(cron),
            "timezone": timezone.strip(),
            "missed": missed,
            "options": _checked_options(self._ws.settings, options),
        }

    # -- read -----------------------------------------------------------------------------

    def list(self, actor: Actor, *, team: str | None = None) -> builtins.list[ScheduleInfo]:
        """The schedules of your teams (every one for site admins), by team and name."""
        query = select(Schedule).order_by(Schedule.team, Schedule.name)
        if team:
            query = query.where(Schedule.team == check_slug(team, "team"))
        with self._ws.db.read() as session:
            rows = session.scalars(query).all()
            return [_info(r) for r in rows if _may_see(actor, r)]

    def get(self, actor: Actor, schedule_id: str) -> ScheduleInfo:
        """One schedule, by id (``lepton-lab schedules list`` shows them)."""
        with self._ws.db.read() as session:
            return _info(self._visible(session, actor, schedule_id))

    def runs(
        self, actor: Actor, schedule_id: str, *, limit: int = 50
    ) -> builtins.list[ScheduleRunInfo]:
        """The schedule's due times, newest first, with their jobs' outcomes."""
        if not 1 <= limit <= 500:
            raise InvalidInput(f"limit must be between 1 and 500, not {limit}")
        with self._ws.db.read() as session:
            self._visible(session, actor, schedule_id)
            query = (
                select(ScheduleRun, Job.status)
                .outerjoin(Job, Job.id == ScheduleRun.job_id)
                .where(ScheduleRun.schedule_id == schedule_id)
                .order_by(ScheduleRun.due_at.desc())
                .limit(limit)
            )
            return [run_info(run, status or "") for run, status in session.execute(query)]

    def _visible(self, session: Session, actor: Actor, schedule_id: str) -> Schedule:
        row = session.get(Schedule, schedule_id) if isinstance(schedule_id, str) else None
        if row is None or not _may_see(actor, row):
            known = [r.id for r in session.scalars(select(Schedule)) if _may_see(actor, r)]
            hint = did_you_mean(str(schedule_id), known)
            raise NotFound(f"no schedule {schedule_id!r}{hint}; lepton-lab schedules list")
        return row

    # -- change ---------------------------------------------------------------------------

    def update(self, actor: Actor, schedule_id: str, **changes: Any) -> ScheduleInfo:
        """A new version of the schedule (the previous one kept in its ``history``)."""
        allowed = {"template", "parameters", "cron", "timezone", "missed", "overlap", "options"}
        unknown = sorted(set(changes) - allowed)
        if unknown:
            raise InvalidInput(f"unknown field(s) {unknown}; allowed: {sorted(allowed)}")
        given = {k: v for k, v in changes.items() if v is not None}

        def work(session: Session) -> ScheduleInfo:
            row = self._editable(session, actor, schedule_id)
            merged = {**_definition(row), **given}
            values = self._check_any(actor, row, merged)
            row.history = [*row.history, {**_definition(row, dump=True), "version": row.version}]
            for key, value in values.items():
                setattr(row, key, value)
            row.overlap = bool(merged["overlap"])
            row.version += 1
            row.updated_at = utcnow()
            row.next_due = due_after(row.cron, row.timezone, row.updated_at)
            record_event(session, actor.user, "schedule.update", f"schedule:{row.id}",
                         version=row.version, changed=sorted(given))  # fmt: skip
            return _info(row)

        return self._ws.db.transact(work)

    def pause(self, actor: Actor, schedule_id: str) -> ScheduleInfo:
        """Stop firing until :meth:`resume` (due times meanwhile are not run)."""
        return self._set_paused(actor, schedule_id, True)

    def resume(self, actor: Actor, schedule_id: str) -> ScheduleInfo:
        """Fire again, from the next due time after now."""
        return self._set_paused(actor, schedule_id, False)

    def _set_paused(self, actor: Actor, schedule_id: str, paused: bool) -> ScheduleInfo:
        def work(session: Session) -> ScheduleInfo:
            row = self._editable(session, actor, schedule_id)
            if row.paused != paused:
                row.paused = paused
                row.updated_at = utcnow()
                row.next_due = due_after(row.cron, row.timezone, row.updated_at)
                action = "schedule.pause" if paused else "schedule.resume"
                record_event(session, actor.user, action, f"schedule:{row.id}")
            return _info(row)

        return self._ws.db.transact(work)

    def delete(self, actor: Actor, schedule_id: str) -> None:
        """Delete the schedule and its history of runs (their jobs stay)."""

        def work(session: Session) -> None:
            row = self._editable(session, actor, schedule_id)
            session.delete(row)
            record_event(session, actor.user, "schedule.delete", f"schedule:{row.id}",
                         team=row.team, name=row.name)  # fmt: skip

        self._ws.db.transact(work)

    def _editable(self, session: Session, actor: Actor, schedule_id: str) -> Schedule:
        row = self._visible(session, actor, schedule_id)
        require_edit(actor, team=row.team, owner=row.owner, what=f"schedule {row.name}")
        return row

    def run_now(self, actor: Actor, schedule_id: str) -> JobInfo:
        """Submit the schedule's job now, as you, outside its due times."""
        with self._ws.db.read() as session:
            row = self._visible(session, actor, schedule_id)
            require_role(actor, row.team, Role.contributor, f"running schedule {row.name}")
            template, parameters, options = row.template, row.parameters, row.options
            if options.get("refresh") or options.get("pipeline"):
                what = options.get("refresh") or options.get("pipeline")
                call = "ll.datasets.refresh" if options.get("refresh") else "ll.pipelines.run"
                raise InvalidInput(
                    f"schedule {row.name} runs {what}, not a template: {call}({what!r}) runs it now"
                )
        info = self._ws.jobs.submit(actor, template, parameters, **options)

        def work(session: Session) -> None:
            session.add(ScheduleRun(schedule_id=schedule_id, due_at=utcnow(),
                                    status="submitted", job_id=info.id,
                                    detail={"run_now_by": actor.user}))  # fmt: skip

        self._ws.db.transact(work)
        return info

    # -- fire -----------------------------------------------------------------------------

    def fire_due(self, now: datetime | None = None) -> builtins.list[ScheduleRunInfo]:
        """Fire every schedule due at ``now`` (default: now); what this call fired.

        Safe to call from any number of processes at once: each due time fires once
        (:mod:`lepton_lab.runs.firing`).
        """
        return Firer(self._ws).fire_due(now)

    def next_due(self) -> datetime | None:
        """The earliest due time of an active schedule (a firer may sleep until then)."""
        return Firer(self._ws).next_due()


def _target_values(target: dict[str, str], when: Mapping[str, Any]) -> dict[str, Any]:
    """The definition of a schedule whose target is not a template: a SQL dataset's
    refresh (``{"refresh": ref}``) or a pipeline (``{"pipeline": name}``), run at
    ``when``'s ``cron`` in its ``timezone``, with its ``missed`` policy."""
    cron, timezone, missed = when["cron"], when["timezone"], when["missed"]
    if missed not in MISSED_POLICIES:
        raise InvalidInput(f"missed must be one of {', '.join(MISSED_POLICIES)}, not {missed!r}")
    check_timezone(timezone)
    return {"template": "", "parameters": {}, "cron": check_cron(cron),
            "timezone": timezone.strip(), "missed": missed,
            "options": dict(target)}  # fmt: skip


def _may_see(actor: Actor, row: Schedule) -> bool:
    return row.owner == actor.user or actor.has_role(row.team, Role.viewer)


def _definition(row: Schedule, *, dump: bool = False) -> dict[str, Any]:
    found = {
        "template": row.template,
        "parameters": row.parameters,
        "cron": row.cron,
        "timezone": row.timezone,
        "missed": row.missed,
        "overlap": row.overlap,
        "options": row.options,
    }
    if dump:
        found["changed_at"] = row.updated_at.isoformat()
    return found


def _info(row: Schedule) -> ScheduleInfo:
    return ScheduleInfo(
        id=row.id,
        name=row.name,
        team=row.team,
        owner=row.owner,
        template=row.template,
        parameters=dict(row.parameters),
        cron=row.cron,
        timezone=row.timezone,
        missed=row.missed,
        overlap=row.overlap,
        paused=row.paused,
        version=row.version,
        next_due=row.next_due,
        created_at=row.created_at,
        updated_at=row.updated_at,
        options=dict(row.options),
        history=list(row.history),
    )


def _checked_options(settings: Settings, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The job options as stored: a ``notify`` spec checked and normalised now, so that a
    wrong address fails when the schedule is made rather than at each due time."""
    found = dict(options or {})
    if "notify" in found:
        found["notify"] = check_notify(settings, found["notify"])
    return found
