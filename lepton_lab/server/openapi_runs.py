"""The template gallery and the job queue in the OpenAPI document.

:func:`template_paths` and :func:`job_paths` write out the paths of
:mod:`lepton_lab.server.templates` and :mod:`lepton_lab.server.jobs`; :data:`SCHEMAS` holds
the component schemas only they use (the JSON shapes of :mod:`lepton_lab.runs.info`).
:func:`lepton_lab.server.openapi.document` puts them together with the rest.
"""

from __future__ import annotations

from lepton_lab.paging import MAX_LIMIT
from lepton_lab.refs import MAX_VERSION_DIGITS
from lepton_lab.runs.info import JOB_STATES
from lepton_lab.runs.notebook import TYPES
from lepton_lab.runs.queue import MAX_GPUS
from lepton_lab.runs.record import KINDS as RECORD_KINDS
from lepton_lab.server.openapi_parts import (
    _COUNT,
    _INT,
    _INT64,
    _SLUG,
    _STRING,
    _TIME,
    _VISIBILITY,
    Schema,
    _array,
    _items,
    _json_body,
    _limit,
    _nullable,
    _object,
    _ok,
    _operation,
    _param,
    _ref,
    _returning,
)
from lepton_lab.server.templates import NOTEBOOK

__all__ = ["SCHEMAS", "job_paths", "template_paths"]

_SHA256: Schema = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_ANY: Schema = {"description": "Any JSON value."}
_OBJECT: Schema = {"type": "object"}

#: The JSON shapes of templates and jobs, by component name.
SCHEMAS: dict[str, Schema] = {
    "Parameter": _object(
        {
            "name": _STRING,
            "type": {"type": "string", "enum": list(TYPES)},
            "default": _ANY,
            "default_source": {**_STRING, "description": "The default as written in the cell."},
            "help": _STRING,
            "required": {"type": "boolean"},
            "optional": {"type": "boolean", "description": "Whether null is a valid value."},
            "kind": {**_STRING, "description": "'dataset' for a dataset reference, else ''."},
            "choices": {"type": ["array", "null"], "description": "The values allowed."},
        }
    ),
    "Template": _object(
        {
            "ref": {**_STRING, "description": "name@version"},
            "name": {**_STRING, "description": "dataset-report (shipped) or team/name"},
            "version": {"type": "integer", "minimum": 1},
            "sha256": _SHA256,
            "title": _STRING,
            "description": _STRING,
            "tags": _array(_STRING),
            "kernel": _STRING,
            "gpus": _COUNT,
            "parameters": _array(_ref("Parameter")),
            "team": {**_STRING, "description": "Empty for a shipped template."},
            "owner": _STRING,
            "visibility": _VISIBILITY,
            "builtin": {"type": "boolean"},
            "created_at": _TIME,
            "metadata": {**_OBJECT, "description": "The notebook's 'lepton' metadata."},
        }
    ),
    "Templates": _items(_ref("Template")),
    "Notebook": {
        "type": "object",
        "description": "A Jupyter notebook (nbformat 4).",
        "required": ["cells", "metadata", "nbformat", "nbformat_minor"],
    },
    "Job": _object(
        {
            "id": _STRING,
            "template": {**_STRING, "description": "The template, or the notebook's file name."},
            "template_version": _nullable(_INT),
            "notebook_sha256": _SHA256,
            "parameters": _OBJECT,
            "kernel": _STRING,
            "gpus": _COUNT,
            "seed": _COUNT,
            "timeout": _nullable({"type": "number"}),
            "retries": _COUNT,
            "attempt": _COUNT,
            "status": {"type": "string", "enum": list(JOB_STATES)},
            "reason": {
                "type": ["object", "null"],
                "description": "Why a job failed, was cancelled or lost: kind, message, cell…",
                "properties": {"kind": _STRING, "message": _STRING},
                "required": ["kind", "message"],
            },
            "cells_done": _COUNT,
            "cells_total": _COUNT,
            "current_cell": _STRING,
            "submitted_by": _STRING,
            "team": {**_STRING, "description": "The team the job is shared with, or ''."},
            "runner": _STRING,
            "devices": _array(_COUNT),
            "output_sha256": {"type": "string", "pattern": "^([0-9a-f]{64})?$"},
            "rerun_of": {**_STRING, "description": "The job this one reruns, or ''."},
            "created_at": _TIME,
            "started_at": _nullable(_TIME),
            "ended_at": _nullable(_TIME),
            "manifest": {**_OBJECT, "description": "What the run used: versions, kernel, GPUs."},
        }
    ),
    "JobPage": _object(
        {
            "items": _array(_ref("Job")),
            "total": _COUNT,
            "offset": _COUNT,
            "limit": _COUNT,
            "next_offset": _nullable(_COUNT),
        }
    ),
    "LogChunks": _items(
        _object(
            {
                "seq": _INT,
                "stream": {**_STRING, "description": "stdout or stderr"},
                "text": _STRING,
                "at": _TIME,
            }
        )
    ),
    "Records": _items(
        _object(
            {
                "name": _STRING,
                "kind": {"type": "string", "enum": list(RECORD_KINDS)},
                "value": _ANY,
                "cell": _nullable(_INT),
            }
        )
    ),
    "Reproduction": _object(
        {
            "original": _ref("Job"),
            "rerun": _ref("Job"),
            "checks": _array(
                _object(
                    {
                        "name": _STRING,
                        "original": _ANY,
                        "rerun": _ANY,
                        "match": {"type": "boolean"},
                        "note": _STRING,
                    }
                )
            ),
            "reproduced": {
                "type": ["boolean", "null"],
                "description": "null while the rerun has not ended.",
            },
        }
    ),
}


