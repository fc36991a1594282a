"""``ll.models`` over a Lepton Lab server's REST API.

The same names, arguments, return values and errors as
:mod:`lepton_lab.client.local_models`.  Registering prepares the model here, where it is
(the safe artifact, signature, metrics and spec), and uploads the result; the server
audits the bytes again before storing them.  Loading downloads the artifact once per
process (cached by sha256), checks it against the version's sha256 and loads it with the
safe loader here; predicting sends the rows to the server, in batches.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import json
from typing import TYPE_CHECKING, Any

from lepton_lab.client.api_models import ModelsAPI
from lepton_lab.client.local_models import evaluation_parts
from lepton_lab.client.remote_runs import _json_body
from lepton_lab.errors import CorruptBlob, InvalidInput
from lepton_lab.gallery.info import MetricInfo, ModelInfo, ModelVersionInfo
from lepton_lab.gallery.rows import unversioned
from lepton_lab.paging import Page
from lepton_lab.refs import Ref, parse_ref

if TYPE_CHECKING:
    from lepton_lab.client.remote import RemoteClient
    from lepton_lab.gallery.loaded import LoadedModel

__all__ = ["PREDICT_BATCH", "RemoteModels"]

#: Rows sent in one prediction request (the server takes up to its PREDICT_BATCH).
PREDICT_BATCH = 10_000


def _model(ref: Ref) -> tuple[str, ...]:
    return ("models", ref.team, ref.name)


def _version(ref: Ref) -> tuple[str, ...]:
    pin = ref.version if ref.version is not None else ref.alias
    return (*_model(ref), "versions", str(pin) if pin is not None else "latest")


def _records(rows: Any) -> builtins.list[dict[str, Any]]:
    """Rows as JSON objects: a DataFrame's records (missing values as null) or the dicts."""
    if hasattr(rows, "to_json") and hasattr(rows, "columns"):
        records: builtins.list[dict[str, Any]] = json.loads(
            rows.to_json(orient="records", date_format="iso")
        )
        return records
    if isinstance(rows, dict):
        rows = [rows]
    if isinstance(rows, builtins.list) and all(isinstance(r, dict) for r in rows):
        return rows
    raise InvalidInput("give the rows to predict as a DataFrame or a list of {column: value}")


