"""``ll.templates`` and ``ll.jobs`` over a Lepton Lab server's REST API.

The same names, arguments, return values and errors as :mod:`lepton_lab.client.local_runs`:
names and values are checked here where the local backend checks them before anything
is sent, so that a mistake raises the same error class on either backend.  A notebook
(to publish, or to run) travels as the file's text, so that it is stored byte for byte
as the local backend stores it.
"""

from __future__ import annotations

import builtins
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lepton_lab.client.api import JobsAPI, TemplatesAPI
from lepton_lab.client.handles import Job
from lepton_lab.client.local_runs import notebook_source
from lepton_lab.errors import InvalidInput, NotFound
from lepton_lab.paging import Page
from lepton_lab.runs.info import JobInfo, LogChunk, RecordInfo, Reproduction, TemplateInfo
from lepton_lab.runs.templates import parse_template_ref

if TYPE_CHECKING:
    from lepton_lab.client.remote import RemoteClient

__all__ = ["RemoteJobs", "RemoteTemplates"]

# The server routes /templates/{name}/versions and …/notebook before /templates/{team}/{name}.
_SUB_RESOURCES = frozenset({"versions", "notebook"})


def _template(name: str) -> tuple[str, ...]:
    """The URL path of a template: ``templates/{name}`` or ``templates/{team}/{name}``."""
    base, version = parse_template_ref(name)  # the local backend's check and message
    *team, last = base.split("/")
    if version is not None:
        last += f"@{version}"
    elif team and last in _SUB_RESOURCES:
        last += "@latest"  # a team template called "versions" is not a shipped one's versions
    return ("templates", *team, last)


def _job(job_id: str) -> tuple[str, str]:
    """The URL path of a job; what names none is not found, as the local backend says."""
    if not isinstance(job_id, str) or not job_id.strip() or "\x00" in job_id:
        raise NotFound(f"no job {job_id!r}; lepton-lab jobs list shows yours")
    return ("jobs", job_id)


def _text(content: bytes, where: str) -> str:
    """A notebook file's bytes as the text a JSON body carries."""
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{where} is not a Jupyter notebook (.ipynb JSON): {exc}") from None


def _json_body(body: dict[str, Any]) -> dict[str, Any]:
    """Send ``body`` as JSON (None values left out); a value JSON cannot hold is bad input."""
    given = {k: v for k, v in body.items() if v is not None}
    try:
        data = json.dumps(given, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"cannot send this as JSON ({exc}): use numbers, text, booleans, lists and dicts"
        ) from None
    return {"data": data.encode(), "headers": {"Content-Type": "application/json"}}


class RemoteTemplates(TemplatesAPI):
    """``ll.templates`` over REST."""

    def __init__(self, client: RemoteClient, jobs: RemoteJobs) -> None:
        self._http = client.transport
        self._jobs = jobs

    def list(
        self, query: str = "", *, team: str | None = None, tag: str | None = None
    ) -> builtins.list[TemplateInfo]:
        """Templates you may see (latest versions), shipped ones first, matching ``query``."""
        given = {"q": query, "team": team, "tag": tag}
        params = {k: str(v) for k, v in given.items() if v}
        answer = self._http.json("GET", "templates", params=params)
        return [TemplateInfo.from_dict(t) for t in answer["items"]]

    def get(self, name: str) -> TemplateInfo:
        """One template with its parameters."""
        return TemplateInfo.from_dict(self._http.json("GET", *_template(name)))

    def versions(self, name: str) -> builtins.list[TemplateInfo]:
        """Every version of a template, newest first."""
        answer = self._http.json("GET", *_template(name), "versions")
        return [TemplateInfo.from_dict(t) for t in answer["items"]]

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
        body = {
            "name": name,
            "notebook": _text(path.read_bytes(), f"notebook for {name}"),
            "description": description,
            "tags": tags,
            "visibility": visibility,
        }
        return TemplateInfo.from_dict(self._http.json("POST", "templates", **_json_body(body)))

    def notebook(self, name: str) -> bytes:
        """The template's notebook file."""
        return self._http.request("GET", *_template(name), "notebook").content


class RemoteJobs(JobsAPI):
    """``ll.jobs`` over REST."""

    def __init__(self, client: RemoteClient) -> None:
        self._http = client.transport

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
        """Queue a job: a template name or a notebook path (its file is sent), with parameters."""
        name, content, label = notebook_source(template)
        body = {
            "template": name,
            "notebook": None if content is None else _text(content, label),
            "notebook_name": label or None,
            "parameters": parameters,
            "gpus": gpus,
            "seed": seed,
            "timeout": timeout,
            "retries": retries,
            "kernel": kernel,
            "team": team,
        }
        info = JobInfo.from_dict(self._http.json("POST", "jobs", **_json_body(body)))
        return Job(self, info)

    def get(self, job_id: str) -> JobInfo:
        """The job's state now."""
        return JobInfo.from_dict(self._http.json("GET", *_job(job_id)))

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
        given = {"status": status, "template": template, "user": user}
        params = {k: str(v) for k, v in given.items() if v is not None}
        params.update(limit=str(limit), offset=str(offset))
        answer = self._http.json("GET", "jobs", params=params)
        items = [JobInfo.from_dict(j) for j in answer["items"]]
        return Page(items, answer["total"], answer["offset"], answer["limit"])

    def cancel(self, job_id: str) -> JobInfo:
        """Cancel a queued or running job."""
        return JobInfo.from_dict(self._http.json("POST", *_job(job_id), "cancel"))

    def resubmit(self, job_id: str) -> JobInfo:
        """Queue the job's manifest again."""
        return JobInfo.from_dict(self._http.json("POST", *_job(job_id), "rerun"))

    def reproduction(self, job_id: str) -> Reproduction:
        """Compare a rerun with its original, value by value."""
        return Reproduction.from_dict(self._http.json("GET", *_job(job_id), "reproduction"))

    def logs(self, job_id: str, *, after: int = 0, limit: int = 1000) -> builtins.list[LogChunk]:
        """Log chunks numbered above ``after``."""
        params = {"after": str(after), "limit": str(limit)}
        answer = self._http.json("GET", *_job(job_id), "logs", params=params)
        return [LogChunk.from_dict(c) for c in answer["items"]]

    def records(self, job_id: str) -> builtins.list[RecordInfo]:
        """Values the job recorded."""
        answer = self._http.json("GET", *_job(job_id), "records")
        return [RecordInfo.from_dict(r) for r in answer["items"]]

    def notebook(self, job_id: str) -> bytes:
        """The executed output notebook."""
        return self._http.request("GET", *_job(job_id), "notebook").content
