"""Jobs: submit templates or notebooks, follow them, cancel, rerun, read what they made.

Submitting only queues the job (the service then starts a runner if none is alive and
``auto_start_runner`` is on); runners run it.  A job is seen by its submitter, site admins
and the team it is shared with; anyone else gets a 404.
"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from lepton_lab.server.base import API, LeptonHandler, query_int
from lepton_lab.server.templates import NOTEBOOK, notebook_bytes

__all__ = ["SUBMIT_FIELDS", "routes"]

#: What a submit's body may hold.
SUBMIT_FIELDS = frozenset(
    {
        "template",
        "notebook",
        "notebook_name",
        "parameters",
        "gpus",
        "seed",
        "timeout",
        "retries",
        "kernel",
        "team",
    }
)


class JobsHandler(LeptonHandler):
    """``GET /jobs?status=&template=&user=&limit=&offset=``: a page of jobs, newest first;
    ``POST /jobs``: submit one (201)."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        page = await self.call(
            self.workspace.jobs.list,
            status=self.get_query_argument("status", None) or None,
            template=self.get_query_argument("template", None) or None,
            user=self.get_query_argument("user", None) or None,
            limit=query_int(self, "limit", 20),
            offset=query_int(self, "offset", 0),
        )
        self.reply(
            {
                "items": [j.to_dict() for j in page.items],
                "total": page.total,
                "offset": page.offset,
                "limit": page.limit,
                "next_offset": page.next_offset,
            }
        )

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """A template name (``template``) or a notebook (``notebook``, ``notebook_name``)."""
        body = self.json_body(set(SUBMIT_FIELDS))
        notebook = body.get("notebook")
        info = await self.call(
            self.workspace.jobs.submit,
            body.get("template"),
            body.get("parameters"),
            notebook=None if notebook is None else notebook_bytes(notebook),
            notebook_name=body.get("notebook_name") or "",
            gpus=body.get("gpus"),
            seed=body.get("seed"),
            timeout=body.get("timeout"),
            retries=body.get("retries"),
            kernel=body.get("kernel"),
            team=body.get("team"),
        )
        self.reply(info.to_dict(), status=201)


class JobHandler(LeptonHandler):
    """``GET /jobs/{job_id}``: the job's state now."""

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        info = await self.call(self.workspace.jobs.get, job_id)
        self.reply(info.to_dict())


class CancelHandler(LeptonHandler):
    """``POST /jobs/{job_id}/cancel``: cancel a queued job, or stop a running one."""

    @web.authenticated
    @authorized
    async def post(self, job_id: str) -> None:
        info = await self.call(self.workspace.jobs.cancel, job_id)
        self.reply(info.to_dict())


class RerunHandler(LeptonHandler):
    """``POST /jobs/{job_id}/rerun``: queue the job's manifest again (201, the new job)."""

    @web.authenticated
    @authorized
    async def post(self, job_id: str) -> None:
        info = await self.call(self.workspace.jobs.resubmit, job_id)
        self.reply(info.to_dict(), status=201)


class ReproductionHandler(LeptonHandler):
    """``GET /jobs/{job_id}/reproduction``: a rerun compared with its original."""

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        report = await self.call(self.workspace.jobs.reproduction, job_id)
        self.reply(report.to_dict())


class LogsHandler(LeptonHandler):
    """``GET /jobs/{job_id}/logs?after=&limit=``: log chunks numbered above ``after``."""

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        chunks = await self.call(
            self.workspace.jobs.logs,
            job_id,
            after=query_int(self, "after", 0),
            limit=query_int(self, "limit", 1000),
        )
        self.reply({"items": [c.to_dict() for c in chunks]})


class RecordsHandler(LeptonHandler):
    """``GET /jobs/{job_id}/records``: the values the job recorded with ``ll.record``."""

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        records = await self.call(self.workspace.jobs.records, job_id)
        self.reply({"items": [r.to_dict() for r in records]})


class OutputHandler(LeptonHandler):
    """``GET /jobs/{job_id}/notebook``: the executed notebook (404 until the job ends)."""

    @web.authenticated
    @authorized
    async def get(self, job_id: str) -> None:
        content = await self.call(self.workspace.jobs.notebook, job_id)
        self.finish(content, set_content_type=NOTEBOOK)


_JOB = rf"{API}/jobs/([^/]+)"
routes = [
    (rf"{API}/jobs", JobsHandler),
    (_JOB, JobHandler),
    (rf"{_JOB}/cancel", CancelHandler),
    (rf"{_JOB}/rerun", RerunHandler),
    (rf"{_JOB}/reproduction", ReproductionHandler),
    (rf"{_JOB}/logs", LogsHandler),
    (rf"{_JOB}/records", RecordsHandler),
    (rf"{_JOB}/notebook", OutputHandler),
]