_NAME_PATTERN = "[a-z0-9][a-z0-9_-]{0,63}"
_PINNED = {
    "type": "string",
    "pattern": f"^{_NAME_PATTERN}(@([0-9]{{1,{MAX_VERSION_DIGITS}}}|latest))?$",
}
_TEMPLATE = _param(
    "path",
    "template",
    "The template's name; @N pins a version, @latest or none the latest.",
    _PINNED,
)
_TEMPLATE_TEAM = _param("path", "team", "The team that published the template.", _SLUG)
_JOB_ID = _param("path", "job_id", "The job's id.", {"type": "string", "pattern": "^[0-9a-f]{16}$"})


def _notebook_file(operation_id: str, summary: str) -> Schema:
    """An operation answering with a notebook file."""
    return _operation(
        operation_id, summary, {200: _ok("Notebook", "The .ipynb file", NOTEBOOK)}, (400, 404)
    )


def _publish() -> Schema:
    body = _object(
        {
            "name": {
                "type": "string",
                "pattern": f"^{_NAME_PATTERN}/{_NAME_PATTERN}$",
                "description": "team/name",
            },
            "notebook": {
                "type": ["object", "string"],
                "description": "The notebook: its JSON, or the .ipynb file's text (kept exactly).",
            },
            "description": {**_STRING, "maxLength": 20_000},
            "tags": _array({"type": "string", "minLength": 1}),
            "visibility": _VISIBILITY,
        },
        optional=("description", "tags", "visibility"),
    )
    return _operation(
        "publishTemplate",
        "Publish a notebook as the next version of team/name (the latest when unchanged).",
        {201: _ok("Template", "The version")},
        (400, 404, 409),
        requestBody=_json_body(body),
    )


def template_paths() -> dict[str, Schema]:
    search = [
        _param("query", "q", "Words matching names, titles, descriptions and tags."),
        _param("query", "team", "Only this team's templates."),
        _param("query", "tag", "Only templates with this tag."),
    ]
    paths: dict[str, Schema] = {
        "/templates": {
            "get": _returning(
                "listTemplates",
                "Templates you may see, shipped ones first.",
                "Templates",
                parameters=search,
            ),
            "post": _publish(),
        }
    }
    # Shipped templates have a name, published ones a team too: each path comes twice.
    for prefix, params, path in (
        ("", [_TEMPLATE], "/templates/{template}"),
        ("Team", [_TEMPLATE_TEAM, _TEMPLATE], "/templates/{team}/{template}"),
    ):
        paths[path] = {
            "parameters": params,
            "get": _returning(
                f"get{prefix}Template", "One version, with its parameters.", "Template", (400, 404)
            ),
        }
        paths[f"{path}/versions"] = {
            "parameters": params,
            "get": _returning(
                f"list{prefix}TemplateVersions",
                "Every version, newest first.",
                "Templates",
                (400, 404),
            ),
        }
        paths[f"{path}/notebook"] = {
            "parameters": params,
            "get": _notebook_file(f"get{prefix}TemplateNotebook", "The version's notebook file."),
        }
    return paths


