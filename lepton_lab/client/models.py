"""``ll.models``: register, find, compare, promote, load and use shared models.

Written once over a :class:`~lepton_lab.client.backend.Backend`: most calls are
operations of :mod:`lepton_lab.contract.models`.  Three things move more than a JSON
value, and so depend on where the catalog is; :func:`_transfers` picks how, once:

* registering: in process the gallery service saves the model; over REST the model is
  prepared here, where it is (the safe artifact, signature, metrics and spec), and the
  result uploaded, for the server to audit again before it stores it;
* loading: in process from the blob store; over REST the artifact is downloaded once per
  process (models are cached by sha256), checked against the version's sha256 and loaded
  with the safe loader here;
* the rows of a prediction: in process a DataFrame goes to the model as it is; over REST
  rows travel as JSON records, in batches of :data:`PREDICT_BATCH`.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import json
from typing import TYPE_CHECKING, Any

from typing_extensions import Unpack

from lepton_lab.client.backend import Backend, LocalBackend, RemoteBackend
from lepton_lab.contract import models as ops
from lepton_lab.errors import CorruptBlob, InvalidInput
from lepton_lab.gallery.info import (
    MetricInfo,
    ModelFilterArgs,
    ModelInfo,
    ModelRegisterArgs,
    ModelVersionInfo,
)
from lepton_lab.gallery.rows import unversioned
from lepton_lab.paging import Page
from lepton_lab.refs import Ref, parse_ref
from lepton_lab.runs.info import keywords

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from lepton_lab.gallery.loaded import LoadedModel

__all__ = ["PREDICT_BATCH", "Models", "evaluation_parts"]

#: Rows sent in one prediction request (the server takes up to ``MAX_PREDICT_ROWS``).
PREDICT_BATCH = ops.MAX_PREDICT_ROWS


def evaluation_parts(evaluation: Any) -> tuple[str, str, dict[str, Any]]:
    """(dataset, split, metrics) of an ``ll.evaluate`` result, for the gallery."""
    dataset = (getattr(evaluation, "dataset", None) or {}).get("ref") or "(a DataFrame)"
    return dataset, "eval", dict(evaluation.metrics)


def _model(name: str) -> dict[str, str]:
    """The path fields of ``team/name`` (a version in it is refused)."""
    ref = unversioned(name)
    return {"team": ref.team, "name": ref.name}


def _pin(ref: Ref) -> str:
    """A version's path segment: its number, its alias or ``latest``."""
    pin = ref.version if ref.version is not None else ref.alias
    return "latest" if pin is None else str(pin)


def _version(ref: str) -> dict[str, str]:
    """The path fields of ``team/name@3``, ``team/name@production`` or ``team/name``."""
    parsed = parse_ref(ref, "model")
    return {"team": parsed.team, "name": parsed.name, "version": _pin(parsed)}


def _is_frame(rows: Any) -> bool:
    return hasattr(rows, "to_json") and hasattr(rows, "columns")


def _records(rows: Any) -> builtins.list[dict[str, Any]]:
    """Rows as JSON objects: a DataFrame's records (missing values as null) or the dicts."""
    if _is_frame(rows):
        records: builtins.list[dict[str, Any]] = json.loads(
            rows.to_json(orient="records", date_format="iso")
        )
        return records
    if isinstance(rows, dict):
        rows = [rows]
    if isinstance(rows, builtins.list) and all(isinstance(r, dict) for r in rows):
        return rows
    raise InvalidInput("give the rows to predict as a DataFrame or a list of {column: value}")


def _batches(records: builtins.list[dict[str, Any]]) -> builtins.list[Any]:
    """Requests' worth of records, :data:`PREDICT_BATCH` each."""
    if not records:
        raise InvalidInput("no rows to predict")
    return [records[i : i + PREDICT_BATCH] for i in range(0, len(records), PREDICT_BATCH)]


