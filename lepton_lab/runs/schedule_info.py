"""What a schedule and its runs tell: plain values, safe for any surface.

Like the other ``*Info`` classes, each has ``to_dict`` (the REST API's JSON) and
``from_dict`` (the remote client's way back; unknown keys ignored).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, Required

from typing_extensions import TypedDict

from lepton_lab.runs.info import JobOptionArgs, keywords

__all__ = [
    "MISSED_POLICIES",
    "RUN_STATES",
    "ScheduleInfo",
    "ScheduleJobArgs",
    "ScheduleRunInfo",
    "TeamWhenArgs",
    "WhenArgs",
    "when_values",
]

#: What happens to due times that passed while nothing could fire them: ``skip`` them
#: (recorded as one ``missed`` run), or ``run_once`` for the latest of them.
MISSED_POLICIES = ("skip", "run_once")

#: What a due time became: a ``submitted`` job; ``skipped`` (the previous run still ran and
#: overlap is off); ``missed`` (passed while nothing fired, policy skip); ``error`` (the job
#: could not be submitted: the reason says why); ``firing`` (being submitted right now);
#: ``refreshed`` (a SQL dataset's query ran again: ``detail`` names the version).
RUN_STATES = ("submitted", "skipped", "missed", "error", "firing", "refreshed")


class WhenArgs(TypedDict, total=False):
    """When a schedule fires, its name and what a missed due time becomes: the keyword
    arguments every kind of schedule is created with, on every surface."""

    cron: Required[str]
    """Five cron fields, e.g. ``0 6 * * 1-5``."""

    timezone: str
    """The IANA time zone of ``cron`` (default ``UTC``)."""

    name: str | None
    """The schedule's name in its team (default: its target's)."""

    missed: str
    """Due times that passed while no runner was up: ``skip`` them (the default), or
    ``run_once`` for the latest."""


class TeamWhenArgs(WhenArgs, total=False):
    """:class:`WhenArgs`, and those of a schedule that runs jobs for a team."""

    team: str | None
    """The team it belongs to (default: your only team)."""

    overlap: bool
    """Whether a run may start while the previous one still runs (default False)."""


class ScheduleJobArgs(TeamWhenArgs, JobOptionArgs, total=False):
    """The keyword arguments of a schedule of a template: when, and its jobs' options."""


#: What a :class:`TeamWhenArgs` not given is.
_WHEN_DEFAULTS: dict[str, Any] = {
    "timezone": "UTC",
    "name": None,
    "missed": "skip",
    "team": None,
    "overlap": False,
}


def when_values(given: Mapping[str, Any], kind: Any = TeamWhenArgs) -> dict[str, Any]:
    """The keyword arguments ``given`` of a ``kind`` (:class:`WhenArgs` or
    :class:`TeamWhenArgs`), checked as a signature checks them, each one not given at its
    default."""
    known = sorted(kind.__required_keys__ | kind.__optional_keys__)
    return {key: _WHEN_DEFAULTS.get(key) for key in known} | keywords(given, kind)


def _time(value: Any) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class ScheduleInfo:
    """A schedule: what it runs, when (cron in a time zone), as whom, and its policies."""

    id: str
    name: str
    team: str
    owner: str
    template: str
    parameters: dict[str, Any]
    cron: str
    timezone: str
    missed: str
    overlap: bool
    paused: bool
    version: int
    next_due: datetime
    created_at: datetime
    updated_at: datetime
    options: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            **asdict(self),
            "next_due": self.next_due.isoformat(),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScheduleInfo:
        """From :meth:`to_dict`."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("next_due", "created_at", "updated_at"):
            values[name] = _time(values[name])
        return cls(**values)

    def row(self) -> dict[str, Any]:
        """One row of a table of schedules."""
        state = "paused" if self.paused else f"next {self.next_due:%Y-%m-%d %H:%M} UTC"
        return {
            "id": self.id,
            "name": f"{self.team}/{self.name}",
            "template": self.template,
            "cron": f"{self.cron} ({self.timezone})",
            "state": state,
            "owner": self.owner,
        }

    def _repr_html_(self) -> str:
        cells = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in self.row().items()
        )
        return f"<table>{cells}</table>"


@dataclass(frozen=True)
class ScheduleRunInfo:
    """One due time of a schedule and what became of it."""

    schedule_id: str
    due_at: datetime
    status: str
    job_id: str
    fired_at: datetime
    detail: dict[str, Any] = field(default_factory=dict)
    job_status: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            **asdict(self),
            "due_at": self.due_at.isoformat(),
            "fired_at": self.fired_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScheduleRunInfo:
        """From :meth:`to_dict`."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["due_at"], values["fired_at"] = _time(values["due_at"]), _time(values["fired_at"])
        return cls(**values)

    def row(self) -> dict[str, Any]:
        """One row of a schedule's history."""
        return {
            "due": f"{self.due_at:%Y-%m-%d %H:%M} UTC",
            "status": self.status,
            "job": self.job_id,
            "job status": self.job_status,
            "detail": self.detail.get("reason", ""),
        }
