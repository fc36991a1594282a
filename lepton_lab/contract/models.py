"""Models: the gallery's search, cards, versions, aliases, artifacts, predictions, metrics.

``{version}`` in a path is a number, ``latest`` or an alias (``production``); the service
reads ``team/name@version`` itself, so that both backends refuse the same text alike.  A
version is registered in two steps: :func:`~lepton_lab.gallery.candidate.prepare` where
the model is, then an upload of the result (a streamed JSON body, see
:mod:`lepton_lab.server.models`) that the service audits again before storing it.  Values
that the services check themselves (rows, metrics, cards) are taken as they come, so that
their messages are the services' on either backend; their schema documents them.
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from pydantic import Field, WithJsonSchema
from typing_extensions import TypedDict

from lepton_lab.contract.core import JSON, File, Info, Items, PageOf, Plain, Request, declare
from lepton_lab.contract.shapes import Filters, calls, reader
from lepton_lab.errors import InvalidInput
from lepton_lab.gallery.changes import MAX_SPLIT
from lepton_lab.gallery.info import CARD_FIELDS, MetricInfo, ModelInfo, ModelVersionInfo
from lepton_lab.gallery.service import ModelService
from lepton_lab.refs import MAX_VERSION_DIGITS, check_slug

__all__ = [
    "ARTIFACT_MEDIA_TYPE",
    "COMPARE",
    "DOWNLOAD",
    "EVALUATE",
    "GET",
    "MAX_PREDICT_ROWS",
    "PREDICT",
    "REGISTER",
    "REMOVE_ALIAS",
    "SEARCH",
    "SET_ALIAS",
    "UPDATE",
    "VERSION",
    "VERSIONS",
    "Comparison",
    "Predictions",
    "model_name",
    "model_version",
    "predict_rows",
]

#: The media type of a model artifact.
ARTIFACT_MEDIA_TYPE = "application/octet-stream"

#: The most rows one prediction request may hold (the client sends more in batches).
MAX_PREDICT_ROWS = 10_000

_VALUE = {"type": ["string", "number", "integer", "boolean", "null"]}
_SLUG = "[a-z0-9][a-z0-9_-]{0,63}"

# JSON values the services check themselves (so that their messages are the same on both
# backends), each documented by its schema.
Card = Annotated[
    Any,
    WithJsonSchema(
        {
            "type": ["string", "object"],
            "description": f"Markdown (the notes), or by field: {', '.join(CARD_FIELDS)}.",
            "properties": {key: {"type": "string"} for key in CARD_FIELDS},
            "additionalProperties": False,
        }
    ),
]
Rows = Annotated[
    Any,
    WithJsonSchema(
        {
            "type": "array",
            "items": {"type": "object", "additionalProperties": _VALUE},
            "minItems": 1,
            "maxItems": MAX_PREDICT_ROWS,
            "description": "The rows, each {column: value}.",
        }
    ),
]
EvaluatedOn = Annotated[
    Any,
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": 300,
            "pattern": rf"^(\(.*\)|{_SLUG}/{_SLUG}@[1-9][0-9]{{0,{MAX_VERSION_DIGITS - 1}}})$",
            "description": "The dataset version (team/name@N), or text like (a DataFrame).",
        }
    ),
]
Split = Annotated[
    Any, WithJsonSchema({"type": "string", "pattern": f"^[a-z0-9][a-z0-9_-]{{0,{MAX_SPLIT - 1}}}$"})
]
Metrics = Annotated[
    Any,
    WithJsonSchema(
        {
            "type": "object",
            "additionalProperties": {"type": ["number", "null"]},
            "description": "name -> value (null: not computed)",
        }
    ),
]
_ALIAS = "[a-z][a-z0-9_-]{0,63}"
#: A version as an alias names it: a number, ``latest`` or another alias (to copy).
Pin = Annotated[
    int | str,
    WithJsonSchema(
        {
            "type": ["integer", "string"],
            "minimum": 1,
            "pattern": f"^(latest|[1-9][0-9]{{0,{MAX_VERSION_DIGITS - 1}}}|{_ALIAS})$",
            "description": "N, latest or another alias.",
        }
    ),
]


def model_name(team: str, name: str) -> str:
    """``team/name`` from path parts, each checked with a message naming it."""
    return f"{check_slug(team, 'team')}/{check_slug(name, 'name')}"


def model_version(team: str, name: str, version: str) -> str:
    """``team/name@version``: a number, ``latest`` or an alias (the service parses it)."""
    return f"{model_name(team, name)}@{version}"


def predict_rows(rows: Any) -> Any:
    """The rows of a prediction: 1 to :data:`MAX_PREDICT_ROWS` JSON objects, whose values
    are the model's to check (:class:`~lepton_lab.gallery.loaded.LoadedModel`).

    A DataFrame can only come from a client in this process: it goes on as it is, with no
    JSON round trip and no batch limit.
    """
    if hasattr(rows, "columns") and hasattr(rows, "to_json"):
        return rows
    if not isinstance(rows, list) or not rows:
        raise InvalidInput("send the rows to predict in 'rows': a list of {column: value}")
    if len(rows) > MAX_PREDICT_ROWS:
        raise InvalidInput(
            f"{len(rows)} rows is more than {MAX_PREDICT_ROWS} in one request; send batches"
        )
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise InvalidInput(f"row {number} is not a JSON object of {{column: value}}")
    return rows


class Predictions(TypedDict):
    """What predicting answers: the version that predicted, one prediction per row and,
    for classifiers, the class labels and one row of probabilities per row."""

    model: str
    predictions: list[str | int | float | bool | None]
    classes: NotRequired[list[str | int | float | bool | None]]
    probabilities: NotRequired[list[list[float]]]


class ComparisonRow(TypedDict):
    """A version on one dataset version and split; then each metric by name."""

    version: int
    ref: str
    aliases: str
    family: str
    dataset: str
    split: str


class Comparison(TypedDict):
    """Every version's metrics, oldest first."""

    items: list[ComparisonRow]