class _InProcess:
    """Registering, loading and rows where the services run in this process."""

    def __init__(self, backend: LocalBackend) -> None:
        self._backend = backend

    def register(
        self, model: Any, name: str, **details: Unpack[ModelRegisterArgs]
    ) -> ModelVersionInfo:
        """The service saves ``model`` safely and registers it."""
        service = self._backend.workspace.models
        return service.register(self._backend.actor(), model, name, **details)

    def load(self, ref: str) -> LoadedModel:
        """The version, loaded from the blob store (cached in this process by sha256)."""
        return self._backend.workspace.models.load(self._backend.actor(), ref)

    def batches(self, rows: Any) -> builtins.list[Any]:
        """A DataFrame whole (no JSON round trip); records in batches."""
        return [rows] if _is_frame(rows) else _batches(_records(rows))


class _OverHttp:
    """Registering, loading and rows over a Lepton Lab server's REST API."""

    def __init__(self, backend: RemoteBackend) -> None:
        self._backend = backend

    def register(
        self, model: Any, name: str, **details: Unpack[ModelRegisterArgs]
    ) -> ModelVersionInfo:
        """Prepare ``model`` here and upload it (the server audits the bytes again)."""
        from lepton_lab.gallery.candidate import prepare

        path = ops.REGISTER.path_parts(ops.REGISTER.bind(**_model(name)))
        candidate = prepare(model, task=details.get("task"), features=details.get("features"))
        body = {
            "artifact": base64.b64encode(candidate.data).decode("ascii"),
            "meta": candidate.meta(),
            "card": details.get("card"),
            "tags": details.get("tags"),
            "visibility": details.get("visibility"),
        }
        answer = self._backend.transport.json("POST", *path, **_json_body(body))
        info: ModelVersionInfo = ops.REGISTER.reply.decode(answer)
        return info

    def load(self, ref: str) -> LoadedModel:
        """The version, downloaded once per process, verified and loaded safely here."""
        from lepton_lab.gallery.artifacts import cached_model, load_model
        from lepton_lab.gallery.loaded import LoadedModel

        info: ModelVersionInfo = self._backend.call(ops.VERSION, **_version(ref))
        model = cached_model(info.sha256)
        if model is None:
            path = ops.DOWNLOAD.path_parts(ops.DOWNLOAD.bind(**_version(info.ref)))
            data = self._backend.transport.request("GET", *path).content
            if hashlib.sha256(data).hexdigest() != info.sha256:
                raise CorruptBlob(
                    f"the artifact of {info.ref} from {self._backend.url} does not match its "
                    f"sha256 {info.sha256[:12]}…; it was not loaded, try again"
                )
            model = load_model(data, info.sha256, info.trusted)
        return LoadedModel(model, ref=info.ref, task=info.task, signature=info.signature, info=info)

    def batches(self, rows: Any) -> builtins.list[Any]:
        """JSON records, in batches the server takes."""
        return _batches(_records(rows))


