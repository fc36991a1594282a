"""The OpenAPI 3.1 document, generated from the declared operations.

:func:`document` is what ``GET {base_url}lepton/api/v1/openapi.json`` answers with.  Each
operation gives its path, its parameters (the request model's path fields, and its query
fields for GET and DELETE), its JSON body (the rest of the request model) or the media
types of a streamed upload, its success (the reply's schema) and the error statuses it
may answer with.  Nothing here is written per operation: a new declaration appears on its
own.  The JupyterLab extension generates its TypeScript types from this document.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from lepton_lab._version import __version__
from lepton_lab.contract.core import JSON, File, Operation, operations

__all__ = ["ERRORS", "document"]

#: What each error status means, for every operation that can answer with it.
ERRORS: dict[int, str] = {
    400: (
        "Bad input: a name that is not a slug, a malformed body or query argument, a "
        "notebook that is not valid, a parameter unknown to the template or of the wrong type."
    ),
    403: "Not logged in (no, unknown or expired token), or without the role needed.",
    404: (
        "No such team, dataset, model, version, alias, template or job, or none that you "
        "may see; a job's notebook before the job has ended."
    ),
    409: (
        "A name already taken, the last admin of a team, a change that lost a race, "
        "cancelling a job that has ended."
    ),
    413: "The upload is larger than the server's max_upload_bytes.",
}

_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    "required": ["error", "message"],
}
_SECURITY = {
    "token": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "'token <t>': a Jupyter, JupyterHub or Lepton Lab API token.",
    }
}


def _field_schemas(op: Operation, defs: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    """(property name -> schema, required names) of the request model."""
    template = "#/components/schemas/{model}"
    schema = op.request.model_json_schema(ref_template=template)
    defs.update(schema.pop("$defs", {}))
    return schema.get("properties", {}), set(schema.get("required", []))


def _parameters(op: Operation, props: dict[str, Any], required: set[str]) -> list[Any]:
    """The path parameters, then the query's (every field past the path without a body)."""
    found = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in op.path_fields
    ]
    if op.has_body:
        return found
    for name, schema in props.items():
        if name not in op.path_fields:
            found.append(
                {"name": name, "in": "query", "required": name in required, "schema": schema}
            )
    return found


def _body(op: Operation, props: dict[str, Any], required: set[str]) -> dict[str, Any] | None:
    """The request body: a JSON object of the fields past the path, or a streamed upload."""
    if op.media_types:
        content = {t: {"schema": {"type": "string", "format": "binary"}} for t in op.media_types}
        return {"required": True, "content": content}
    if not op.has_body:
        return None
    fields = {k: v for k, v in props.items() if k not in op.path_fields}
    schema: dict[str, Any] = {"type": "object", "properties": fields, "additionalProperties": False}
    needed = sorted(required - set(op.path_fields))
    if needed:
        schema["required"] = needed
    return {"required": bool(needed), "content": {JSON: {"schema": schema}}}


def _responses(op: Operation, defs: dict[str, Any]) -> dict[str, Any]:
    """The success, then each error the operation may answer with (403 always)."""
    media = op.reply.media_type if isinstance(op.reply, File) else JSON
    success = {
        "description": op.summary or "OK",
        "content": {media: {"schema": op.reply.schema(defs)}},
    }
    answers: dict[str, Any] = {str(status): success for status in (op.status, *op.also)}
    for status in sorted({*op.refusals, 403}):
        answers[str(status)] = {
            "description": ERRORS[status],
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    return answers


def _operation(op: Operation, defs: dict[str, Any]) -> dict[str, Any]:
    props, required = _field_schemas(op, defs)
    described: dict[str, Any] = {
        "operationId": op.name.replace(".", "_"),
        "summary": op.summary,
        "tags": [op.group],
        "x-lepton-role": op.role,
        "parameters": _parameters(op, props, required),
        "responses": _responses(op, defs),
    }
    if op.doc:
        described["description"] = op.doc
    body = _body(op, props, required)
    if body is not None:
        described["requestBody"] = body
    return described


@functools.cache
def _built() -> dict[str, Any]:
    """The document without its server URL (built once per process)."""
    defs: dict[str, Any] = {"Error": _ERROR}
    paths: dict[str, Any] = {}
    for op in operations():
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, defs)
    return {
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
        "security": [{"token": []}],
        "paths": paths,
        "components": {"schemas": defs, "securitySchemes": _SECURITY},
    }


def document(base_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API served under ``base_url`` (a fresh copy)."""
    root = base_url.rstrip("/") + "/lepton/api/v1"
    return {**copy.deepcopy(_built()), "servers": [{"url": root}]}