def _key(request: OneModel) -> str:
    """``team/name``, or ``team/name@version`` for a version, from the path's parts."""
    if isinstance(request, OneVersion):
        return model_version(request.team, request.name, request.version)
    return model_name(request.team, request.name)


_read = reader("models", _key, refusals=(400, 404))
_call = calls("models", _key)


class Search(Filters):
    """Words, filters and the page wanted."""

    q: str = Field("", description="Words matching names, teams and tasks.")
    team: str | None = Field(None, description="Only this team's models.")
    task: str | None = Field(None, description="binary, multiclass or regression.")
    tag: str | None = Field(None, description="Only models with this tag.")
    limit: int = 20
    offset: int = 0


SEARCH = _read(
    ModelService.search,
    "/models",
    Search,
    PageOf(ModelInfo),
    "Models you may see, newest first",
    refusals=(400,),
)


class OneModel(Request):
    """A model by team and name."""

    team: str
    name: str


GET = _read(
    ModelService.get,
    "/models/{team}/{name}",
    OneModel,
    Info(ModelInfo),
    "The model's card, aliases and headline metric",
)


class Update(OneModel):
    """What to change; what is not given stays."""

    card: Card = None
    tags: list[str] | None = None
    visibility: str | None = Field(None, description="private, team or org.")


UPDATE = _call(
    "PATCH",
    ModelService.update,
    "/models/{team}/{name}",
    Update,
    Info(ModelInfo),
    "Change the card, tags or visibility (its owner or a team editor)",
    role="editor",
    refusals=(400, 403, 404, 409),
    owner_note="404 for what they may not see; 403 unless the owner or an editor",
)

VERSIONS = _read(
    ModelService.versions,
    "/models/{team}/{name}/versions",
    OneModel,
    Items(ModelVersionInfo),
    "Every version, newest first",
)

REGISTER = declare(
    "models.register",
    "POST",
    "/models/{team}/{name}/versions",
    OneModel,
    Info(ModelVersionInfo),
    role="contributor",
    run=None,
    status=201,
    also=(200,),
    media_types=(JSON,),
    summary="Register the next version (the artifact is audited: only safe types load)",
    doc=(
        'One JSON body: {"artifact": the saved model\'s bytes in base64, "meta": what '
        'Candidate.meta() gives, "card", "tags", "visibility"}, of at most the server\'s '
        "max_upload_bytes. 201 for a new version, 200 when the same artifact was one."
    ),
    refusals=(400, 403, 404, 409, 413),
    owner_note="a new model: a contributor of the team; a new version: its owner or an editor",
)