def _json_body(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` as a JSON request (None values left out); a value JSON cannot hold is
    bad input, said here rather than by the HTTP library."""
    given = {k: v for k, v in body.items() if v is not None}
    try:
        data = json.dumps(given, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"cannot send this as JSON ({exc}): use numbers, text, booleans, lists and dicts"
        ) from None
    return {"data": data.encode(), "headers": {"Content-Type": "application/json"}}


def _transfers(backend: Backend) -> _InProcess | _OverHttp:
    """How this backend registers, loads and sends rows."""
    if isinstance(backend, LocalBackend):
        return _InProcess(backend)
    if isinstance(backend, RemoteBackend):
        return _OverHttp(backend)
    raise TypeError(f"no way to move models with {type(backend).__name__}")


class Models:
    """``ll.models``: register, find, compare, promote and load shared models."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._transfers = _transfers(backend)

    def register(
        self, model: Any, name: str, **details: Unpack[ModelRegisterArgs]
    ) -> ModelVersionInfo:
        """Register ``ll.train``'s result (or a fitted scikit-learn estimator) as ``team/name``.

        The model is saved in safe formats (skops; safetensors for torch networks), with its
        signature, metrics, training spec and lineage.  ``card`` is markdown or a dict of
        summary, intended_use, limitations, training_data, evaluation, notes.  The same
        artifact again gives the version it already is (``created`` False).
        """
        return self._transfers.register(model, name, **keywords(details, ModelRegisterArgs))

    def get(self, name: str) -> ModelInfo:
        """A model's card, aliases, tags and headline metric."""
        info: ModelInfo = self._backend.call(ops.GET, **_model(name))
        return info

    def version(self, ref: str) -> ModelVersionInfo:
        """``team/name@3``, ``team/name@production`` or ``team/name`` (latest)."""
        info: ModelVersionInfo = self._backend.call(ops.VERSION, **_version(ref))
        return info

    def versions(self, name: str) -> builtins.list[ModelVersionInfo]:
        """Every version, newest first."""
        found: builtins.list[ModelVersionInfo] = self._backend.call(ops.VERSIONS, **_model(name))
        return found

    def search(self, query: str = "", **filters: Unpack[ModelFilterArgs]) -> Page[ModelInfo]:
        """Models you may see matching ``query``, newest first; ``.next_offset`` pages on."""
        page: Page[ModelInfo] = self._backend.call(
            ops.SEARCH, q=query or None, **keywords(filters, ModelFilterArgs)
        )
        return page

    def load(self, ref: str) -> LoadedModel:
        """The model, loaded safely: ``model.predict(df)``, ``model.predict_proba(df)``."""
        return self._transfers.load(ref)

    def predict(self, ref: str, rows: Any) -> dict[str, Any]:
        """Predictions for rows (a DataFrame or a list of dicts), computed where the model is.

        ``{"model": "team/name@N", "predictions": [...]}``, classifiers adding ``classes``
        and one row of ``probabilities`` per row.
        """
        where = _version(ref)
        result: dict[str, Any] = {}
        for batch in self._transfers.batches(rows):
            answer: dict[str, Any] = self._backend.call(ops.PREDICT, **where, rows=batch)
            if not result:
                result = dict(answer)
                # Later batches are predicted by the same version, whatever the alias does.
                where = _version(answer["model"])
                continue
            for key in ("predictions", "probabilities"):
                if key in answer:
                    result[key] += answer[key]
        return result

    def promote(self, ref: str, alias: str = "production") -> ModelInfo:
        """Point an alias at a version (moving ``production`` needs the editor role)."""
        where = _version(ref)
        info: ModelInfo = self._backend.call(
            ops.SET_ALIAS,
            team=where["team"],
            name=where["name"],
            alias=alias,
            version=where["version"],
        )
        return info

    def remove_alias(self, name: str, alias: str) -> ModelInfo:
        """Take an alias off (the same roles as moving it)."""
        info: ModelInfo = self._backend.call(ops.REMOVE_ALIAS, **_model(name), alias=alias)
        return info

    def update(
        self,
        name: str,
        *,
        card: str | dict[str, str] | None = None,
        tags: builtins.list[str] | None = None,
        visibility: str | None = None,
    ) -> ModelInfo:
        """Edit the card, tags or visibility (its owner or a team editor)."""
        info: ModelInfo = self._backend.call(
            ops.UPDATE, **_model(name), card=card, tags=tags, visibility=visibility
        )
        return info

    def compare_rows(self, name: str) -> builtins.list[dict[str, Any]]:
        """One row per version and (dataset version, split) with every metric."""
        answer: dict[str, Any] = self._backend.call(ops.COMPARE, **_model(name))
        rows: builtins.list[dict[str, Any]] = answer["items"]
        return rows

    def record_evaluation(self, ref: str, evaluation: Any) -> MetricInfo:
        """Store ``ll.evaluate``'s result against the version."""
        dataset, split, metrics = evaluation_parts(evaluation)
        measured: MetricInfo = self._backend.call(
            ops.EVALUATE, **_version(ref), dataset=dataset, split=split, metrics=metrics
        )
        return measured

    def compare(self, name: str) -> pd.DataFrame:
        """Versions by metrics, with the dataset version and split each was measured on."""
        import pandas as pd

        return pd.DataFrame(self.compare_rows(name))

    def plot_compare(self, name: str, metric: str | None = None) -> Figure:
        """A metric over versions, one line per (dataset, split)."""
        from lepton_lab.gallery.plots import compare_figure

        return compare_figure(name, self.compare_rows(name), metric)
