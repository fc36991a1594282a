"""``ll.models``: the same behaviour on the local and the remote backend, with real models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes

from lepton_lab.client import Client
from lepton_lab.client.models import PREDICT_BATCH
from lepton_lab.contract.models import MAX_PREDICT_ROWS
from lepton_lab.errors import CorruptBlob, InvalidInput, NotFound, PermissionDenied
from lepton_lab.gallery.artifacts import cached_model, clear_cache
from lepton_lab.gallery.loaded import LoadedModel
from lepton_lab.training import evaluate, train
from tests.client.conftest import Backend
from tests.server.test_models_api import flipped


@pytest.fixture(scope="module")
def wine_model(wine: pd.DataFrame) -> Any:
    """A logistic regression of the wine cultivar (three classes)."""
    return train(None, wine, "target", model="logistic_regression")


@pytest.fixture(scope="module")
def diabetes() -> pd.DataFrame:
    frame: pd.DataFrame = load_diabetes(as_frame=True).frame
    return frame


def _rows(frame: pd.DataFrame, target: str = "target", n: int = 7) -> pd.DataFrame:
    return frame.drop(columns=target).head(n)


def test_register_find_load_and_predict(
    alice: Client, backend: Backend, wine: pd.DataFrame, wine_model: Any
) -> None:
    name = f"{backend.team('lab')}/wine"
    info = alice.models.register(wine_model, name, tags=[backend.tag], card="Cultivars.")
    assert (info.ref, info.version, info.created, info.task) == (f"{name}@1", 1, True, "multiclass")
    assert info.family == "logistic_regression" and info.metrics[0].split == "test"
    assert alice.models.register(wine_model, name).created is False

    model = alice.models.get(name)
    assert (model.ref, model.tags, model.card["notes"]) == (name, [backend.tag], "Cultivars.")
    assert model.headline is not None and model.headline["name"] == "roc_auc"
    assert [m.ref for m in alice.models.search(tag=backend.tag)] == [name]
    assert alice.models.search("wine", tag=backend.tag, task="regression").total == 0
    assert [v.ref for v in alice.models.versions(name)] == [f"{name}@1"]
    assert alice.models.version(name).sha256 == info.sha256

    rows = _rows(wine)
    loaded = alice.models.load(f"{name}@1")
    assert isinstance(loaded, LoadedModel) and loaded.ref == f"{name}@1"
    assert list(loaded.predict(rows)) == list(wine_model.predict(rows))
    assert cached_model(info.sha256) is not None  # a second load costs nothing
    answer = alice.models.predict(name, rows)
    assert answer["model"] == f"{name}@1" and answer["classes"] == [0, 1, 2]
    assert answer["predictions"] == [int(p) for p in wine_model.predict(rows)]
    assert np.allclose(answer["probabilities"], wine_model.model.predict_proba(rows))
    as_dicts = alice.models.predict(f"{name}@latest", rows.to_dict(orient="records"))
    assert as_dicts["predictions"] == answer["predictions"]

    compared = alice.models.compare(name)
    assert isinstance(compared, pd.DataFrame)
    assert list(compared["version"]) == [1] and "accuracy" in compared.columns


def test_a_regression_and_many_rows(
    alice: Client, backend: Backend, diabetes: pd.DataFrame
) -> None:
    result: Any = train(None, diabetes, "target", model="ridge")
    name = f"{backend.team('lab')}/diabetes"
    assert alice.models.register(result, name).task == "regression"
    # More rows than one request carries: the remote client sends them in batches.
    assert PREDICT_BATCH <= MAX_PREDICT_ROWS
    many = pd.concat([_rows(diabetes, n=len(diabetes))] * 25, ignore_index=True)
    assert len(many) > PREDICT_BATCH
    answer = alice.models.predict(name, many)
    assert "probabilities" not in answer and "classes" not in answer
    assert answer["predictions"] == pytest.approx(result.predict(many).tolist())


def test_aliases_follow_the_roles(
    alice: Client, bob: Client, backend: Backend, wine: pd.DataFrame, wine_model: Any
) -> None:
    team = backend.team("lab")
    name = f"{team}/wine"
    alice.models.register(wine_model, name)
    second = train(None, wine, "target", model="logistic_regression", params={"C": 0.5})
    assert alice.models.register(second, name).version == 2
    alice.teams.add_member(team, "bob", "contributor")
    assert bob.models.promote(f"{name}@1", "staging").aliases == {"staging": 1}
    with pytest.raises(PermissionDenied, match="editor"):
        bob.models.promote(f"{name}@2")
    assert alice.models.promote(name).aliases == {"production": 2, "staging": 1}
    assert alice.models.promote(f"{name}@staging", "candidate").aliases["candidate"] == 1
    assert bob.models.version(f"{name}@production").version == 2
    assert bob.models.load(f"{name}@staging").ref == f"{name}@1"
    with pytest.raises(PermissionDenied):
        bob.models.remove_alias(name, "production")
    assert bob.models.remove_alias(name, "staging").aliases == {"candidate": 1, "production": 2}
    with pytest.raises(NotFound, match="no alias 'staging'"):
        alice.models.remove_alias(name, "staging")
    rows = alice.models.compare_rows(name)
    assert [(r["version"], r["aliases"]) for r in rows] == [(1, "candidate"), (2, "production")]
    changed = alice.models.update(name, card={"summary": "Ours."}, tags=["Wine"])
    assert (changed.card["summary"], changed.tags) == ("Ours.", ["wine"])


def test_mistakes_raise_the_same_errors(
    alice: Client, bob: Client, backend: Backend, wine: pd.DataFrame, wine_model: Any
) -> None:
    name = f"{backend.team('lab')}/credit-risk"
    alice.models.register(wine_model, name)
    with pytest.raises(NotFound, match=f"did you mean {name}"):
        alice.models.get(name.replace("risk", "rsik"))
    with pytest.raises(NotFound):
        bob.models.get(name)  # team visibility: bob is no member
    with pytest.raises(NotFound, match="has no version 7"):
        alice.models.version(f"{name}@7")
    with pytest.raises(NotFound, match="has no version 7"):
        alice.models.promote(f"{name}@7", "staging")
    with pytest.raises(NotFound, match="has no alias 'prod'"):
        alice.models.load(f"{name}@prod")
    with pytest.raises(InvalidInput, match="without a version"):
        alice.models.register(wine_model, f"{name}@2")
    with pytest.raises(InvalidInput, match="without a version"):
        alice.models.get(f"{name}@2")
    with pytest.raises(InvalidInput, match="read as a version"):
        alice.models.promote(name, "latest")
    with pytest.raises(InvalidInput, match="cannot register a str"):
        alice.models.register("not a model", name)
    with pytest.raises(InvalidInput, match="alcohol"):
        alice.models.predict(name, _rows(wine).drop(columns="alcohol"))
    with pytest.raises(InvalidInput, match="unknown card field"):
        alice.models.update(name, card={"sumary": "x"})
    with pytest.raises(InvalidInput):
        alice.models.version("no-slash")
    with pytest.raises(PermissionDenied, match="contributor"):
        bob.models.register(wine_model, f"{backend.team('lab')}/bobs")


def test_evaluations_are_recorded(
    alice: Client, backend: Backend, wine: pd.DataFrame, wine_model: Any
) -> None:
    name = f"{backend.team('lab')}/wine"
    alice.models.register(wine_model, name)
    loaded = alice.models.load(name)
    evaluation = evaluate(None, loaded.model, wine.sample(40, random_state=1), target="target")
    measured = alice.models.record_evaluation(loaded.ref, evaluation)
    assert (measured.dataset, measured.split) == ("(a DataFrame)", "eval")
    assert measured.metrics["accuracy"] == pytest.approx(evaluation.metrics["accuracy"])
    splits = [m.split for m in alice.models.version(f"{name}@1").metrics]
    assert splits == ["test", "eval"]


def _blob(backend: Backend, sha256: str) -> Path:
    if backend.workspace is not None:
        return backend.workspace.blobs.local_path(sha256)
    assert backend.server is not None
    return backend.server.home / "blobs" / sha256[:2] / sha256[2:4] / sha256


def test_a_tampered_artifact_is_refused(
    alice: Client, backend: Backend, wine: pd.DataFrame
) -> None:
    # Bytes of its own (blobs are shared by content): no other test meets the tampered one.
    unique = 1 + int(backend.suffix, 16) % 10_000 / 10_000
    result = train(None, wine, "target", model="logistic_regression", params={"C": unique})
    name = f"{backend.team('lab')}/tampered"
    info = alice.models.register(result, name)
    blob = _blob(backend, info.sha256)
    original = blob.read_bytes()
    clear_cache()  # nothing loaded in this process before the tampering
    blob.chmod(0o644)
    blob.write_bytes(flipped(original))
    try:
        with pytest.raises(CorruptBlob, match=r"corrupt|changed"):
            alice.models.load(name)
    finally:
        blob.write_bytes(original)
