"""The Python API, defined once: what ``ll.datasets``, ``ll.teams`` and a client offer.

Two backends implement it with the same names, arguments, return types and errors:

* :class:`~lepton_lab.client.local.LocalClient`: the services in this process, on a
  workspace (a database and a blob store) this process opens (single user, embedded);
* :class:`~lepton_lab.client.remote.RemoteClient`: a Lepton Lab server over REST
  (multi-user: the kernel holds a token, never database credentials).

Code written against these protocols runs unchanged on either; the client test suite
runs every test once per backend to keep it so.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lepton_lab.client.api_models import ModelsAPI
from lepton_lab.client.handles import Job

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from lepton_lab.catalog.info import DatasetInfo, VersionInfo
    from lepton_lab.events import EventInfo
    from lepton_lab.membership import TeamInfo
    from lepton_lab.paging import Page
    from lepton_lab.runs.info import JobInfo, LogChunk, RecordInfo, Reproduction, TemplateInfo
    from lepton_lab.widgets.datasets import DatasetBrowser
    from lepton_lab.widgets.jobs import JobMonitor
    from lepton_lab.widgets.templates import TemplateGallery

__all__ = ["Client", "DatasetsAPI", "JobsAPI", "ModelsAPI", "TeamsAPI", "TemplatesAPI"]


class DatasetsAPI(Protocol):
    """``ll.datasets``: register, find, inspect and load shared datasets."""

    def register(
        self,
        data: Any,
        name: str,
        *,
        description: str | None = None,
        tags: list[str] | None = None,
        visibility: str | None = None,
        format: str | None = None,
    ) -> VersionInfo:
        """Register a DataFrame, pyarrow Table or file (path or fsspec URL) as ``team/name``.

        Returns the new version, or the existing one when the same content was registered
        before (``created`` is then False).  ``visibility`` is private, team (default) or org.
        """
        ...

    def load(
        self, ref: str, *, columns: list[str] | None = None, limit: int | None = None
    ) -> pd.DataFrame:
        """``ll.datasets.load("team/name@3")``: the data as a DataFrame (latest when unpinned)."""
        ...

    def load_table(
        self, ref: str, *, columns: list[str] | None = None, limit: int | None = None
    ) -> pa.Table:
        """The data as a pyarrow Table."""
        ...

    def path(self, ref: str) -> Path:
        """A verified local Parquet file holding the version (read-only: do not modify it)."""
        ...

    def get(self, ref: str) -> DatasetInfo:
        """The dataset's card, owner, visibility, tags and latest version."""
        ...

    def version(self, ref: str) -> VersionInfo:
        """One version (the latest when ``ref`` has no ``@N``)."""
        ...

    def versions(self, ref: str) -> list[VersionInfo]:
        """Every version, newest first."""
        ...

    def profile(self, ref: str) -> dict[str, Any]:
        """Column profile: types, nulls, distinct counts, statistics, histograms, top values."""
        ...

    def preview(self, ref: str, limit: int = 20) -> pd.DataFrame:
        """The first rows, from what was stored at registration (the data is not read)."""
        ...

    def search(
        self,
        query: str = "",
        *,
        team: str | None = None,
        tag: str | None = None,
        owner: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> Page[DatasetInfo]:
        """Datasets you may see matching ``query``; ``.next_offset`` pages on."""
        ...

    def update(
        self,
        ref: str,
        *,
        description: str | None = None,
        tags: list[str] | None = None,
        visibility: str | None = None,
    ) -> DatasetInfo:
        """Change the card (markdown description), tags or visibility."""
        ...

    def teams(self) -> list[tuple[str, int]]:
        """Teams owning datasets you can see, with how many each."""
        ...

    def tags(self) -> list[tuple[str, int]]:
        """Tags in use, most used first."""
        ...

    def events(self, ref: str, limit: int = 50) -> list[EventInfo]:
        """Who changed the dataset, when, and how (newest first)."""
        ...

    def link(self, ref: str, node: str, kind: str) -> None:
        """Record in the lineage that ``node`` (``training:…``, ``job:…``) used ``ref``.

        ``kind`` is trained_on, evaluated_on, produced or registered_from.
        """
        ...

    # Written once here: both backends subclass this protocol and inherit it, since the
    # widget only calls the methods above.
    def browse(
        self,
        query: str = "",
        *,
        team: str | None = None,
        tag: str | None = None,
        page_size: int = 20,
    ) -> DatasetBrowser:
        """The shared dataset browser widget: search, filter, inspect, load."""
        from lepton_lab.widgets.datasets import DatasetBrowser

        return DatasetBrowser(self, query=query, team=team, tag=tag, page_size=page_size)


class TeamsAPI(Protocol):
    """``ll.teams``: teams and their members."""

    def list(self) -> list[TeamInfo]:
        """Every team with its members."""
        ...

    def get(self, slug: str) -> TeamInfo:
        """One team."""
        ...

    def create(self, slug: str, *, title: str = "", description: str = "") -> TeamInfo:
        """Create a team; you become its admin."""
        ...

    def add_member(self, slug: str, user: str, role: str = "contributor") -> TeamInfo:
        """Add a member or change their role (team admins)."""
        ...

    def remove_member(self, slug: str, user: str) -> TeamInfo:
        """Remove a member (team admins)."""
        ...


class TemplatesAPI(Protocol):
    """``ll.templates``: the gallery of parameterised notebooks that run as jobs."""

    def list(
        self, query: str = "", *, team: str | None = None, tag: str | None = None
    ) -> builtins.list[TemplateInfo]:
        """Templates you may see (latest versions), shipped ones first, matching ``query``."""
        ...

    def get(self, name: str) -> TemplateInfo:
        """One template (``dataset-report``, ``team/name``, ``team/name@2``) with its parameters."""
        ...

    def versions(self, name: str) -> builtins.list[TemplateInfo]:
        """Every version of a template, newest first."""
        ...

    def publish(
        self,
        notebook: str | Path,
        name: str,
        *,
        description: str | None = None,
        tags: builtins.list[str] | None = None,
        visibility: str | None = None,
    ) -> TemplateInfo:
        """Publish a notebook file as template ``team/name`` (a new version when it changed)."""
        ...

    def notebook(self, name: str) -> bytes:
        """The template's notebook file (``.ipynb`` JSON)."""
        ...

    # Shared by both backends, like DatasetsAPI.browse.
    def browse(self, query: str = "") -> TemplateGallery:
        """The template gallery widget: cards, a parameter form per template, a Run button."""
        from lepton_lab.widgets.templates import TemplateGallery

        # The form offers the datasets you can see for dataset parameters.
        datasets = getattr(getattr(self, "_client", None), "datasets", None)
        return TemplateGallery(self, _jobs_of(self), query=query, datasets_api=datasets)


class JobsAPI(Protocol):
    """``ll.jobs``: submit templates or notebooks as reproducible jobs, follow and rerun them."""

    def submit(
        self,
        template: str | Path,
        parameters: dict[str, Any] | None = None,
        *,
        gpus: int | None = None,
        seed: int | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        kernel: str | None = None,
        team: str | None = None,
    ) -> Job:
        """Queue a job: a template name or a notebook path, with typed ``parameters``.

        Parameters are checked against the template's schema and dataset references pinned
        to versions before anything is queued.  ``gpus``, ``kernel`` default to the
        template's; ``seed`` to a random one (recorded in the manifest); ``timeout`` (seconds)
        to none; ``retries`` (after a lost runner) to 1; ``team`` shares the job with a team.
        """
        ...

    def get(self, job_id: str) -> JobInfo:
        """The job's state now."""
        ...

    def list(
        self,
        *,
        status: str | None = None,
        template: str | None = None,
        user: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> Page[JobInfo]:
        """Jobs you may see, newest first."""
        ...

    def cancel(self, job_id: str) -> JobInfo:
        """Cancel a queued or running job (its kernel is stopped)."""
        ...

    def resubmit(self, job_id: str) -> JobInfo:
        """Queue the job's manifest again (same notebook, parameters, pins and seed)."""
        ...

    def reproduction(self, job_id: str) -> Reproduction:
        """Compare a rerun (a job made by :meth:`resubmit`) with its original, value by value."""
        ...

    def logs(self, job_id: str, *, after: int = 0, limit: int = 1000) -> builtins.list[LogChunk]:
        """What the job's cells printed, chunks numbered above ``after``."""
        ...

    def records(self, job_id: str) -> builtins.list[RecordInfo]:
        """Values the job recorded with ``ll.record``."""
        ...

    def notebook(self, job_id: str) -> bytes:
        """The executed output notebook (``.ipynb`` JSON); saved on every outcome."""
        ...

    # -- written once here, on the methods above ---------------------------------------

    def job(self, job_id: str) -> Job:
        """A handle on an existing job."""
        return Job(self, self.get(job_id))

    def wait(self, job_id: str, timeout: float | None = None) -> JobInfo:
        """Block until the job ends (or ``timeout`` seconds pass: then :class:`TimeoutError`)."""
        from lepton_lab.client.handles import wait_for

        return wait_for(self, job_id, timeout)

    def follow(self, job_id: str, *, poll: float = 0.5) -> Iterator[LogChunk]:
        """Yield the job's log chunks as they are written, until the job ends."""
        from lepton_lab.client.handles import follow_logs

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
        from lepton_lab.client.handles import save_notebook

        return save_notebook(self, job_id, folder)

    def monitor(self, job_id: str) -> JobMonitor:
        """The job monitor widget: live status, progress, logs, values, cancel and rerun."""
        from lepton_lab.widgets.jobs import JobMonitor

        return JobMonitor(self, job_id)


def _jobs_of(templates: TemplatesAPI) -> JobsAPI:
    """The jobs API beside a templates API (both backends set ``_jobs``)."""
    jobs: JobsAPI = getattr(templates, "_jobs")  # noqa: B009 - set by the backends
    return jobs


class Client(Protocol):
    """Lepton Lab for one user: ``.datasets``, ``.teams``, :meth:`whoami`, :meth:`close`."""

    @property
    def datasets(self) -> DatasetsAPI:
        """Shared datasets."""
        ...

    @property
    def teams(self) -> TeamsAPI:
        """Teams and members."""
        ...

    @property
    def templates(self) -> TemplatesAPI:
        """The template gallery."""
        ...

    @property
    def jobs(self) -> JobsAPI:
        """Reproducible jobs."""
        ...

    @property
    def models(self) -> ModelsAPI:
        """The model gallery."""
        ...

    def whoami(self) -> dict[str, Any]:
        """``{"user", "site_admin", "teams": {team: role}, "workspace"}``.

        ``workspace`` is the workspace folder (local) or the server's URL (remote).
        """
        ...

    def close(self) -> None:
        """Release connections; the client is not used afterwards."""
        ...
