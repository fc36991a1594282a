"""A handle on a job, and the waiting, following and saving both backends share.

``ll.jobs.submit(...)`` returns a :class:`Job`: it knows its id and asks the jobs API
(local or remote) for anything else, so that it stays true while the job runs elsewhere.
"""

from __future__ import annotations

import html
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from lepton_lab.client.jobs import Jobs as JobsAPI
    from lepton_lab.runs.info import JobInfo, LogChunk, RecordInfo, Reproduction

__all__ = ["Handle", "Job", "follow_logs", "poll", "save_notebook", "wait_for"]

# Polls start fast (short jobs end in a fraction of a second) and back off to this.
_MAX_POLL = 1.0


class _State(Protocol):
    """What a handle's info tells: the id, the status, and whether it has ended."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def done(self) -> bool: ...


_S = TypeVar("_S", bound=_State)


def poll(fetch: Callable[[], _S], timeout: float | None, late: Callable[[_S], str]) -> _S:
    """Call ``fetch`` until what it answers is done, often at first and then once a
    second; :class:`TimeoutError` saying ``late(last answer)`` after ``timeout`` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.02
    while True:
        state = fetch()
        if state.done:
            return state
        if deadline is not None and time.monotonic() >= deadline:
            raise TimeoutError(late(state))
        left = delay if deadline is None else deadline - time.monotonic()
        time.sleep(max(0.0, min(delay, left)))
        delay = min(delay * 1.5, _MAX_POLL)


class Handle(ABC, Generic[_S]):
    """A handle on something that runs elsewhere (a job, a group of jobs): its state as
    last fetched in :attr:`info`, fetched again when asked."""

    def __init__(self, info: _S) -> None:
        self.info = info

    @property
    def id(self) -> str:
        """Its id."""
        return self.info.id

    @property
    def status(self) -> str:
        """Its status, fetched now."""
        return self.refresh().status

    def refresh(self) -> _S:
        """Fetch the state and keep it in :attr:`info`."""
        self.info = self._fetch()
        return self.info

    @abstractmethod
    def _fetch(self) -> _S:
        """The state, fetched now."""


class Job(Handle["JobInfo"]):
    """A submitted job: ``job.wait()``, ``job.outputs``, ``job.notebook_path``, ``job.logs()``.

    Its :attr:`status` is queued, running, succeeded, failed, cancelled or lost.
    """

    def __init__(self, api: JobsAPI, info: JobInfo) -> None:
        super().__init__(info)
        self._api = api

    def _fetch(self) -> JobInfo:
        return self._api.get(self.id)

    def wait(self, timeout: float | None = None) -> Job:
        """Block until the job ends; returns the handle (``job.wait().outputs``)."""
        self.info = self._api.wait(self.id, timeout)
        return self

    @property
    def records(self) -> list[RecordInfo]:
        """Values recorded with ``ll.record``, with their kinds."""
        return self._api.records(self.id)

    @property
    def outputs(self) -> dict[str, Any]:
        """Recorded values by name (tables as DataFrames, figures as PNG bytes)."""
        from lepton_lab.runs.record import to_python

        return {r.name: to_python(r) for r in self.records}

    @property
    def notebook_path(self) -> Path:
        """The output notebook, saved as ``lepton-jobs/{id}.ipynb`` under the current folder."""
        return self._api.notebook_path(self.id)

    def logs(self, after: int = 0) -> str:
        """Everything the cells printed so far, as one text."""
        return "".join(c.text for c in self._api.logs(self.id, after=after, limit=100_000))

    def follow(self) -> Iterator[LogChunk]:
        """Log chunks as they are written, until the job ends."""
        return self._api.follow(self.id)

    def cancel(self) -> JobInfo:
        """Cancel the job (its kernel is stopped if it runs)."""
        self.info = self._api.cancel(self.id)
        return self.info

    def rerun(self, *, wait: bool = True, timeout: float | None = None) -> Reproduction:
        """Run the manifest again and compare the recorded values."""
        return self._api.rerun(self.id, wait=wait, timeout=timeout)

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.info.template} {self.info.status}>"

    def _repr_html_(self) -> str:
        return f"<p>Job <code>{html.escape(self.id)}</code></p>" + self.info._repr_html_()


def wait_for(api: JobsAPI, job_id: str, timeout: float | None) -> JobInfo:
    """Poll until the job ends; :class:`TimeoutError` after ``timeout`` seconds."""
    return poll(
        lambda: api.get(job_id),
        timeout,
        lambda info: (
            f"job {job_id} is still {info.status} after {timeout:g} s; "
            f"wait longer, or cancel it: lepton-lab jobs cancel {job_id}"
        ),
    )


def follow_logs(api: JobsAPI, job_id: str, *, poll: float = 0.5) -> Iterator[LogChunk]:
    """Yield log chunks as they arrive; stop once the job has ended and all is read."""
    after = 0
    while True:
        done = api.get(job_id).done  # read before the logs, so that none are missed
        chunks = api.logs(job_id, after=after)
        yield from chunks
        if chunks:
            after = chunks[-1].seq
        elif done:
            return
        else:
            time.sleep(poll)


def save_notebook(api: JobsAPI, job_id: str, folder: str | Path | None) -> Path:
    """Write the job's output notebook into ``folder`` (default ``lepton-jobs``)."""
    target = Path(folder if folder is not None else "lepton-jobs")
    target.mkdir(parents=True, exist_ok=True)
    path = target / f"{job_id}.ipynb"
    path.write_bytes(api.notebook(job_id))
    return path
