"""Jobs: submit templates or notebooks, follow them, cancel, rerun, read what they made.

Submitting only queues the job (the service then starts a runner if none is alive and
``auto_start_runner`` is on); runners run it.  A job is seen by its submitter, site admins
and the team it is shared with; anyone else gets a 404.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import WithJsonSchema

from lepton_lab.contract.core import File, Info, Items, PageOf, Request, ServiceText, declare
from lepton_lab.contract.shapes import Filters, calls, reader
from lepton_lab.errors import InvalidInput
from lepton_lab.runs.info import JobInfo, LogChunk, RecordInfo, Reproduction
from lepton_lab.runs.queue import MAX_GPUS, JobService

__all__ = [
    "CANCEL",
    "GET",
    "LIST",
    "LOGS",
    "NOTEBOOK",
    "NOTEBOOK_MEDIA_TYPE",
    "RECORDS",
    "REPRODUCTION",
    "RESUBMIT",
    "SUBMIT",
    "NotebookValue",
    "notebook_bytes",
]

_read = reader("jobs")
_call = calls("jobs")


#: The media type of a notebook file.
NOTEBOOK_MEDIA_TYPE = "application/x-ipynb+json"


#: A notebook inside a JSON body: its JSON object, or the .ipynb file's text.  notebook_bytes
#: checks it, in its own words: any JSON value is taken by the request model.
NotebookValue = Annotated[
    Any,
    WithJsonSchema(
        {
            "type": ["object", "string"],
            "description": "The notebook: its JSON, or the .ipynb file's text (kept exactly).",
        }
    ),
]


def _count_up_to(high: int) -> WithJsonSchema:
    """The schema of a whole number from 0 to ``high`` that the job service checks (in its
    own words: "gpus must be a whole number from 0 to 64")."""
    return WithJsonSchema({"type": "integer", "minimum": 0, "maximum": high})


def notebook_bytes(value: Any, field: str = "notebook") -> bytes:
    """A notebook sent inside a JSON body, as the file's bytes.

    The file's text (a string) is kept exactly, so that it hashes as the file does; an
    object is written the way Jupyter writes notebooks.  Whether it is a valid notebook is
    for the services to say.
    """
    if isinstance(value, dict):
        value = json.dumps(value, indent=1, ensure_ascii=False, sort_keys=True) + "\n"
    if not isinstance(value, str):
        raise InvalidInput(
            f"{field} must be the notebook: its JSON object, or the .ipynb file's text"
        )
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate (\ud800) survives JSON decoding
        raise InvalidInput(f"{field} is not valid Unicode text: {exc.reason}") from None


class ListJobs(Filters):
    """Filters and the page wanted."""

    status: str | None = None
    template: str | None = None
    user: str | None = None
    limit: int = 20
    offset: int = 0


LIST = _read(
    JobService.list,
    "/jobs",
    ListJobs,
    PageOf(JobInfo),
    "Jobs you may see, newest first",
    refusals=(400,),
)


class Submit(Request):
    """A template name (``template``) or a notebook (``notebook``, ``notebook_name``)."""

    template: str | None = None
    notebook: NotebookValue = None
    notebook_name: ServiceText = None
    parameters: dict[str, Any] | None = None
    gpus: Annotated[Any, _count_up_to(MAX_GPUS)] = None
    seed: Annotated[Any, _count_up_to(2**32 - 1)] = None
    timeout: float | None = None
    retries: Annotated[Any, _count_up_to(10)] = None
    kernel: str | None = None
    team: ServiceText = None
    notify: dict[str, Any] | None = None
    """Webhooks and e-mails on the job's end: ``{"on": [...], "webhook": ..., "email": [...]}``."""


SUBMIT = declare(
    "jobs.submit",
    "POST",
    "/jobs",
    Submit,
    Info(JobInfo),
    role="user",
    run=lambda ws, actor, r: ws.jobs.submit(
        actor,
        r.template,
        r.parameters,
        notebook=None if r.notebook is None else notebook_bytes(r.notebook),
        notebook_name=r.notebook_name or "",
        gpus=r.gpus,
        seed=r.seed,
        timeout=r.timeout,
        retries=r.retries,
        kernel=r.kernel,
        team=r.team,
        notify=r.notify,
    ),
    status=201,
    summary="Queue a job: a template or a notebook, with typed parameters",
)


class OneJob(Request):
    """A job by id."""

    job_id: str


GET = _read(
    JobService.get,
    "/jobs/{job_id}",
    OneJob,
    Info(JobInfo),
    "The job's state now",
    owner_note="the submitter, the team it is shared with, site admins; others get 404",
)

CANCEL = _call(
    "POST",
    JobService.cancel,
    "/jobs/{job_id}/cancel",
    OneJob,
    Info(JobInfo),
    "Cancel a queued job, or stop a running one",
    role="editor",
    refusals=(400, 403, 404, 409),
    owner_note="404 for what they may not see; 403 unless its submitter or a team editor",
)

RESUBMIT = _call(
    "POST",
    JobService.resubmit,
    "/jobs/{job_id}/rerun",
    OneJob,
    Info(JobInfo),
    "Queue the job's manifest again (the new job)",
    role="user",
    status=201,
)

REPRODUCTION = _read(
    JobService.reproduction,
    "/jobs/{job_id}/reproduction",
    OneJob,
    Info(Reproduction),
    "A rerun compared with its original, value by value",
)


class Logs(Request):
    """A job, and the log chunks wanted."""

    job_id: str
    after: int = 0
    limit: int = 1000


LOGS = _read(
    JobService.logs,
    "/jobs/{job_id}/logs",
    Logs,
    Items(LogChunk),
    "Log chunks numbered above `after`",
)

RECORDS = _read(
    JobService.records,
    "/jobs/{job_id}/records",
    OneJob,
    Items(RecordInfo),
    "The values the job recorded with ll.record",
)

NOTEBOOK = _read(
    JobService.notebook,
    "/jobs/{job_id}/notebook",
    OneJob,
    File(NOTEBOOK_MEDIA_TYPE, "the executed output notebook"),
    "The executed notebook (404 until the job ends)",
)
