"""``ll.templates`` and ``ll.jobs`` on a local workspace: the services, as the client's user."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lepton_lab.client.api import JobsAPI, TemplatesAPI
from lepton_lab.client.handles import Job
from lepton_lab.errors import InvalidInput
from lepton_lab.paging import Page
from lepton_lab.runs.info import JobInfo, LogChunk, RecordInfo, Reproduction, TemplateInfo

if TYPE_CHECKING:
    from lepton_lab.client.local import LocalClient

__all__ = ["LocalJobs", "LocalTemplates", "notebook_source"]


def notebook_source(template: str | Path) -> tuple[str | None, bytes | None, str]:
    """(template name, notebook bytes, display name): a path to an ``.ipynb`` is read."""
    if isinstance(template, Path) or str(template).endswith(".ipynb"):
        path = Path(template)
        if not path.is_file():
            raise InvalidInput(f"no notebook file {str(path)!r}")
        return None, path.read_bytes(), path.name
    if not isinstance(template, str):
        raise InvalidInput("give a template name or a path to an .ipynb notebook")
    return template, None, ""


class LocalTemplates(TemplatesAPI):
    """``ll.templates`` on a local workspace."""

    def __init__(self, client: LocalClient, jobs: LocalJobs) -> None:
        self._client = client
        self._service = client.workspace.templates
        self._jobs = jobs

    def list(
        self, query: str = "", *, team: str | None = None, tag: str | None = None
    ) -> builtins.list[TemplateInfo]:
        """Templates you may see (latest versions), shipped ones first, matching ``query``."""
        return self._service.list(self._client.actor(), query, team=team, tag=tag)

    def get(self, name: str) -> TemplateInfo:
        """One template with its parameters."""
        return self._service.get(self._client.actor(), name)

    def versions(self, name: str) -> builtins.list[TemplateInfo]:
        """Every version of a template, newest first."""
        return self._service.versions(self._client.actor(), name)

    def publish(
        self,
        notebook: str | Path,
        name: str,
        *,
        description: str | None = None,
        tags: builtins.list[str] | None = None,
        visibility: str | None = None,
    ) -> TemplateInfo:
        """Publish a notebook file as template ``team/name``."""
        path = Path(notebook)
        if not path.is_file():
            raise InvalidInput(f"no notebook file {str(path)!r}")
        return self._service.publish(
            self._client.actor(),
            path.read_bytes(),
            name,
            description=description,
            tags=tags,
            visibility=visibility,
        )

    def notebook(self, name: str) -> bytes:
        """The template's notebook file."""
        return self._service.notebook(self._client.actor(), name)


class LocalJobs(JobsAPI):
    """``ll.jobs`` on a local workspace."""

    def __init__(self, client: LocalClient) -> None:
        self._client = client
        self._service = client.workspace.jobs

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
        """Queue a job: a template name or a notebook path, with typed ``parameters``."""
        name, content, label = notebook_source(template)
        info = self._service.submit(
            self._client.actor(),
            name,
            parameters,
            notebook=content,
            notebook_name=label,
            gpus=gpus,
            seed=seed,
            timeout=timeout,
            retries=retries,
            kernel=kernel,
            team=team,
        )
        return Job(self, info)

    def get(self, job_id: str) -> JobInfo:
        """The job's state now."""
        return self._service.get(self._client.actor(), job_id)

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
        return self._service.list(
            self._client.actor(),
            status=status,
            template=template,
            user=user,
            limit=limit,
            offset=offset,
        )

    def cancel(self, job_id: str) -> JobInfo:
        """Cancel a queued or running job."""
        return self._service.cancel(self._client.actor(), job_id)

    def resubmit(self, job_id: str) -> JobInfo:
        """Queue the job's manifest again."""
        return self._service.resubmit(self._client.actor(), job_id)

    def reproduction(self, job_id: str) -> Reproduction:
        """Compare a rerun with its original, value by value."""
        return self._service.reproduction(self._client.actor(), job_id)

    def logs(self, job_id: str, *, after: int = 0, limit: int = 1000) -> builtins.list[LogChunk]:
        """Log chunks numbered above ``after``."""
        return self._service.logs(self._client.actor(), job_id, after=after, limit=limit)

    def records(self, job_id: str) -> builtins.list[RecordInfo]:
        """Values the job recorded."""
        return self._service.records(self._client.actor(), job_id)

    def notebook(self, job_id: str) -> bytes:
        """The executed output notebook."""
        return self._service.notebook(self._client.actor(), job_id)
