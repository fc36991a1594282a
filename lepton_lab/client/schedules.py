"""``ll.schedules``: templates run on a cron schedule, on either backend."""

from __future__ import annotations

import builtins
from typing import Any

from typing_extensions import Unpack

from lepton_lab.client.backend import Backend
from lepton_lab.contract import schedules as ops
from lepton_lab.runs.info import JobInfo
from lepton_lab.runs.schedule_info import (
    ScheduleInfo,
    ScheduleJobArgs,
    ScheduleRunInfo,
    TeamWhenArgs,
    WhenArgs,
    when_values,
)

__all__ = ["Schedules"]

#: The keyword arguments of :meth:`Schedules.create` that say when (the others are job options).
_TEAM_WHEN = TeamWhenArgs.__required_keys__ | TeamWhenArgs.__optional_keys__


class Schedules:
    """``ll.schedules``: run a template on a cron schedule, as you, from the runners."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def create(
        self,
        template: str,
        parameters: dict[str, Any] | None = None,
        **when_and_options: Unpack[ScheduleJobArgs],
    ) -> ScheduleInfo:
        """Schedule ``template`` with ``parameters`` at ``cron`` in ``timezone``.

        ``ll.schedules.create("sales-report", {"dataset": "retail/sales"},
        cron="0 6 * * 1-5", timezone="Europe/Berlin", name="morning-report")``.
        ``missed``: what happens to due times that passed while no runner was up
        (``skip``, or ``run_once`` for the latest); ``overlap``: whether a run may start
        while the previous one still runs; the other keywords are job options (gpus,
        timeout, retries, kernel, seed).  The schedule belongs to ``team`` (default: your
        only team).
        """
        when = {k: v for k, v in when_and_options.items() if k in _TEAM_WHEN}
        options = {k: v for k, v in when_and_options.items() if k not in _TEAM_WHEN}
        schedule: ScheduleInfo = self._backend.call(
            ops.CREATE,
            template=template,
            parameters=parameters,
            options=options or None,
            **when_values(when),
        )
        return schedule

    def create_refresh(self, dataset: str, **when: Unpack[WhenArgs]) -> ScheduleInfo:
        """Re-run the query of the SQL dataset ``team/name`` at ``cron`` in ``timezone``:
        a new version each time its rows changed.  The query runs where the catalog is."""
        schedule: ScheduleInfo = self._backend.call(
            ops.CREATE_REFRESH, dataset=dataset, **when_values(when, WhenArgs)
        )
        return schedule

    def create_pipeline(
        self,
        pipeline: str,
        parameters: dict[str, Any] | None = None,
        **when: Unpack[TeamWhenArgs],
    ) -> ScheduleInfo:
        """Run ``pipeline`` (its latest version) with ``parameters`` as its inputs at
        ``cron`` in ``timezone``; each due time is one pipeline run."""
        schedule: ScheduleInfo = self._backend.call(
            ops.CREATE_PIPELINE, pipeline=pipeline, parameters=parameters, **when_values(when)
        )
        return schedule

    def list(self, *, team: str | None = None) -> builtins.list[ScheduleInfo]:
        """The schedules of your teams."""
        schedules: builtins.list[ScheduleInfo] = self._backend.call(ops.LIST, team=team)
        return schedules

    def get(self, schedule_id: str) -> ScheduleInfo:
        """One schedule, with the history of its versions."""
        schedule: ScheduleInfo = self._backend.call(ops.GET, schedule_id=schedule_id)
        return schedule

    def update(self, schedule_id: str, **changes: Any) -> ScheduleInfo:
        """Change template, parameters, cron, timezone, missed, overlap or options: a new
        version (the previous kept in ``history``)."""
        schedule: ScheduleInfo = self._backend.call(ops.UPDATE, schedule_id=schedule_id, **changes)
        return schedule

    def pause(self, schedule_id: str) -> ScheduleInfo:
        """Stop firing until :meth:`resume`."""
        schedule: ScheduleInfo = self._backend.call(ops.PAUSE, schedule_id=schedule_id)
        return schedule

    def resume(self, schedule_id: str) -> ScheduleInfo:
        """Fire again, from the next due time after now."""
        schedule: ScheduleInfo = self._backend.call(ops.RESUME, schedule_id=schedule_id)
        return schedule

    def run_now(self, schedule_id: str) -> JobInfo:
        """Submit the schedule's job now, as you."""
        job: JobInfo = self._backend.call(ops.RUN_NOW, schedule_id=schedule_id)
        return job

    def runs(self, schedule_id: str, *, limit: int = 50) -> builtins.list[ScheduleRunInfo]:
        """The schedule's due times, newest first, with their jobs' outcomes."""
        runs: builtins.list[ScheduleRunInfo] = self._backend.call(
            ops.RUNS, schedule_id=schedule_id, limit=limit
        )
        return runs

    def delete(self, schedule_id: str) -> None:
        """Delete the schedule and its history (its jobs stay)."""
        self._backend.call(ops.DELETE, schedule_id=schedule_id)
