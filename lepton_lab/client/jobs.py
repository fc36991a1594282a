"""``ll.jobs``: submit templates or notebooks as reproducible jobs, follow and rerun them."""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from typing_extensions import Unpack

from lepton_lab.client.backend import Backend
from lepton_lab.client.groups import Group
from lepton_lab.client.handles import Job, follow_logs, save_notebook, wait_for
from lepton_lab.contract import Operation
from lepton_lab.contract import groups as group_ops
from lepton_lab.contract import jobs as ops
from lepton_lab.errors import InvalidInput, NotFound
from lepton_lab.paging import Page
from lepton_lab.runs.groups import GroupInfo
from lepton_lab.runs.info import (
    JobFilterArgs,
    JobInfo,
    JobOptionArgs,
    LogChunk,
    RecordInfo,
    Reproduction,
    keywords,
)

__all__ = ["Jobs", "notebook_source"]


def notebook_source(template: str | Path) -> tuple[str | None, str | None, str]:
    """(template name, notebook text, display name): a path to an ``.ipynb`` is read.

    The file's text travels as it is, so that it is stored (and hashed) byte for byte.
    """
    if isinstance(template, Path) or str(template).endswith(".ipynb"):
        path = Path(template)
        if not path.is_file():
            raise InvalidInput(f"no notebook file {str(path)!r}")
        try:
            return None, path.read_bytes().decode("utf-8"), path.name
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"{path.name} is not a Jupyter notebook (.ipynb JSON): {exc}"
            ) from None
    if not isinstance(template, str):
        raise InvalidInput("give a template name or a path to an .ipynb notebook")
    return template, None, ""


