"""Pipelines: steps of templates, published as ``team/name``, and their runs.

A pipeline is read as ``/pipelines/{pipeline}`` (shipped) or ``/pipelines/{team}/{pipeline}``
(published), the last part optionally pinned (``flow@2``).  A run is a job group of kind
``pipeline`` under ``/pipeline-runs``: seen by its submitter, site admins and the team it
is shared with (others get a 404); its submitter or an editor of its team cancels it.
"""

from __future__ import annotations

from typing import Any

from lepton_lab.contract.core import Info, Items, Request, declare
from lepton_lab.contract.shapes import Filters, calls, reader
from lepton_lab.runs.pipeline_info import PipelineInfo, PipelineReproduction, PipelineRun
from lepton_lab.runs.pipelines import PipelineService

__all__ = [
    "CANCEL",
    "GET",
    "GET_PUBLISHED",
    "GET_RUN",
    "LIST",
    "PUBLISH",
    "REPRODUCTION",
    "RERUN",
    "RUN",
    "RUNS",
]

_SEEN_BY = "the submitter, the team it is shared with, site admins; others get 404"

_read = reader("pipelines")
_call = calls("pipelines")


class ListPipelines(Filters):
    """An optional team to keep."""

    team: str | None = None


LIST = _read(
    PipelineService.list,
    "/pipelines",
    ListPipelines,
    Items(PipelineInfo),
    "Pipelines you may see (latest versions), shipped ones first",
    refusals=(400,),
)


class Publish(Request):
    """A definition (an object, or YAML text) to publish as the next version of
    ``team/name``."""

    name: str
    definition: dict[str, Any] | str
    visibility: str | None = None


PUBLISH = declare(
    "pipelines.publish",
    "POST",
    "/pipelines",
    Publish,
    Info(PipelineInfo),
    role="contributor",
    run=lambda ws, actor, r: ws.pipelines.publish(
        actor, r.definition, r.name, visibility=r.visibility
    ),
    status=201,
    summary="Publish a pipeline as the next version of team/name (the latest when unchanged)",
    refusals=(400, 403, 404, 409),
)


class Shipped(Request):
    """A shipped pipeline by name; ``@N`` pins a version."""

    pipeline: str


class Published(Request):
    """A team's pipeline by team and name; ``@N`` pins a version."""

    team: str
    pipeline: str


GET = _read(
    PipelineService.get,
    "/pipelines/{pipeline}",
    Shipped,
    Info(PipelineInfo),
    "One version of a shipped pipeline, with its definition",
    refusals=(400, 404),
)

GET_PUBLISHED = declare(
    "pipelines.get_published",
    "GET",
    "/pipelines/{team}/{pipeline}",
    Published,
    Info(PipelineInfo),
    role="user",
    run=lambda ws, actor, r: ws.pipelines.get(actor, f"{r.team}/{r.pipeline}"),
    summary="One version of a team's pipeline, with its definition",
    refusals=(400, 404),
)


class Run(Request):
    """The pipeline to run, its inputs, and the team to share the run with."""

    pipeline: str
    parameters: dict[str, Any] | None = None
    team: str | None = None
    notify: dict[str, Any] | None = None


RUN = declare(
    "pipelines.run",
    "POST",
    "/pipeline-runs",
    Run,
    Info(PipelineRun),
    role="user",
    run=lambda ws, actor, r: ws.pipelines.run(
        actor, r.pipeline, r.parameters, team=r.team, notify=r.notify
    ),
    status=201,
    summary="Run a pipeline: a job group, the steps that wait for nothing queued now",
)


class ListRuns(Request):
    """Runs of one pipeline, or all, and how many."""

    pipeline: str | None = None
    limit: int = 20


RUNS = _read(
    PipelineService.runs,
    "/pipeline-runs",
    ListRuns,
    Items(PipelineRun),
    "Pipeline runs you may see, newest first",
    refusals=(400,),
)


class OneRun(Request):
    """A pipeline run by id."""

    run_id: str


GET_RUN = _read(
    PipelineService.get_run,
    "/pipeline-runs/{run_id}",
    OneRun,
    Info(PipelineRun),
    "A pipeline run: its status and every step's state and job",
    owner_note=_SEEN_BY,
)

CANCEL = _call(
    "POST",
    PipelineService.cancel,
    "/pipeline-runs/{run_id}/cancel",
    OneRun,
    Info(PipelineRun),
    "Cancel the run: its queued and running steps, and those not queued yet",
    role="editor",
    refusals=(400, 403, 404, 409),
    owner_note=f"{_SEEN_BY}; 403 unless its submitter or a team editor",
)

RERUN = _call(
    "POST",
    PipelineService.rerun,
    "/pipeline-runs/{run_id}/rerun",
    OneRun,
    Info(PipelineRun),
    "Run the whole pipeline again as it ran (seeds, pinned datasets)",
    role="user",
    status=201,
    refusals=(400, 403, 404, 409),
    owner_note=_SEEN_BY,
)

REPRODUCTION = _read(
    PipelineService.reproduction,
    "/pipeline-runs/{run_id}/reproduction",
    OneRun,
    Info(PipelineReproduction),
    "A rerun against its original, step by step",
    owner_note=_SEEN_BY,
)
