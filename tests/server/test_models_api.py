"""The model gallery's REST API on a real Jupyter Server, with real trained models."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lepton_lab.gallery.candidate import prepare
from lepton_lab.training import train
from lepton_lab.workspace import Workspace
from tests.server.conftest import Api

MODEL = ("models", "lab", "wine")
V1 = (*MODEL, "versions", "1")


def upload(result: Any, **extra: Any) -> dict[str, Any]:
    """The body registering ``result`` (``ll.train``'s), as the remote client sends it."""
    candidate = prepare(result)
    artifact = base64.b64encode(candidate.data).decode()
    return {"artifact": artifact, "meta": candidate.meta(), **extra}


@pytest.fixture(scope="module")
def wine_model(wine: pd.DataFrame) -> Any:
    """A logistic regression of the wine cultivar (three classes)."""
    return train(None, wine, "target", model="logistic_regression")


@pytest.fixture
def server_workspace(jp_serverapp: Any) -> Workspace:
    """The workspace the server's extension opened."""
    workspace: Workspace = jp_serverapp.web_app.settings["lepton_lab_workspace"]
    return workspace


async def register(api: Api, model: Any) -> dict[str, Any]:
    """Register ``model`` as lab/wine, as alice (bob is no member of lab): the version."""
    status, version = await api("POST", *MODEL, "versions", body=upload(model))
    assert status == 201, version
    return dict(version)


def flipped(data: bytes) -> bytes:
    """``data`` with one byte changed (in the middle: a zip's last bytes are often zero)."""
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


def _features(wine: pd.DataFrame, rows: int = 5) -> pd.DataFrame:
    return wine.drop(columns="target").head(rows)


async def test_register_read_and_search(api: Api, wine_model: Any) -> None:
    registered = await register(api, wine_model)
    assert (registered["ref"], registered["created"], registered["task"]) == (
        "lab/wine@1",
        True,
        "multiclass",
    )
    assert registered["family"] == "logistic_regression" and registered["trusted"] is not None
    assert [m["split"] for m in registered["metrics"]] == ["test"]
    status, again = await api("POST", *MODEL, "versions", body=upload(wine_model))
    assert (status, again["version"], again["created"]) == (200, 1, False)

    status, model = await api("GET", *MODEL)
    assert (status, model["latest_version"], model["headline"]["name"]) == (200, 1, "roc_auc")
    status, page = await api("GET", "models", params={"q": "wine", "task": "multiclass"})
    assert [m["ref"] for m in page["items"]] == ["lab/wine"] and page["total"] == 1
    status, page = await api("GET", "models", params={"task": "regression"})
    assert page["total"] == 0
    status, versions = await api("GET", *MODEL, "versions")
    assert [v["ref"] for v in versions["items"]] == ["lab/wine@1"]
    for pin in ("1", "latest"):
        status, version = await api("GET", *MODEL, "versions", pin)
        assert (status, version["sha256"]) == (200, registered["sha256"])
    status, compared = await api("GET", *MODEL, "compare")
    assert compared["items"][0]["version"] == 1 and "accuracy" in compared["items"][0]

    card = {"card": {"summary": "Cultivars."}, "tags": ["Wine"], "visibility": "org"}
    status, changed = await api("PATCH", *MODEL, body=card)
    assert (status, changed["card"]["summary"], changed["tags"]) == (200, "Cultivars.", ["wine"])
    status, seen = await api("GET", *MODEL, user="bob")  # org-visible now
    assert status == 200 and seen["visibility"] == "org"


async def test_unknown_models_and_versions(api: Api, wine_model: Any) -> None:
    await register(api, wine_model)
    status, body = await api("GET", "models", "lab", "wnie")
    assert status == 404 and "did you mean lab/wine" in body["message"]
    status, body = await api("GET", *MODEL, user="bob")  # team visibility: bob is no member
    assert status == 404
    status, body = await api("GET", *MODEL, "versions", "7")
    assert status == 404 and "the latest is 1" in body["message"]
    status, body = await api("GET", *MODEL, "versions", "prod")
    assert status == 404 and "has no alias 'prod'" in body["message"]
    for bad in ("0", "1x", "99999999999"):
        status, body = await api("GET", *MODEL, "versions", bad)
        assert status == 400, (bad, body)
    status, body = await api("GET", "models", "Lab", "wine")
    assert status == 400 and "team 'Lab'" in body["message"]


async def test_aliases_follow_the_roles(api: Api, wine_model: Any) -> None:
    await register(api, wine_model)
    status, _ = await api("PUT", "teams", "lab", "members", "bob", body={"role": "contributor"})
    assert status == 200
    aliases = (*MODEL, "aliases")
    status, model = await api("PUT", *aliases, "staging", body={"version": 1}, user="bob")
    assert (status, model["aliases"]) == (200, {"staging": 1})
    status, body = await api("PUT", *aliases, "production", body={"version": 1}, user="bob")
    assert status == 403 and "editor" in body["message"]
    status, model = await api("PUT", *aliases, "production", body={"version": "staging"})
    assert (status, model["aliases"]) == (200, {"production": 1, "staging": 1})
    status, version = await api("GET", *MODEL, "versions", "production")
    assert (status, version["aliases"]) == (200, ["production", "staging"])
    status, body = await api("PUT", *aliases, "staging", body={"version": 7})
    assert status == 404 and "has no version 7" in body["message"]
    for bad in ({"version": True}, {}, {"version": [1]}, {"version": 1, "x": 2}):
        status, body = await api("PUT", *aliases, "staging", body=bad)
        assert status == 400, (bad, body)
    status, body = await api("PUT", *aliases, "latest", body={"version": 1})
    assert status == 400 and "read as a version" in body["message"]

    status, body = await api("DELETE", *aliases, "production", user="bob")
    assert status == 403
    status, model = await api("DELETE", *aliases, "staging", user="bob")
    assert (status, model["aliases"]) == (200, {"production": 1})
    status, body = await api("DELETE", *aliases, "staging")
    assert status == 404 and "no alias 'staging'" in body["message"]


async def test_predict_as_the_model_does(api: Api, wine: pd.DataFrame, wine_model: Any) -> None:
    await register(api, wine_model)
    rows = _features(wine)
    body = {"rows": rows.to_dict(orient="records")}
    status, answer = await api("POST", *V1, "predict", body=body)
    assert status == 200, answer
    assert answer["model"] == "lab/wine@1"
    assert answer["predictions"] == [int(p) for p in wine_model.predict(rows)]
    assert answer["classes"] == [0, 1, 2]
    expected = wine_model.model.predict_proba(rows)
    assert np.allclose(answer["probabilities"], expected)
    status, latest = await api("POST", *MODEL, "versions", "latest", "predict", body=body)
    assert latest["predictions"] == answer["predictions"]

    missing = {"rows": rows.drop(columns="alcohol").to_dict(orient="records")}
    status, problem = await api("POST", *V1, "predict", body=missing)
    assert status == 400 and "alcohol" in problem["message"]
    for value in (b"Infinity", b"NaN", b"1e999"):  # JSON as Python reads it
        raw = json.dumps({"rows": [{**body["rows"][0], "hue": 0}]}).encode()
        raw = raw.replace(b'"hue": 0', b'"hue": ' + value)
        status, problem = await api("POST", *V1, "predict", raw=raw)
        assert status == 400 and "not finite" in problem["message"], (value, problem)
    nested = {"rows": [{**body["rows"][0], "hue": [1, 2]}]}
    too_many = {"rows": [body["rows"][0]] * 10_001}
    for bad, says in [
        ({"rows": []}, "rows to predict"),
        ({"rows": {"alcohol": 1}}, "rows to predict"),
        ({"rows": [1, 2]}, "row 1 is not a JSON object"),
        (nested, "column 'hue' holds a list"),
        ({"rows": [{**body["rows"][0], "hue": 10**400}]}, "too large for a float"),
        (too_many, "10001 rows is more than 10000"),
        ({"row": body["rows"]}, "unknown field"),
    ]:
        status, problem = await api("POST", *V1, "predict", body=bad)
        assert status == 400 and says in problem["message"], (says, problem)


async def test_the_artifact_comes_with_its_digest(api: Api, jp_fetch: Any, wine_model: Any) -> None:
    registered = await register(api, wine_model)
    response = await jp_fetch(
        "lepton", "api", "v1", *V1, "artifact", headers={"Authorization": "token alice-token"}
    )
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["X-Lepton-Sha256"] == registered["sha256"]
    assert hashlib.sha256(response.body).hexdigest() == registered["sha256"]
    assert response.headers["X-Lepton-Version"] == "lab/wine@1"
    assert json.loads(response.headers["X-Lepton-Trusted"]) == registered["trusted"]


async def test_a_tampered_artifact_is_refused(
    api: Api, wine: pd.DataFrame, wine_model: Any, server_workspace: Workspace
) -> None:
    registered = await register(api, wine_model)
    from lepton_lab.gallery.artifacts import clear_cache

    clear_cache()  # the server runs in this process: no model loaded before the tampering
    blob = server_workspace.blobs.local_path(registered["sha256"])
    blob.chmod(0o644)
    blob.write_bytes(flipped(blob.read_bytes()))
    # Storage that no longer holds what was stored is the server's fault, as for datasets.
    status, body = await api("GET", *V1, "artifact")
    assert (status, body["error"]) == (500, "CorruptBlob") and "corrupt" in body["message"]
    rows = {"rows": _features(wine).to_dict(orient="records")}
    status, body = await api("POST", *V1, "predict", body=rows)
    assert (status, body["error"]) == (500, "CorruptBlob")


class Sneaky:
    """A class no audit trusts: loading it could run its code."""

    def __init__(self) -> None:
        self.payload = "rm -rf ~"


async def test_an_artifact_with_an_untrusted_type_is_refused(api: Api, wine_model: Any) -> None:
    import skops.io as sio  # type: ignore[import-untyped]
    from sklearn.pipeline import Pipeline

    body = upload(wine_model)
    crafted = Pipeline([("model", wine_model.model)])
    crafted.steps.append(("sneaky", Sneaky()))
    body["artifact"] = base64.b64encode(sio.dumps(crafted)).decode()
    status, problem = await api("POST", *MODEL, "versions", body=body)
    assert status == 400 and "Sneaky" in problem["message"], problem
    status, _ = await api("GET", *MODEL)
    assert status == 404  # nothing was registered


async def test_bad_uploads_are_bad_input(api: Api, wine_model: Any) -> None:
    assert (await api("POST", "teams", body={"slug": "lab"}))[0] == 201
    good = upload(wine_model)
    meta = good["meta"]
    cases = [
        ({**good, "artifact": "not base64!"}, "not valid base64"),
        ({**good, "artifact": None}, "base64-encoded"),
        ({**good, "meta": []}, "meta must be"),
        ({**good, "meta": {**meta, "colour": 1}}, "unknown field(s) ['colour']"),
        ({**good, "meta": {k: v for k, v in meta.items() if k != "spec"}}, "missing field"),
        ({**good, "meta": {**meta, "task": "t" * 21}}, "meta task is 21 characters"),
        ({**good, "meta": {**meta, "params": [1]}}, "meta params must be a JSON object"),
        ({**good, "meta": {**meta, "run": "; drop"}}, "not a lineage node"),
        ({**good, "meta": {**meta, "spec": {"dataset": "x"}}}, "spec dataset must be"),
        ({**good, "meta": {**meta, "spec": {"rows": 3}}}, "spec rows must be"),
        ({**good, "meta": {**meta, "signature": {"inputs": "abc"}}}, "signature inputs"),
        ({**good, "meta": {**meta, "signature": {"inputs": [{"dtype": "number"}]}}}, "inputs"),
        ({**good, "meta": {**meta, "signature": {"inputs": []}}}, "signature output"),
        ({**good, "card": {"sumary": "x"}}, "unknown card field"),
        ({**good, "visibility": "world"}, "visibility"),
        ({**good, "surprise": 1}, "unknown field(s) ['surprise']"),
    ]
    for body, says in cases:
        status, problem = await api("POST", *MODEL, "versions", body=body)
        assert status == 400 and says in problem["message"], (says, problem)
    status, problem = await api("POST", *MODEL, "versions", raw=b"{not json")
    assert status == 400 and "not valid JSON" in problem["message"]
    status, problem = await api("POST", *MODEL, "versions", raw=b"x" * 5_000_001)
    assert (status, problem["error"]) == (413, "TooLarge")
    status, problem = await api("POST", *MODEL, "versions", body=good, user="bob")
    assert status == 403 and "contributor" in problem["message"]


async def test_evaluations_are_stored(api: Api, wine: pd.DataFrame, wine_model: Any) -> None:
    await register(api, wine_model)
    # What the model was evaluated on is a dataset version the caller can see.
    csv = {"raw": wine.to_csv(index=False).encode(), "params": {"format": "csv"}}
    assert (await api("POST", "datasets", "lab", "wine-2024", "versions", **csv))[0] == 201
    body = {"dataset": "lab/wine-2024@1", "split": "eval", "metrics": {"accuracy": 0.75}}
    status, measured = await api("POST", *V1, "evaluations", body=body)
    assert (status, measured["split"], measured["metrics"]) == (201, "eval", {"accuracy": 0.75})
    status, version = await api("GET", *V1)
    assert [m["split"] for m in version["metrics"]] == ["test", "eval"]
    status, compared = await api("GET", *MODEL, "compare")
    assert [r["split"] for r in compared["items"]] == ["test", "eval"]
    for bad, says in [
        ({**body, "metrics": [0.5]}, "metrics must be"),
        ({**body, "split": "s" * 41}, "too long"),
        ({**body, "split": "Eval Set"}, "split 'Eval Set'"),
        ({**body, "dataset": 3}, "dataset must be text"),
    ]:
        status, problem = await api("POST", *V1, "evaluations", body=bad)
        assert status == 400 and says in problem["message"], (says, problem)