class Jobs:
    """``ll.jobs``: submit templates or notebooks as reproducible jobs, follow and rerun them."""

    #: The handle :meth:`submit` and :meth:`job` return (the widgets' adds a monitor).
    handle: ClassVar[type[Job]] = Job

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def submit(
        self,
        template: str | Path,
        parameters: dict[str, Any] | None = None,
        *,
        team: str | None = None,
        **options: Unpack[JobOptionArgs],
    ) -> Job:
        """Queue a job: a template name or a notebook path, with typed ``parameters``.

        Parameters are checked against the template's schema and dataset references pinned
        to versions before anything is queued.  ``gpus``, ``kernel`` default to the
        template's; ``seed`` to a random one (recorded in the manifest); ``timeout`` (seconds)
        to none; ``retries`` (after a lost runner) to 1; ``team`` shares the job with a team.
        ``notify`` sends webhooks or e-mails when it ends, e.g. ``{"email": ["ana@x.org"]}``
        (on failures; add ``"on": ["succeeded", "failed"]`` for more; docs/jobs.md).
        """
        name, text, label = notebook_source(template)
        info: JobInfo = self._backend.call(
            ops.SUBMIT,
            template=name,
            notebook=text,
            notebook_name=label or None,
            parameters=parameters,
            team=team,
            **keywords(options, JobOptionArgs),
        )
        return self.handle(self, info)

    def get(self, job_id: str) -> JobInfo:
        """The job's state now."""
        info: JobInfo = self._on_job(ops.GET, job_id)
        return info

    def list(self, **filters: Unpack[JobFilterArgs]) -> Page[JobInfo]:
        """Jobs you may see, newest first (20 unless ``limit`` says)."""
        page: Page[JobInfo] = self._backend.call(ops.LIST, **keywords(filters, JobFilterArgs))
        return page

    def cancel(self, job_id: str) -> JobInfo:
        """Cancel a queued or running job (its kernel is stopped)."""
        info: JobInfo = self._on_job(ops.CANCEL, job_id)
        return info

    def resubmit(self, job_id: str) -> JobInfo:
        """Queue the job's manifest again (same notebook, parameters, pins and seed)."""
        info: JobInfo = self._on_job(ops.RESUBMIT, job_id)
        return info

    def reproduction(self, job_id: str) -> Reproduction:
        """Compare a rerun (a job made by :meth:`resubmit`) with its original, value by value."""
        report: Reproduction = self._on_job(ops.REPRODUCTION, job_id)
        return report

    def logs(self, job_id: str, *, after: int = 0, limit: int = 1000) -> builtins.list[LogChunk]:
        """What the job's cells printed, chunks numbered above ``after``."""
        chunks: builtins.list[LogChunk] = self._on_job(ops.LOGS, job_id, after=after, limit=limit)
        return chunks

    def records(self, job_id: str) -> builtins.list[RecordInfo]:
        """Values the job recorded with ``ll.record``."""
        records: builtins.list[RecordInfo] = self._on_job(ops.RECORDS, job_id)
        return records

    def notebook(self, job_id: str) -> bytes:
        """The executed output notebook (``.ipynb`` JSON); saved on every outcome."""
        content: bytes = self._on_job(ops.NOTEBOOK, job_id)
        return content

    def _on_job(self, op: Operation, job_id: str, **values: Any) -> Any:
        """Call ``op`` on one job.  What names no job (nothing, a NUL) is not found, as the
        service says, on either backend: a URL's path could not even hold it."""
        if not isinstance(job_id, str) or not job_id.strip() or "\x00" in job_id:
            raise NotFound(f"no job {job_id!r}; lepton-lab jobs list shows yours")
        return self._backend.call(op, job_id=job_id, **values)

    def sweep(
        self,
        template: str,
        grid: dict[str, builtins.list[Any]],
        parameters: dict[str, Any] | None = None,
        **options: Any,
    ) -> Group:
        """One job of ``template`` per combination of ``grid``, as one group.

        ``ll.jobs.sweep("compare-models", grid={"cv": [3, 5], "dataset": ["agri/wine"]})``;
        ``parameters`` are the same for every job; ``options`` are job options (gpus,
        timeout, retries, kernel, seed, team).  Every combination is checked before any
        job is queued.  ``sweep.results()`` is a table of parameters against recorded values.
        """
        info: GroupInfo = self._backend.call(
            group_ops.SWEEP, template=template, grid=grid, parameters=parameters, **options
        )
        return Group(self._backend, info)

    def group(self, group_id: str) -> Group:
        """A handle on an existing sweep or pipeline run."""
        return Group(self._backend, self._backend.call(group_ops.GET, group_id=group_id))

    def groups(self, *, kind: str | None = None, limit: int = 20) -> builtins.list[GroupInfo]:
        """Sweeps and pipeline runs you may see, newest first."""
        found: builtins.list[GroupInfo] = self._backend.call(group_ops.LIST, kind=kind, limit=limit)
        return found

    def job(self, job_id: str) -> Job:
        """A handle on an existing job."""
        return self.handle(self, self.get(job_id))

    def wait(self, job_id: str, timeout: float | None = None) -> JobInfo:
        """Block until the job ends (or ``timeout`` seconds pass: then :class:`TimeoutError`)."""
        return wait_for(self, job_id, timeout)

    def follow(self, job_id: str, *, poll: float = 0.5) -> Iterator[LogChunk]:
        """Yield the job's log chunks as they are written, until the job ends."""
        return follow_logs(self, job_id, poll=poll)

    def rerun(
        self, job_id: str, *, wait: bool = True, timeout: float | None = None
    ) -> Reproduction:
        """Run the job's manifest again and report, value by value, whether it reproduced.

        With ``wait=False`` the report is of a rerun still queued (``reproduced`` is None);
        ask :meth:`reproduction` with the rerun's id later.
        """
        rerun = self.resubmit(job_id)
        if wait:
            self.wait(rerun.id, timeout)
        return self.reproduction(rerun.id)

    def notebook_path(self, job_id: str, folder: str | Path | None = None) -> Path:
        """Save the output notebook as ``{folder}/{job_id}.ipynb`` (default ``lepton-jobs/``)."""
        return save_notebook(self, job_id, folder)