def _submit() -> Schema:
    body = _object(
        {
            "template": {**_STRING, "description": "A template: dataset-report, team/name@N."},
            "notebook": {
                "type": ["object", "string"],
                "description": "Or a notebook to run: its JSON, or the .ipynb file's text.",
            },
            "notebook_name": {**_STRING, "maxLength": 255, "description": "The notebook's name."},
            "parameters": {**_OBJECT, "description": "Values by parameter name."},
            "gpus": {"type": "integer", "minimum": 0, "maximum": MAX_GPUS},
            "seed": {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
            "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 9_999_999},
            "retries": {"type": "integer", "minimum": 0, "maximum": 10},
            "kernel": {**_STRING, "description": "An installed kernelspec."},
            "team": {**_SLUG, "description": "A team of yours to share the job with."},
        },
        optional=(
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
        ),
    )
    body["description"] = "Either template or notebook; the rest default to the template's."
    return _operation(
        "submitJob",
        "Check the parameters, pin dataset references to versions, and queue a job.",
        {201: _ok("Job", "Queued")},
        (400, 404),
        requestBody=_json_body(body),
    )


_STATUS: Schema = {"type": "string", "enum": list(JOB_STATES)}


def job_paths() -> dict[str, Schema]:
    listing = [
        _param("query", "status", "Only jobs in this state.", _STATUS),
        _param("query", "template", "Only jobs of this template."),
        _param("query", "user", "Only jobs this user submitted."),
        _limit(20, 1, MAX_LIMIT),
        _param("query", "offset", "Skip this many.", _INT64),
    ]
    logs = [
        _param("query", "after", "Only chunks numbered above this.", _INT64),
        _limit(1000, 1, 100_000),
    ]
    job, by_id = "/jobs/{job_id}", [_JOB_ID]
    return {
        "/jobs": {
            "get": _returning(
                "listJobs", "Jobs you may see, newest first.", "JobPage", (400,), parameters=listing
            ),
            "post": _submit(),
        },
        job: {
            "parameters": by_id,
            "get": _returning("getJob", "The job's state now.", "Job", (400, 404)),
        },
        f"{job}/cancel": {
            "parameters": by_id,
            "post": _returning(
                "cancelJob",
                "Cancel a queued job, or stop a running one (its submitter or a team editor).",
                "Job",
                (400, 404, 409),
            ),
        },
        f"{job}/rerun": {
            "parameters": by_id,
            "post": _operation(
                "rerunJob",
                "Queue the job's manifest again: same notebook, parameters, pins and seed.",
                {201: _ok("Job", "The rerun, queued")},
                (400, 404),
            ),
        },
        f"{job}/reproduction": {
            "parameters": by_id,
            "get": _returning(
                "jobReproduction",
                "A rerun compared with its original, value by value (400 for a job not a rerun).",
                "Reproduction",
                (400, 404),
            ),
        },
        f"{job}/logs": {
            "parameters": by_id,
            "get": _returning(
                "jobLogs",
                "What the cells printed, oldest first.",
                "LogChunks",
                (400, 404),
                parameters=logs,
            ),
        },
        f"{job}/records": {
            "parameters": by_id,
            "get": _returning(
                "jobRecords", "The values recorded with ll.record.", "Records", (400, 404)
            ),
        },
        f"{job}/notebook": {
            "parameters": by_id,
            "get": _notebook_file("getJobNotebook", "The executed notebook, once the job ended."),
        },
    }
