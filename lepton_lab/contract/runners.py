"""Runners: the job protocol of a shared deployment's runners, over HTTP.

Only a runner token may call these (``role="runner"``); a user's token, a Hub token or a
job token is refused, and a runner token may call nothing else.  The server runs them on
:class:`~lepton_lab.runs.desk.RunnerDesk`, with the lease and fencing rules of a runner
that reaches the database itself: every report names the job and the attempt it claimed,
and a report for a lease that was handed on matches nothing (``{"ok": false}``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from typing_extensions import TypedDict

from lepton_lab.contract.core import Nothing, Operation, Plain, Reply, Request, declare
from lepton_lab.runs.desk import Claimed, HeartbeatAnswer, RunnerDesk
from lepton_lab.runs.info import RecordInfo
from lepton_lab.runs.leases import Claim

__all__ = [
    "CLAIM",
    "FINISH",
    "HEARTBEAT",
    "LOGS",
    "LOSE",
    "PROGRESS",
    "RECORD",
    "REGISTER",
    "START",
    "SWEEP",
    "UNREGISTER",
]

_JOB = "/runners/{runner_id}/jobs/{job_id}"
_ONLY = "Runner tokens only."
_USERS = "403 for every user (a runner token only)"


def _declare(
    name: str,
    method: str,
    path: str,
    request: type[Request],
    reply: Reply,
    run: Callable[[Any, Any, Any], Any],
    summary: str,
    note: str = "",
) -> Operation:
    """A runner operation: a runner token's alone, refused (403) to every user."""
    return declare(
        f"runners.{name}",
        method,
        path,
        request,
        reply,
        role="runner",
        run=run,
        summary=summary,
        doc=f"{_ONLY} {note}".strip(),
        refusals=(400, 403),
        owner_note=_USERS,
    )


class Registered(TypedDict):
    """The server's lease time: the runner heartbeats every third of it."""

    lease_seconds: float


class Ok(TypedDict):
    """Whether the job was still this runner's (False: its lease was handed on)."""

    ok: bool


class Runner(Request):
    """The runner the call is about."""

    runner_id: str


class Register(Runner):
    """Where the runner runs and what it holds."""

    host: str
    pid: int
    gpus: int
    capacity: int


REGISTER = _declare(
    "register",
    "POST",
    "/runners/{runner_id}",
    Register,
    Plain(Registered),
    lambda ws, _, r: RunnerDesk(ws).register(
        r.runner_id, host=r.host, pid=r.pid, gpus=r.gpus, capacity=r.capacity
    ),
    "Announce a runner",
)

UNREGISTER = _declare(
    "unregister",
    "DELETE",
    "/runners/{runner_id}",
    Runner,
    Nothing(),
    lambda ws, _, r: RunnerDesk(ws).unregister(r.runner_id),
    "Mark a runner stopped",
)


class Beat(Runner):
    """The jobs the runner is running."""

    jobs: list[str]


HEARTBEAT = _declare(
    "heartbeat",
    "POST",
    "/runners/{runner_id}/heartbeat",
    Beat,
    Plain(HeartbeatAnswer, "HeartbeatAnswer"),
    lambda ws, _, r: RunnerDesk(ws).heartbeat(r.runner_id, r.jobs),
    "Extend a runner's leases; learn what to cancel",
)


class Take(Runner):
    """How many GPUs the runner has free."""

    free_gpus: int


CLAIM = _declare(
    "claim",
    "POST",
    "/runners/{runner_id}/claim",
    Take,
    Plain(Claimed | None),
    lambda ws, _, r: RunnerDesk(ws).claim(r.runner_id, r.free_gpus),
    "Claim the oldest queued job that fits, with a job token",
    note="The job token is answered once and stored hashed.",
)

SWEEP = _declare(
    "sweep",
    "POST",
    "/runners/{runner_id}/sweep",
    Runner,
    Plain(list[str]),
    lambda ws, _, r: RunnerDesk(ws).sweep(r.runner_id),
    "Requeue or lose the jobs whose lease expired",
)


class Report(Runner):
    """A report about a claimed job: the attempt fences it."""

    job_id: str
    attempt: int

    @property
    def claim(self) -> Claim:
        """What fences the report."""
        return Claim(self.job_id, self.attempt)


def _report(
    name: str,
    path: str,
    request: type[Report],
    run: Callable[[RunnerDesk, Any], bool],
    summary: str,
) -> Operation:
    """A runner's report about a job it claimed, posted under the job's path: it answers
    whether the job was still this runner's (:class:`Ok`)."""
    return _declare(
        name,
        "POST",
        _JOB + path,
        request,
        Plain(Ok),
        lambda ws, _, r: {"ok": run(RunnerDesk(ws), r)},
        summary,
    )


class Start(Report):
    """The devices given and the manifest known at start."""

    devices: list[int]
    manifest: dict[str, Any]


START = _report(
    "start",
    "/start",
    Start,
    lambda desk, r: desk.start(r.runner_id, r.claim, r.devices, r.manifest),
    "Record a job's start",
)


class Progress(Report):
    """Cells done of total, and the first line of the cell running."""

    done: int
    total: int
    current: str


PROGRESS = _report(
    "progress",
    "/progress",
    Progress,
    lambda desk, r: desk.progress(r.runner_id, r.claim, r.done, r.total, r.current),
    "Record a job's progress",
)


class Chunk(Request):
    """Text a cell wrote to one stream."""

    stream: Literal["stdout", "stderr"]
    text: str


class Logs(Report):
    """Chunks of output, in order."""

    chunks: list[Chunk]


LOGS = _report(
    "logs",
    "/logs",
    Logs,
    lambda desk, r: desk.logs(r.runner_id, r.claim, [(c.stream, c.text) for c in r.chunks]),
    "Append a job's logs",
)


class Record(Report):
    """A recorded value and its first position."""

    record: dict[str, Any]
    position: int


RECORD = _report(
    "record",
    "/records",
    Record,
    lambda desk, r: desk.record(r.runner_id, r.claim, RecordInfo.from_dict(r.record), r.position),
    "Store a job's recorded value",
)


class Finish(Report):
    """The outcome, the output notebook's text and the manifest."""

    status: Literal["succeeded", "failed", "cancelled"]
    reason: dict[str, Any] | None = None
    output: str
    manifest: dict[str, Any]
    devices: list[int] | None = None

    def outcome(self) -> dict[str, Any]:
        """These fields, as :meth:`~lepton_lab.runs.desk.RunnerDesk.finish` takes them."""
        return {
            name: getattr(self, name)
            for name in Finish.model_fields.keys() - Report.model_fields.keys()
        }


FINISH = _report(
    "finish",
    "/finish",
    Finish,
    lambda desk, r: desk.finish(r.runner_id, r.claim, **r.outcome()),
    "Record a job's outcome and output; revoke its token",
)


class Lose(Report):
    """Why the job's worker died."""

    why: str


LOSE = _report(
    "lose",
    "/lose",
    Lose,
    lambda desk, r: desk.lose(r.runner_id, r.claim, r.why),
    "A job's worker died: requeue it or mark it lost",
)