class RemoteModels(ModelsAPI):
    """``ll.models`` over REST."""

    def __init__(self, client: RemoteClient) -> None:
        self._http = client.transport

    def register(
        self,
        model: Any,
        name: str,
        *,
        card: str | dict[str, str] | None = None,
        tags: builtins.list[str] | None = None,
        visibility: str | None = None,
        task: str | None = None,
        features: builtins.list[str] | None = None,
    ) -> ModelVersionInfo:
        """Prepare ``model`` here and upload it as the next version of ``team/name``."""
        from lepton_lab.gallery.candidate import prepare

        ref = unversioned(name)
        candidate = prepare(model, task=task, features=features)
        body = {
            "artifact": base64.b64encode(candidate.data).decode("ascii"),
            "meta": candidate.meta(),
            "card": card,
            "tags": tags,
            "visibility": visibility,
        }
        answer = self._http.json("POST", *_model(ref), "versions", **_json_body(body))
        return ModelVersionInfo.from_dict(answer)

    def get(self, name: str) -> ModelInfo:
        """A model's card, aliases, tags and headline metric."""
        return ModelInfo.from_dict(self._http.json("GET", *_model(unversioned(name))))

    def version(self, ref: str) -> ModelVersionInfo:
        """One version, by number, alias or latest."""
        answer = self._http.json("GET", *_version(parse_ref(ref, "model")))
        return ModelVersionInfo.from_dict(answer)

    def versions(self, name: str) -> builtins.list[ModelVersionInfo]:
        """Every version, newest first."""
        answer = self._http.json("GET", *_model(unversioned(name)), "versions")
        return [ModelVersionInfo.from_dict(v) for v in answer["items"]]

    def search(
        self,
        query: str = "",
        *,
        team: str | None = None,
        task: str | None = None,
        tag: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> Page[ModelInfo]:
        """Models you may see matching ``query``."""
        given = {"q": query, "team": team, "task": task, "tag": tag}
        params = {k: str(v) for k, v in given.items() if v}
        params.update(limit=str(limit), offset=str(offset))
        answer = self._http.json("GET", "models", params=params)
        items = [ModelInfo.from_dict(m) for m in answer["items"]]
        return Page(items, answer["total"], answer["offset"], answer["limit"])

    def load(self, ref: str) -> LoadedModel:
        """The model, downloaded once per process, verified and loaded safely here."""
        from lepton_lab.gallery.artifacts import cached_model, load_model
        from lepton_lab.gallery.loaded import LoadedModel

        info = self.version(ref)
        model = cached_model(info.sha256)
        if model is None:
            pinned = parse_ref(info.ref, "model")
            answer = self._http.request("GET", *_version(pinned), "artifact")
            if hashlib.sha256(answer.content).hexdigest() != info.sha256:
                raise CorruptBlob(
                    f"the artifact of {info.ref} from {self._http.url} does not match its "
                    f"sha256 {info.sha256[:12]}…; it was not loaded, try again"
                )
            model = load_model(answer.content, info.sha256, info.trusted)
        return LoadedModel(model, ref=info.ref, task=info.task, signature=info.signature, info=info)

    def predict(self, ref: str, rows: Any) -> dict[str, Any]:
        """Predictions for rows, computed by the server (sent in batches)."""
        parts = _version(parse_ref(ref, "model"))
        records = _records(rows)
        if not records:
            raise InvalidInput("no rows to predict")
        result: dict[str, Any] = {}
        for start in range(0, len(records), PREDICT_BATCH):
            batch = {"rows": records[start : start + PREDICT_BATCH]}
            answer = self._http.json("POST", *parts, "predict", **_json_body(batch))
            if not result:
                result = answer
                # Later batches are predicted by the same version, whatever the alias does.
                parts = _version(parse_ref(answer["model"], "model"))
                continue
            for key in ("predictions", "probabilities"):
                if key in answer:
                    result[key] += answer[key]
        return result

    def promote(self, ref: str, alias: str = "production") -> ModelInfo:
        """Point an alias at a version (moving ``production`` needs the editor role)."""
        parsed = parse_ref(ref, "model")
        pin = parsed.version if parsed.version is not None else parsed.alias or "latest"
        parts = (*_model(parsed), "aliases", alias)
        answer = self._http.json("PUT", *parts, **_json_body({"version": pin}))
        return ModelInfo.from_dict(answer)

    def remove_alias(self, name: str, alias: str) -> ModelInfo:
        """Take an alias off."""
        answer = self._http.json("DELETE", *_model(unversioned(name)), "aliases", alias)
        return ModelInfo.from_dict(answer)

    def update(
        self,
        name: str,
        *,
        card: str | dict[str, str] | None = None,
        tags: builtins.list[str] | None = None,
        visibility: str | None = None,
    ) -> ModelInfo:
        """Edit the card, tags or visibility."""
        body = {"card": card, "tags": tags, "visibility": visibility}
        answer = self._http.json("PATCH", *_model(unversioned(name)), **_json_body(body))
        return ModelInfo.from_dict(answer)

    def compare_rows(self, name: str) -> builtins.list[dict[str, Any]]:
        """One row per version and (dataset version, split)."""
        answer = self._http.json("GET", *_model(unversioned(name)), "compare")
        rows: builtins.list[dict[str, Any]] = answer["items"]
        return rows

    def record_evaluation(self, ref: str, evaluation: Any) -> MetricInfo:
        """Store an evaluation against the version."""
        dataset, split, metrics = evaluation_parts(evaluation)
        body = {"dataset": dataset, "split": split, "metrics": metrics}
        parts = _version(parse_ref(ref, "model"))
        answer = self._http.json("POST", *parts, "evaluations", **_json_body(body))
        return MetricInfo.from_dict(answer)