class OneVersion(OneModel):
    """A version: a number, ``latest`` or an alias."""

    version: str


VERSION = _read(
    ModelService.version,
    "/models/{team}/{name}/versions/{version}",
    OneVersion,
    Info(ModelVersionInfo),
    "One version",
)

DOWNLOAD = declare(
    "models.artifact",
    "GET",
    "/models/{team}/{name}/versions/{version}/artifact",
    OneVersion,
    File(ARTIFACT_MEDIA_TYPE, "the saved model (skops, safetensors)"),
    role="user",
    run=None,
    summary="The saved model: check its sha256, then load it with the safe loader",
    doc=(
        "X-Lepton-Version names the version served, X-Lepton-Sha256 its digest, "
        "X-Lepton-Format how it is saved and X-Lepton-Trusted (a JSON list) the types the "
        "audit allowed."
    ),
    refusals=(400, 404),
)


class Predict(OneVersion):
    """Rows to predict."""

    rows: Rows = Field(examples=[[{"age": 42, "income": 52000.0, "region": "north"}]])


PREDICT = declare(
    "models.predict",
    "POST",
    "/models/{team}/{name}/versions/{version}/predict",
    Predict,
    Plain(Predictions, "Predictions"),
    role="user",
    run=lambda ws, actor, r: ws.models.predict(
        actor, model_version(r.team, r.name, r.version), predict_rows(r.rows)
    ),
    summary="Predict rows where the model is (a missing column or a bad value: 400)",
    refusals=(400, 404),
)


class Evaluate(OneVersion):
    """Metrics of the version on a dataset version and split."""

    dataset: EvaluatedOn = Field(examples=["finance/credit@1"])
    split: Split = Field(examples=["eval"])
    metrics: Metrics = Field(examples=[{"roc_auc": 0.9}])


EVALUATE = declare(
    "models.record_evaluation",
    "POST",
    "/models/{team}/{name}/versions/{version}/evaluations",
    Evaluate,
    Info(MetricInfo),
    role="contributor",
    run=lambda ws, actor, r: ws.models.record_metrics(
        actor, model_version(r.team, r.name, r.version), r.dataset, r.split, r.metrics
    ),
    status=201,
    summary="Store metrics of the version on a dataset version and split (ll.evaluate)",
    refusals=(400, 403, 404),
    owner_note=(
        "404 for a model or dataset they may not see; 403 unless its owner or a contributor "
        "(replacing another's evaluation: its owner or an editor)"
    ),
)

COMPARE = declare(
    "models.compare_rows",
    "GET",
    "/models/{team}/{name}/compare",
    OneModel,
    Plain(Comparison, "ModelComparison"),
    role="user",
    run=lambda ws, actor, r: {"items": ws.models.compare(actor, model_name(r.team, r.name))},
    summary="Each version's metrics, by dataset version and split, oldest first",
    refusals=(400, 404),
)


class SetAlias(OneModel):
    """An alias, and the version it is to name."""

    alias: str
    version: Pin = Field(examples=[1])


SET_ALIAS = declare(
    "models.promote",
    "PUT",
    "/models/{team}/{name}/aliases/{alias}",
    SetAlias,
    Info(ModelInfo),
    role="contributor",
    run=lambda ws, actor, r: ws.models.set_alias(
        actor, model_version(r.team, r.name, str(r.version)), r.alias
    ),
    summary="Point the alias at a version (production: editors; others: contributors)",
    refusals=(400, 403, 404),
)


class OneAlias(OneModel):
    """An alias of a model."""

    alias: str


REMOVE_ALIAS = declare(
    "models.remove_alias",
    "DELETE",
    "/models/{team}/{name}/aliases/{alias}",
    OneAlias,
    Info(ModelInfo),
    role="contributor",
    run=lambda ws, actor, r: ws.models.remove_alias(actor, model_name(r.team, r.name), r.alias),
    summary="Take the alias off (production: editors; others: contributors)",
    refusals=(400, 403, 404),
)
