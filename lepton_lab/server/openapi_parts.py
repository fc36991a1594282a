"""The building blocks of the OpenAPI document, shared by its modules.

:mod:`lepton_lab.server.openapi` (the document, teams and datasets) and
:mod:`lepton_lab.server.openapi_runs` (templates and jobs) both build their schemas and
operations from what is here: the common JSON schemas, the error statuses, and small
functions writing parameters, bodies, responses and operations as plain data.  The
underscored names are for those two modules only.
"""

from __future__ import annotations

from typing import Any

from lepton_lab.identity import Visibility

__all__ = ["ERRORS", "JSON", "Schema"]

Schema = dict[str, Any]

JSON = "application/json"

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

_STRING: Schema = {"type": "string"}
_INT: Schema = {"type": "integer"}
_COUNT: Schema = {"type": "integer", "minimum": 0}
_INT64: Schema = {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}
_TIME: Schema = {"type": "string", "format": "date-time"}
_SLUG: Schema = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}
_VISIBILITY: Schema = {"type": "string", "enum": [v.value for v in Visibility]}


def _ref(name: str) -> Schema:
    """A reference to a component schema, one of :data:`lepton_lab.server.openapi.SCHEMAS`."""
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Schema], *, optional: tuple[str, ...] = ()) -> Schema:
    """A closed JSON object: every property required unless named ``optional``."""
    return {
        "type": "object",
        "properties": properties,
        "required": [p for p in properties if p not in optional],
        "additionalProperties": False,
    }


def _array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def _items(schema: Schema) -> Schema:
    """``{"items": [...]}``, how the API returns a whole list."""
    return _object({"items": _array(schema)})


def _nullable(schema: Schema) -> Schema:
    return {**schema, "type": [schema["type"], "null"]}


# -- building blocks of operations ---------------------------------------------------------


def _param(where: str, name: str, about: str, schema: Schema = _STRING) -> Schema:
    """A path, query or header parameter; only path parameters are required."""
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "description": about,
        "schema": schema,
    }


def _limit(default: int, low: int, high: int) -> Schema:
    bounds = {"type": "integer", "minimum": low, "maximum": high, "default": default}
    return _param("query", "limit", f"How many ({low} to {high}, default {default}).", bounds)


def _json_body(schema: Schema, *, required: bool = True) -> Schema:
    return {"required": required, "content": {JSON: {"schema": schema}}}


def _ok(schema: str | Schema, description: str = "OK", media_type: str = JSON) -> Schema:
    body = _ref(schema) if isinstance(schema, str) else schema
    return {"description": description, "content": {media_type: {"schema": body}}}


def _operation(
    operation_id: str,
    summary: str,
    responses: dict[int, Schema],
    errors: tuple[int, ...],
    **extra: Any,
) -> Schema:
    """One operation: its successful responses, then every error status it can answer."""
    every = {str(status): response for status, response in responses.items()}
    for status in (*errors, 403):
        error = {JSON: {"schema": _ref("Error")}}
        every[str(status)] = {"description": ERRORS[status], "content": error}
    return {"operationId": operation_id, "summary": summary, "responses": every, **extra}


def _returning(
    operation_id: str, summary: str, schema: str, errors: tuple[int, ...] = (), **extra: Any
) -> Schema:
    """An operation answering 200 with the component ``schema``."""
    return _operation(operation_id, summary, {200: _ok(schema)}, errors, **extra)
