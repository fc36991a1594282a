"""The model gallery in the OpenAPI document.

:func:`model_paths` writes out the paths of :mod:`lepton_lab.server.models`; :data:`SCHEMAS`
holds the component schemas only they use (the JSON shapes of
:mod:`lepton_lab.gallery.info`).  :func:`lepton_lab.server.openapi.document` puts them
together with the rest.
"""

from __future__ import annotations

from lepton_lab.gallery.info import CARD_FIELDS
from lepton_lab.paging import MAX_LIMIT
from lepton_lab.refs import MAX_VERSION_DIGITS
from lepton_lab.server.models import ARTIFACT, MAX_PREDICT_ROWS, MAX_SPLIT, META_LIMITS
from lepton_lab.server.openapi_parts import (
    _COUNT,
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

__all__ = ["SCHEMAS", "model_paths"]

_SHA256: Schema = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_OBJECT: Schema = {"type": "object"}
_VALUE: Schema = {"type": ["string", "number", "integer", "boolean", "null"]}
#: A card as sent: markdown (the notes), or text by field.
_CARD: Schema = {
    "type": ["string", "object"],
    "description": f"Markdown (the notes), or by field: {', '.join(CARD_FIELDS)}.",
    "properties": {key: {"type": "string", "maxLength": 20_000} for key in CARD_FIELDS},
    "additionalProperties": False,
}

#: The JSON shapes of the model gallery, by component name.
SCHEMAS: dict[str, Schema] = {
    "Metric": _object(
        {
            "dataset": {**_STRING, "description": "team/name@N, or '(a DataFrame)'."},
            "split": {**_STRING, "description": "test (at training), eval (ll.evaluate), …"},
            "metrics": {**_OBJECT, "description": "name -> value"},
            "created_at": _TIME,
        }
    ),
    "Model": _object(
        {
            "ref": {**_STRING, "description": "team/name"},
            "team": _SLUG,
            "name": _SLUG,
            "owner": _STRING,
            "visibility": _VISIBILITY,
            "task": {**_STRING, "description": "binary, multiclass or regression"},
            "tags": _array(_SLUG),
            "card": {
                "type": "object",
                "additionalProperties": _STRING,
                "description": f"Markdown by field: {', '.join(CARD_FIELDS)}.",
            },
            "latest_version": _COUNT,
            "aliases": {
                "type": "object",
                "additionalProperties": {"type": "integer", "minimum": 1},
                "description": "alias -> version",
            },
            "headline": {
                "type": ["object", "null"],
                "description": "The latest version's headline metric on its test split.",
                "properties": {"name": _STRING, "value": {"type": "number"}},
                "required": ["name", "value"],
            },
            "created_at": _TIME,
            "updated_at": _TIME,
        }
    ),
    "ModelPage": _object(
        {
            "items": _array(_ref("Model")),
            "total": _COUNT,
            "offset": _COUNT,
            "limit": _COUNT,
            "next_offset": _nullable(_COUNT),
        }
    ),
    "ModelVersion": _object(
        {
            "ref": {**_STRING, "description": "team/name@N"},
            "team": _SLUG,
            "name": _SLUG,
            "version": {"type": "integer", "minimum": 1},
            "sha256": _SHA256,
            "format": {**_STRING, "description": "How the artifact is saved: skops, …"},
            "size": _COUNT,
            "task": _STRING,
            "family": _STRING,
            "params": _OBJECT,
            "signature": {**_OBJECT, "description": "inputs [{name, dtype}] and output"},
            "spec": {**_OBJECT, "description": "How it was trained: dataset, target, split…"},
            "metrics": _array(_ref("Metric")),
            "aliases": _array(_SLUG),
            "job_id": _STRING,
            "parent": _nullable({"type": "integer"}),
            "created_by": _STRING,
            "created_at": _TIME,
            "trusted": {**_array(_STRING), "description": "The types the audit allowed."},
            "created": {
                "type": "boolean",
                "description": "After an upload: false when the same artifact was a version.",
            },
        }
    ),
    "ModelVersions": _items(_ref("ModelVersion")),
    "ModelComparison": _items(
        {
            "type": "object",
            "description": "A version on one dataset and split, then each metric by name.",
            "properties": {
                "version": {"type": "integer", "minimum": 1},
                "ref": _STRING,
                "aliases": {**_STRING, "description": "Comma-separated."},
                "family": _STRING,
                "dataset": _STRING,
                "split": _STRING,
            },
            "required": ["version", "ref", "aliases", "family", "dataset", "split"],
        }
    ),
    "Predictions": _object(
        {
            "model": {**_STRING, "description": "team/name@N that predicted."},
            "predictions": _array(_VALUE),
            "classes": {**_array(_VALUE), "description": "Classifiers: the class labels."},
            "probabilities": {
                **_array(_array({"type": "number"})),
                "description": "Classifiers: per row, one probability per class.",
            },
        },
        optional=("classes", "probabilities"),
    ),
}

_TEAM = _param("path", "team", "The team that owns the model.", _SLUG)
_NAME = _param("path", "name", "The model's name within its team.", _SLUG)
_ALIAS_PATTERN = "[a-z][a-z0-9_-]{0,63}"
_PIN = {
    "type": "string",
    "pattern": f"^(latest|[1-9][0-9]{{0,{MAX_VERSION_DIGITS - 1}}}|{_ALIAS_PATTERN})$",
}
_VERSION = _param("path", "version", "A version number, latest, or an alias.", _PIN)
_ALIAS = _param(
    "path",
    "alias",
    "An alias: staging, production (editors only), …",
    {"type": "string", "pattern": f"^{_ALIAS_PATTERN}$"},
)
_ERRORS = (400, 404)


def _register() -> Schema:
    meta = _object(
        {
            "format": {**_STRING, "maxLength": META_LIMITS["format"]},
            "task": {**_STRING, "maxLength": META_LIMITS["task"]},
            "family": {**_STRING, "maxLength": META_LIMITS["family"]},
            "params": _OBJECT,
            "signature": _OBJECT,
            "spec": _OBJECT,
            "metrics": _OBJECT,
            "run": {**_STRING, "maxLength": META_LIMITS["run"]},
        },
        optional=("metrics", "run"),
    )
    meta["description"] = "What Candidate.meta() gives: prepared where the model was trained."
    body = _object(
        {
            "artifact": {
                "type": "string",
                "contentEncoding": "base64",
                "description": "The saved model's bytes (skops, safetensors), base64-encoded.",
            },
            "meta": meta,
            "card": _CARD,
            "tags": _array({"type": "string", "minLength": 1}),
            "visibility": _VISIBILITY,
        },
        optional=("card", "tags", "visibility"),
    )
    return _operation(
        "registerModelVersion",
        "Register the next version (the artifact is audited: only safe types load).",
        {
            201: _ok("ModelVersion", "A new version"),
            200: _ok("ModelVersion", "The same artifact was a version"),
        },
        (400, 404, 409, 413),
        requestBody=_json_body(body),
    )


def _artifact() -> Schema:
    headers = {
        "X-Lepton-Version": {"description": "team/name@N served.", "schema": _STRING},
        "X-Lepton-Sha256": {"description": "The artifact's sha256.", "schema": _SHA256},
        "X-Lepton-Format": {"description": "skops, …", "schema": _STRING},
        "X-Lepton-Trusted": {"description": "The audited types, a JSON list.", "schema": _STRING},
    }
    binary = _ok({"type": "string", "format": "binary"}, "The saved model", ARTIFACT)
    return _operation(
        "getModelArtifact",
        "The saved model: check its sha256, then load it with the safe loader.",
        {200: {**binary, "headers": headers}},
        _ERRORS,
    )


def _predict() -> Schema:
    row = {"type": "object", "additionalProperties": _VALUE, "description": "column -> value"}
    rows = {"type": "array", "items": row, "minItems": 1, "maxItems": MAX_PREDICT_ROWS}
    body = _object({"rows": rows})
    body["example"] = {"rows": [{"age": 42, "income": 52000.0, "region": "north"}]}
    return _returning(
        "predictModel",
        "Predict rows where the model is (a missing column or a bad value: 400).",
        "Predictions",
        _ERRORS,
        requestBody=_json_body(body),
    )


def _evaluation() -> Schema:
    body = _object(
        {
            "dataset": {
                **_STRING,
                "maxLength": 300,
                "description": "The dataset version evaluated on (team/name@N), or (a DataFrame).",
            },
            "split": {"type": "string", "pattern": f"^[a-z0-9][a-z0-9_-]{{0,{MAX_SPLIT - 1}}}$"},
            "metrics": {**_OBJECT, "description": "name -> value"},
        }
    )
    body["example"] = {"dataset": "finance/credit@1", "split": "eval", "metrics": {"auc": 0.9}}
    return _operation(
        "recordModelEvaluation",
        "Store metrics of the version on a dataset version and split (ll.evaluate).",
        {201: _ok("Metric", "Stored (replacing those of the same dataset and split)")},
        _ERRORS,
        requestBody=_json_body(body),
    )


def model_paths() -> dict[str, Schema]:
    search = [
        _param("query", "q", "Words matching names, teams and tasks."),
        _param("query", "team", "Only this team's models."),
        _param("query", "task", "Only models of this task: binary, multiclass, regression."),
        _param("query", "tag", "Only models with this tag."),
        _limit(20, 1, MAX_LIMIT),
        _param("query", "offset", "Skip this many.", _INT64),
    ]
    card = _object(
        {"card": _CARD, "tags": _array(_SLUG), "visibility": _VISIBILITY},
        optional=("card", "tags", "visibility"),
    )
    pin = {"type": ["integer", "string"], "minimum": 1, "pattern": _PIN["pattern"]}
    alias_body = _object({"version": {**pin, "description": "N, latest or another alias"}})
    alias_body["example"] = {"version": 1}
    model, version = "/models/{team}/{name}", "/models/{team}/{name}/versions/{version}"
    by_name, by_version = [_TEAM, _NAME], [_TEAM, _NAME, _VERSION]
    return {
        "/models": {
            "get": _returning(
                "searchModels",
                "Models you may see, newest first.",
                "ModelPage",
                (400,),
                parameters=search,
            )
        },
        model: {
            "parameters": by_name,
            "get": _returning("getModel", "The model's card and aliases.", "Model", _ERRORS),
            "patch": _returning(
                "updateModel",
                "Change the card, tags or visibility (owner or team editor).",
                "Model",
                (400, 404, 409),
                requestBody=_json_body(card, required=False),
            ),
        },
        f"{model}/versions": {
            "parameters": by_name,
            "get": _returning(
                "listModelVersions", "Every version, newest first.", "ModelVersions", _ERRORS
            ),
            "post": _register(),
        },
        version: {
            "parameters": by_version,
            "get": _returning("getModelVersion", "One version.", "ModelVersion", _ERRORS),
        },
        f"{version}/artifact": {"parameters": by_version, "get": _artifact()},
        f"{version}/predict": {"parameters": by_version, "post": _predict()},
        f"{version}/evaluations": {"parameters": by_version, "post": _evaluation()},
        f"{model}/compare": {
            "parameters": by_name,
            "get": _returning(
                "compareModelVersions",
                "Each version's metrics, by dataset version and split, oldest first.",
                "ModelComparison",
                _ERRORS,
            ),
        },
        f"{model}/aliases/{{alias}}": {
            "parameters": [_TEAM, _NAME, _ALIAS],
            "put": _returning(
                "setModelAlias",
                "Point the alias at a version (production: editors; others: contributors).",
                "Model",
                _ERRORS,
                requestBody=_json_body(alias_body),
            ),
            "delete": _returning(
                "removeModelAlias", "Take the alias off (same roles).", "Model", _ERRORS
            ),
        },
    }
