"""The OpenAPI 3.1 document of the REST API, built as plain data.

:func:`document` is what ``GET {base_url}lepton/api/v1/openapi.json`` answers with.  The
schemas of what the API returns live in :data:`SCHEMAS`, one entry per JSON shape the
services' ``to_dict`` methods produce; the paths are written out one function per handler
module: here those of the meta, team and dataset handlers, in
:mod:`lepton_lab.server.openapi_runs` those of templates and jobs, in
:mod:`lepton_lab.server.openapi_models` those of the model gallery, from the building
blocks of :mod:`lepton_lab.server.openapi_parts`.  ``tests/server/test_openapi.py`` keeps both
true: every route and verb of the route tables is documented and nothing else is, real
responses validate against their schemas, and schemathesis fuzzes the server against this
document.
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.utils import url_path_join

from lepton_lab import __version__
from lepton_lab.catalog.ingest import FORMATS
from lepton_lab.catalog.writer import PREVIEW_ROWS
from lepton_lab.identity import Role
from lepton_lab.lineage import KINDS, NODE
from lepton_lab.membership import MAX_TEAM_DESCRIPTION, MAX_TITLE
from lepton_lab.paging import MAX_LIMIT
from lepton_lab.server import openapi_models, openapi_runs
from lepton_lab.server.datasets import PARQUET
from lepton_lab.server.openapi_parts import (
    _COUNT,
    _INT,
    _INT64,
    _SLUG,
    _STRING,
    _TIME,
    _VISIBILITY,
    ERRORS,
    JSON,
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

__all__ = ["ERRORS", "JSON", "SCHEMAS", "UPLOAD_MEDIA_TYPES", "document"]

#: Media types an upload (``POST …/versions``) may be sent as.
UPLOAD_MEDIA_TYPES = ("text/csv", PARQUET, "application/x-ndjson", "application/octet-stream")

_ROLE: Schema = {"type": "string", "enum": [r.name for r in Role]}
_ROLES: Schema = {"type": "object", "additionalProperties": _ROLE, "description": "user -> role"}


def _counts(what: str) -> Schema:
    """``[[name, count], …]``: a search facet."""
    # Not prefixItems: schemathesis cannot yet check responses against it.
    pair = {"type": "array", "items": {"type": ["string", "integer"]}, "minItems": 2, "maxItems": 2}
    return {"type": "array", "items": pair, "description": f"({what}, datasets) pairs"}


_PROFILE_COLUMN: Schema = {
    "type": "object",
    "description": "Kind-specific statistics follow the common fields.",
    "properties": {
        "name": _STRING,
        "type": _STRING,
        "kind": {"type": "string", "enum": ["number", "string", "boolean", "temporal", "other"]},
        "nulls": _COUNT,
        "count": _COUNT,
        "distinct": _COUNT,
        "distinct_exact": {"type": "boolean"},
        "top": {"type": "array"},
        "histogram": {"type": ["object", "null"]},
    },
    "required": ["name", "type", "kind", "nulls", "count"],
}

#: Every JSON shape the API answers with, by component name.
SCHEMAS: dict[str, Schema] = {
    "Error": _object({"error": _STRING, "message": _STRING}),
    "Actor": _object({"user": _STRING, "site_admin": {"type": "boolean"}, "teams": _ROLES}),
    "Team": _object(
        {
            "slug": _SLUG,
            "title": _STRING,
            "description": _STRING,
            "created_by": _STRING,
            "created_at": _TIME,
            "members": _ROLES,
        }
    ),
    "Teams": _items(_ref("Team")),
    "Dataset": _object(
        {
            "ref": _STRING,
            "team": _SLUG,
            "name": _SLUG,
            "owner": _STRING,
            "visibility": _VISIBILITY,
            "description": _STRING,
            "tags": _array(_SLUG),
            "latest_version": _INT,
            "rows": _COUNT,
            "bytes": _COUNT,
            "created_at": _TIME,
            "updated_at": _TIME,
        }
    ),
    "DatasetPage": _object(
        {
            "items": _array(_ref("Dataset")),
            "total": _COUNT,
            "offset": _COUNT,
            "limit": _COUNT,
            "next_offset": _nullable(_COUNT),
        }
    ),
    "Facets": _object({"teams": _counts("team"), "tags": _counts("tag")}),
    "Version": _object(
        {
            "ref": {**_STRING, "description": "team/name@N"},
            "dataset": _STRING,
            "version": {"type": "integer", "minimum": 1},
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "rows": _COUNT,
            "bytes": _COUNT,
            "columns": _array(_object({"name": _STRING, "type": _STRING})),
            "source": _STRING,
            "job_id": _nullable(_STRING),
            "created_by": _STRING,
            "created_at": _TIME,
            "created": {
                "type": ["boolean", "null"],
                "description": "After an upload: false when identical content was a version.",
            },
        }
    ),
    "Versions": _items(_ref("Version")),
    "Preview": _object({"columns": _array(_STRING), "data": _array({"type": "array"})}),
    "Profile": {
        "type": "object",
        "properties": {"rows": _COUNT, "columns": _array(_PROFILE_COLUMN)},
        "required": ["rows", "columns"],
    },
    "Event": _object(
        {
            "id": _INT,
            "at": _TIME,
            "actor": _STRING,
            "action": {**_STRING, "description": "e.g. dataset.create, dataset.version"},
            "subject": _STRING,
            "details": {"type": "object"},
        }
    ),
    "Events": _items(_ref("Event")),
    "Link": _object({"src": _STRING, "dst": _STRING, "kind": _STRING, "actor": _STRING}),
    "Document": {"type": "object", "required": ["openapi", "info", "paths"]},
}

# The template gallery and the job queue (lepton_lab.server.openapi_runs), and the model
# gallery (lepton_lab.server.openapi_models).
SCHEMAS |= openapi_runs.SCHEMAS
SCHEMAS |= openapi_models.SCHEMAS


_TEAM = _param("path", "team", "The team that owns the dataset.", _SLUG)
_NAME = _param("path", "name", "The dataset's name within its team.", _SLUG)
_NUMBER = {"type": "string", "pattern": "^(latest|[1-9][0-9]{0,17})$"}
_VERSION = _param("path", "version", "A version number, or latest.", _NUMBER)
_SLUG_PARAM = _param("path", "slug", "The team's slug.", _SLUG)
_USER = _param("path", "user", "A user name.", {"type": "string", "pattern": "^[^/]{1,200}$"})


def _meta_paths() -> dict[str, Schema]:
    return {
        "/openapi.json": {"get": _returning("getOpenAPI", "This document.", "Document")},
        "/whoami": {"get": _returning("whoAmI", "The user, their teams and roles.", "Actor")},
    }


def _team_paths() -> dict[str, Schema]:
    new_team = _object(
        {
            "slug": _SLUG,
            "title": {**_STRING, "maxLength": MAX_TITLE},
            "description": {**_STRING, "maxLength": MAX_TEAM_DESCRIPTION},
        },
        optional=("title", "description"),
    )
    role = _object({"role": {**_ROLE, "default": Role.contributor.name}}, optional=("role",))
    return {
        "/teams": {
            "get": _returning("listTeams", "Every team and its members.", "Teams"),
            "post": _operation(
                "createTeam",
                "Create a team; you become its admin.",
                {201: _ok("Team", "Created")},
                (400, 409),
                requestBody=_json_body(new_team),
            ),
        },
        "/teams/{slug}": {
            "parameters": [_SLUG_PARAM],
            "get": _returning("getTeam", "One team and its members.", "Team", (400, 404)),
        },
        "/teams/{slug}/members/{user}": {
            "parameters": [_SLUG_PARAM, _USER],
            "put": _returning(
                "putMember",
                "Add a member or change their role (team admins).",
                "Team",
                (400, 404, 409),
                requestBody=_json_body(role, required=False),
            ),
            "delete": _returning(
                "deleteMember",
                "Remove a member (team admins; the last admin stays).",
                "Team",
                (400, 404, 409),
            ),
        },
    }


def _upload() -> Schema:
    binary = {"schema": {"type": "string", "format": "binary"}}
    formats = {"type": "string", "enum": list(FORMATS)}
    filename = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$"}
    return _operation(
        "uploadVersion",
        "Upload the next version (CSV, Parquet or JSON lines), creating the dataset if new.",
        {201: _ok("Version", "A new version"), 200: _ok("Version", "Identical to a version")},
        (400, 404, 409, 413),
        parameters=[
            _param("query", "format", "The format (else the Content-Type or filename).", formats),
            _param("query", "filename", "A file name whose suffix tells the format.", filename),
            _param("query", "description", "Markdown card of the dataset."),
            _param("query", "tags", "Comma-separated tags, e.g. risk,monthly."),
            _param("query", "visibility", "Who may see the dataset.", _VISIBILITY),
        ],
        requestBody={"required": True, "content": dict.fromkeys(UPLOAD_MEDIA_TYPES, binary)},
    )


def _download() -> Schema:
    parquet = _ok({"type": "string", "format": "binary"}, "Parquet", PARQUET)
    served = {"X-Lepton-Version": {"description": "team/name@N served.", "schema": _STRING}}
    return _operation(
        "downloadVersion",
        "The data as Parquet: all of it, or some columns and first rows.",
        {200: {**parquet, "headers": served}},
        (400, 404),
        parameters=[
            _param("query", "columns", "Comma-separated column names."),
            _param("query", "limit", "Only the first rows.", _INT64),
            _param("header", "X-Lepton-Reader", "job:ID when a job reads (for the lineage)."),
        ],
    )


def _link() -> Schema:
    body = _object(
        {
            "node": {**_STRING, "pattern": NODE.pattern, "description": "e.g. training:3f2a"},
            "kind": {"type": "string", "enum": sorted(KINDS - {"read"})},
        }
    )
    return _operation(
        "linkVersion",
        "Record in the lineage that a run (training, evaluation, job) used this version.",
        {201: _ok("Link", "The edge recorded")},
        (400, 404),
        requestBody=_json_body(body),
    )


def _dataset_paths() -> dict[str, Schema]:
    card = _object(
        {"description": _STRING, "tags": _array(_SLUG), "visibility": _VISIBILITY},
        optional=("description", "tags", "visibility"),
    )
    search = [
        _param("query", "q", "Words matching names, descriptions, tags and columns."),
        _param("query", "team", "Only this team's datasets."),
        _param("query", "tag", "Only datasets with this tag."),
        _param("query", "owner", "Only this user's datasets."),
        _limit(20, 1, MAX_LIMIT),
        _param("query", "offset", "Skip this many.", _INT64),
    ]
    dataset, version = "/datasets/{team}/{name}", "/datasets/{team}/{name}/versions/{version}"
    by_name, by_version = [_TEAM, _NAME], [_TEAM, _NAME, _VERSION]
    return {
        "/datasets": {
            "get": _returning(
                "searchDatasets", "Datasets you may see.", "DatasetPage", (400,), parameters=search
            )
        },
        "/datasets/facets": {
            "get": _returning("datasetFacets", "Teams and tags, counted.", "Facets")
        },
        dataset: {
            "parameters": by_name,
            "get": _returning("getDataset", "The dataset's card.", "Dataset", (400, 404)),
            "patch": _returning(
                "updateDataset",
                "Change the description, tags or visibility (owner or team editor).",
                "Dataset",
                (400, 404, 409),
                requestBody=_json_body(card, required=False),
            ),
        },
        f"{dataset}/events": {
            "parameters": by_name,
            "get": _returning(
                "datasetEvents",
                "The audit trail, newest first.",
                "Events",
                (400, 404),
                parameters=[_limit(50, 1, 500)],
            ),
        },
        f"{dataset}/versions": {
            "parameters": by_name,
            "get": _returning(
                "listVersions", "Every version, newest first.", "Versions", (400, 404)
            ),
            "post": _upload(),
        },
        version: {
            "parameters": by_version,
            "get": _returning("getVersion", "One version.", "Version", (400, 404)),
        },
        f"{version}/preview": {
            "parameters": by_version,
            "get": _returning(
                "previewVersion",
                "The first rows, stored at upload.",
                "Preview",
                (400, 404),
                parameters=[_limit(20, 0, PREVIEW_ROWS)],
            ),
        },
        f"{version}/profile": {
            "parameters": by_version,
            "get": _returning(
                "profileVersion", "The stored column profile.", "Profile", (400, 404)
            ),
        },
        f"{version}/data": {"parameters": by_version, "get": _download()},
        f"{version}/links": {"parameters": by_version, "post": _link()},
    }


def document(base_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API served under ``base_url`` (a fresh copy)."""
    built = {
        "openapi": "3.1.0",
        "info": {
            "title": "Lepton Lab REST API",
            "version": __version__,
            "description": (
                "Shared datasets and teams, notebook templates, reproducible jobs and the "
                "model gallery. "
                "Errors are JSON {error, message} with the status given per operation."
            ),
        },
        "servers": [{"url": url_path_join(base_url, "lepton/api/v1")}],
        "security": [{"token": []}],
        "paths": {
            **_meta_paths(),
            **_team_paths(),
            **_dataset_paths(),
            **openapi_runs.template_paths(),
            **openapi_runs.job_paths(),
            **openapi_models.model_paths(),
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "token": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "'token <t>': a Jupyter, JupyterHub or Lepton Lab API token.",
                }
            },
        },
    }
    # A JSON round trip: the caller owns every part, however the parts above are shared.
    copied: dict[str, Any] = json.loads(json.dumps(built))
    return copied
