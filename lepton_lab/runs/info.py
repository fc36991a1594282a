"""What the template gallery and the job queue tell: plain values, safe for any surface.

Every class has ``to_dict`` (the REST API's JSON) and ``from_dict`` (the remote client's
way back); unknown keys are ignored so that a newer server does not break an older client.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, TypeVar

from typing_extensions import TypedDict

from lepton_lab.paging import row_html

__all__ = [
    "FINAL_STATES",
    "JOB_STATES",
    "JobFilterArgs",
    "JobInfo",
    "JobOptionArgs",
    "LogChunk",
    "ParameterSpec",
    "RecordInfo",
    "Reproduction",
    "TemplateInfo",
    "ValueCheck",
    "keywords",
]

#: Every state a job can be in, in the order a job usually passes through them.
JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled", "lost")
#: States a job never leaves.
FINAL_STATES = frozenset({"succeeded", "failed", "cancelled", "lost"})

_T = TypeVar("_T")


class JobOptionArgs(TypedDict, total=False):
    """How a job runs, beyond its template and parameters: the keyword arguments of a
    submit that a schedule also passes on to each job it submits (None: not given)."""

    gpus: int | None
    """GPUs to run on (default: the template's)."""

    seed: int | None
    """The random seed (default: a random one, recorded in the manifest)."""

    timeout: float | None
    """Seconds of running after which the job is stopped (default: no limit)."""

    retries: int | None
    """How often the job is run again after a lost runner (default 1)."""

    kernel: str | None
    """The kernelspec to run in (default: the template's)."""

    notify: dict[str, Any] | None
    """Webhooks or e-mails when the job ends (docs/jobs.md)."""


class JobFilterArgs(TypedDict, total=False):
    """Which jobs a listing keeps (None: any), and the page wanted."""

    status: str | None
    """Only jobs in this state (``queued``, ``running``, ``succeeded``…)."""

    template: str | None
    """Only jobs of this template."""

    user: str | None
    """Only jobs this user submitted."""

    limit: int
    """At most this many (default 20)."""

    offset: int
    """Skip this many, newest first (default 0)."""


def keywords(given: Mapping[str, Any], kind: Any) -> dict[str, Any]:
    """``given``, checked as a signature checks the keyword arguments that ``kind`` (a
    ``TypedDict``) declares: a missing required one or an unknown one is a TypeError."""
    known = kind.__required_keys__ | kind.__optional_keys__
    wrong = sorted(kind.__required_keys__ - set(given)) or sorted(set(given) - known)
    if wrong:
        raise TypeError(f"missing or unexpected keyword argument(s): {', '.join(wrong)}")
    return dict(given)


def _known(cls: type[_T], data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return {k: v for k, v in data.items() if k in names}


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter of a template, read from its ``parameters`` cell.

    ``type`` is one of int, float, str, bool, list, dict or any (papermill could not tell);
    ``kind`` is "dataset" for a dataset reference (pinned to a version at submit time).
    """

    name: str
    type: str
    default: Any = None
    default_source: str = ""
    help: str = ""
    required: bool = False
    optional: bool = False
    kind: str = ""
    choices: list[Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParameterSpec:
        """From :meth:`to_dict`."""
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class TemplateInfo:
    """A template: what its notebook says it is, and which stored version of whom.

    :func:`~lepton_lab.runs.notebook.summarize` reads the first part from a notebook
    (title, kernel, GPUs, parameters; ``name`` says where the notebook came from and
    ``version`` is 0 until the gallery stores it); the gallery adds the rest.  ``name`` is
    ``dataset-report`` for a shipped template, ``team/name`` for a published one.
    ``metadata`` is the notebook's ``lepton`` metadata and ``has_parameters_cell``.
    """

    name: str
    title: str
    description: str
    tags: list[str]
    kernel: str
    gpus: int
    parameters: list[ParameterSpec]
    metadata: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    sha256: str = ""
    team: str = ""
    owner: str = ""
    visibility: str = ""
    builtin: bool = False
    created_at: datetime | None = None

    @property
    def has_parameters_cell(self) -> bool:
        """Whether the notebook has a cell tagged ``parameters`` (so it takes parameters)."""
        return bool(self.metadata.get("has_parameters_cell", self.parameters))

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    def parameter(self, name: str) -> ParameterSpec | None:
        """The parameter called ``name``, if the template has one."""
        return next((p for p in self.parameters if p.name == name), None)

    def row(self) -> dict[str, Any]:
        """One line of a listing."""
        return {
            "template": self.name,
            "version": self.version,
            "title": self.title,
            "kernel": self.kernel,
            "gpus": self.gpus,
            "parameters": ", ".join(p.name for p in self.parameters),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["parameters"] = [p.to_dict() for p in self.parameters]
        data["created_at"] = _iso(self.created_at)
        data["ref"] = self.ref
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TemplateInfo:
        """From :meth:`to_dict`."""
        values = _known(cls, data)
        values["parameters"] = [ParameterSpec.from_dict(p) for p in data["parameters"]]
        values["created_at"] = _time(data["created_at"])
        return cls(**values)


@dataclass(frozen=True)
class JobInfo:
    """A job as the queue knows it now.

    ``reason`` is None unless the job failed, was cancelled or lost; then it holds
    ``{"kind": cell_error | kernel_died | timeout | cancelled | lost | unschedulable |
    invalid, "message": …}`` and, for a failing cell, ``cell`` (its index), ``ename`` and
    ``evalue``.
    """

    id: str
    template: str
    template_version: int | None
    notebook_sha256: str
    parameters: dict[str, Any]
    kernel: str
    gpus: int
    seed: int
    timeout: float | None
    retries: int
    attempt: int
    status: str
    reason: dict[str, Any] | None
    cells_done: int
    cells_total: int
    current_cell: str
    submitted_by: str
    team: str
    runner: str
    devices: list[int]
    output_sha256: str
    rerun_of: str
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    manifest: dict[str, Any] = field(default_factory=dict)
    group: str = ""
    """The sweep or pipeline run the job belongs to (empty: none)."""
    step: str = ""
    """Its step, in a pipeline run."""
    notices: list[dict[str, Any]] = field(default_factory=list)
    """Notifications sent when it ended: channel, target, outcome (never a secret)."""

    @property
    def done(self) -> bool:
        """Whether the job has reached a final state."""
        return self.status in FINAL_STATES

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (or to now while running)."""
        if self.started_at is None:
            return None
        end = self.ended_at or datetime.now(self.started_at.tzinfo)
        return (end - self.started_at).total_seconds()

    def row(self) -> dict[str, Any]:
        """One line of a listing."""
        progress = f"{self.cells_done}/{self.cells_total}" if self.cells_total else ""
        return {
            "id": self.id,
            "template": self.template,
            "status": self.status,
            "progress": progress,
            "submitted_by": self.submitted_by,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "reason": (self.reason or {}).get("message", ""),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("created_at", "started_at", "ended_at"):
            data[name] = _iso(data[name])
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobInfo:
        """From :meth:`to_dict`."""
        values = _known(cls, data)
        for name in ("created_at", "started_at", "ended_at"):
            values[name] = _time(values.get(name))
        return cls(**values)

    def _repr_html_(self) -> str:
        return row_html(self.row())


@dataclass(frozen=True)
class LogChunk:
    """Text a job's cells wrote to ``stream`` (stdout or stderr), numbered by ``seq``."""

    seq: int
    stream: str
    text: str
    at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"seq": self.seq, "stream": self.stream, "text": self.text, "at": _iso(self.at)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LogChunk:
        """From :meth:`to_dict`."""
        return cls(data["seq"], data["stream"], data["text"], _time(data["at"]))  # type: ignore[arg-type]


@dataclass(frozen=True)
class RecordInfo:
    """A value a job recorded with ``ll.record(name, value)``.

    ``kind`` is number, string, bool, json, table (``{"columns", "data"}``) or figure
    (``{"png": base64, "sha256"}``); ``value`` is its JSON form.
    """

    name: str
    kind: str
    value: Any
    cell: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecordInfo:
        """From :meth:`to_dict`."""
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class ValueCheck:
    """One recorded value of a job and of its rerun, and whether they match."""

    name: str
    original: Any
    rerun: Any
    match: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValueCheck:
        """From :meth:`to_dict`."""
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class Reproduction:
    """Whether a rerun reproduced its original, value by value.

    ``reproduced`` is None while the rerun has not finished, and when there is nothing to
    compare: the original was cancelled before it recorded a value.
    """

    original: JobInfo
    rerun: JobInfo
    checks: list[ValueCheck]

    @property
    def comparable(self) -> bool:
        """Whether the original left anything to compare with.

        A cancelled job's status says someone stopped it, not how the notebook ends, so only
        the values it recorded before that count (the service compares only those).
        """
        return self.original.status != "cancelled" or bool(self.checks)

    @property
    def reproduced(self) -> bool | None:
        """True when the rerun succeeded as the original did and every value matched."""
        if not self.rerun.done or not self.comparable:
            return None
        cancelled = self.original.status == "cancelled"
        same_outcome = cancelled or self.rerun.status == self.original.status
        return same_outcome and all(c.match for c in self.checks)

    @property
    def verdict(self) -> str:
        """The verdict in words: reproduced, did NOT reproduce, still running, or why not."""
        if not self.rerun.done:
            return "still running"
        if not self.comparable:
            return "nothing to compare: the original was cancelled before it recorded a value"
        return "reproduced" if self.reproduced else "did NOT reproduce"

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "original": self.original.to_dict(),
            "rerun": self.rerun.to_dict(),
            "checks": [c.to_dict() for c in self.checks],
            "reproduced": self.reproduced,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reproduction:
        """From :meth:`to_dict`."""
        return cls(
            JobInfo.from_dict(data["original"]),
            JobInfo.from_dict(data["rerun"]),
            [ValueCheck.from_dict(c) for c in data["checks"]],
        )

    def _repr_html_(self) -> str:
        head = (
            f"<p>Job {html.escape(self.rerun.id)} (rerun of {html.escape(self.original.id)}): "
            f"<b>{html.escape(self.verdict)}</b></p>"
        )
        rows = "".join(
            f"<tr><td>{html.escape(c.name)}</td><td>{html.escape(repr(c.original))}</td>"
            f"<td>{html.escape(repr(c.rerun))}</td><td>{'✓' if c.match else '✗'}</td></tr>"
            for c in self.checks
        )
        table = "<tr><th>value</th><th>original</th><th>rerun</th><th>match</th></tr>"
        return f"{head}<table>{table}{rows}</table>"
