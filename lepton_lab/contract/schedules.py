"""Schedules: a template run on a cron schedule, as its owner; their runs and history.

A schedule belongs to a team: its members see it, its contributors create schedules and
run them now, its owner and the team's editors change, pause and delete it.  Someone
outside the team gets a 404.
"""

from __future__ import annotations

from typing import Any

from lepton_lab.contract.core import Info, Items, Nothing, Request, declare
from lepton_lab.contract.shapes import calls, reader
from lepton_lab.runs.info import JobInfo
from lepton_lab.runs.schedule_info import ScheduleInfo, ScheduleRunInfo
from lepton_lab.runs.schedules import ScheduleService

__all__ = [
    "CREATE",
    "CREATE_PIPELINE",
    "CREATE_REFRESH",
    "DELETE",
    "GET",
    "LIST",
    "PAUSE",
    "RESUME",
    "RUNS",
    "RUN_NOW",
    "UPDATE",
]

_TEAM_ONLY = "404: schedules are seen by their team's members only"

_read = reader("schedules", role="viewer")
_call = calls("schedules")


class ListSchedules(Request):
    """An optional team to list."""

    team: str | None = None


LIST = _read(
    ScheduleService.list,
    "/schedules",
    ListSchedules,
    Items(ScheduleInfo),
    "The schedules of your teams",
    refusals=(400,),
    owner_note="sees none",
)


class When(Request):
    """When a schedule fires (cron in a time zone), its name, and what a missed due time
    becomes: what every kind of schedule has."""

    cron: str
    timezone: str = "UTC"
    name: str | None = None
    missed: str = "skip"

    def when(self) -> dict[str, Any]:
        """These fields, as the schedule service's keyword arguments."""
        return self.model_dump(include=set(When.model_fields))


class TeamWhen(When):
    """A schedule of a team's, and whether its runs may overlap."""

    team: str | None = None
    overlap: bool = False

    def when(self) -> dict[str, Any]:
        """These fields and :class:`When`'s, as the schedule service's keyword arguments."""
        return self.model_dump(include=set(TeamWhen.model_fields))


class CreateSchedule(TeamWhen):
    """A new schedule: the template, its parameters, when, and the policies."""

    template: str
    parameters: dict[str, Any] | None = None
    options: dict[str, Any] | None = None


CREATE = declare(
    "schedules.create",
    "POST",
    "/schedules",
    CreateSchedule,
    Info(ScheduleInfo),
    role="contributor",
    run=lambda ws, actor, r: ws.schedules.create(
        actor, r.template, r.parameters, options=r.options, **r.when()
    ),
    status=201,
    summary="Schedule a template (cron in a time zone)",
)


class CreateRefresh(When):
    """A SQL dataset whose query is run again at each due time."""

    dataset: str


CREATE_REFRESH = declare(
    "schedules.create_refresh",
    "POST",
    "/schedules/refresh",
    CreateRefresh,
    Info(ScheduleInfo),
    role="contributor",
    run=lambda ws, actor, r: ws.schedules.create_refresh(actor, r.dataset, **r.when()),
    status=201,
    summary="Refresh a SQL dataset on a schedule (a new version when its rows changed)",
)


class CreatePipeline(TeamWhen):
    """A pipeline run at each due time, with these inputs."""

    pipeline: str
    parameters: dict[str, Any] | None = None


CREATE_PIPELINE = declare(
    "schedules.create_pipeline",
    "POST",
    "/schedules/pipeline",
    CreatePipeline,
    Info(ScheduleInfo),
    role="contributor",
    run=lambda ws, actor, r: ws.schedules.create_pipeline(
        actor, r.pipeline, r.parameters, **r.when()
    ),
    status=201,
    summary="Run a pipeline on a schedule (its latest version at each due time)",
)


class OneSchedule(Request):
    """A schedule by id."""

    schedule_id: str


GET = _read(
    ScheduleService.get,
    "/schedules/{schedule_id}",
    OneSchedule,
    Info(ScheduleInfo),
    "One schedule, with its versions' history",
    owner_note=_TEAM_ONLY,
)


class UpdateSchedule(Request):
    """What changes (a new version of the schedule)."""

    schedule_id: str
    template: str | None = None
    parameters: dict[str, Any] | None = None
    cron: str | None = None
    timezone: str | None = None
    missed: str | None = None
    overlap: bool | None = None
    options: dict[str, Any] | None = None


UPDATE = declare(
    "schedules.update",
    "PATCH",
    "/schedules/{schedule_id}",
    UpdateSchedule,
    Info(ScheduleInfo),
    role="editor",
    run=lambda ws, actor, r: ws.schedules.update(
        actor,
        r.schedule_id,
        **r.model_dump(exclude={"schedule_id"}, exclude_none=True),
    ),
    summary="Change a schedule: a new version (its owner, or an editor)",
    owner_note=_TEAM_ONLY,
)

DELETE = _call(
    "DELETE",
    ScheduleService.delete,
    "/schedules/{schedule_id}",
    OneSchedule,
    Nothing(),
    "Delete a schedule and its history (its jobs stay)",
    role="editor",
    owner_note=_TEAM_ONLY,
)

PAUSE = _call(
    "POST",
    ScheduleService.pause,
    "/schedules/{schedule_id}/pause",
    OneSchedule,
    Info(ScheduleInfo),
    "Stop firing until resumed (its owner, or an editor)",
    role="editor",
    owner_note=_TEAM_ONLY,
)

RESUME = _call(
    "POST",
    ScheduleService.resume,
    "/schedules/{schedule_id}/resume",
    OneSchedule,
    Info(ScheduleInfo),
    "Fire again from the next due time (its owner, or an editor)",
    role="editor",
    owner_note=_TEAM_ONLY,
)

RUN_NOW = _call(
    "POST",
    ScheduleService.run_now,
    "/schedules/{schedule_id}/run",
    OneSchedule,
    Info(JobInfo),
    "Submit the schedule's job now, as you",
    role="contributor",
    status=201,
    owner_note=_TEAM_ONLY,
)


class Runs(Request):
    """A schedule, and how many of its latest runs."""

    schedule_id: str
    limit: int = 50


RUNS = _read(
    ScheduleService.runs,
    "/schedules/{schedule_id}/runs",
    Runs,
    Items(ScheduleRunInfo),
    "The schedule's due times, newest first, with their jobs' outcomes",
    owner_note=_TEAM_ONLY,
)
