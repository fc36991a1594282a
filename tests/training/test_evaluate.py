"""Training by reference (pinned versions) and evaluating on another version, with lineage."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn import metrics as skm

from lepton_lab.client import LocalClient
from lepton_lab.errors import InvalidInput
from lepton_lab.training import TrainResult, evaluate, train
from lepton_lab.training.train import Recorder

Edge = tuple[str, str, str]


def _record(edges: list[Edge]) -> Recorder:
    """A lineage hook that keeps the edges."""
    return lambda src, dst, kind: edges.append((src, dst, kind))


@pytest.fixture
def versions(client: LocalClient, iris: pd.DataFrame) -> LocalClient:
    """uci/iris@1: every other row; @2: all of them."""
    client.datasets.register(iris.iloc[::2], "uci/iris", description="Half of iris.")
    client.datasets.register(iris, "uci/iris")
    return client


def test_train_pins_the_reference_and_records_lineage(versions: LocalClient) -> None:
    edges: list[Edge] = []
    result = train(versions.datasets, "uci/iris", "species", model="knn", record=_record(edges))
    assert isinstance(result, TrainResult)
    latest = versions.datasets.version("uci/iris@2")
    assert result.spec["dataset"] == {"ref": "uci/iris@2", "sha256": latest.sha256, "rows": 150}
    assert edges == [("dataset:uci/iris@2", result.node, "trained_on")]
    assert "on uci/iris@2 → species" in result.report()


def test_evaluate_on_another_version(versions: LocalClient, iris: pd.DataFrame) -> None:
    result = train(versions.datasets, "uci/iris@1", "species", model="logistic_regression")
    assert isinstance(result, TrainResult)
    edges: list[Edge] = []
    evaluation = evaluate(versions.datasets, result, "uci/iris", record=_record(edges))
    assert edges == [("dataset:uci/iris@2", result.node, "evaluated_on")]
    assert evaluation.dataset["ref"] == "uci/iris@2" and evaluation.dataset["rows"] == 150
    predicted = result.predict(iris)
    assert evaluation.metrics["accuracy"] == pytest.approx(
        skm.accuracy_score(iris["species"], predicted)
    )
    assert evaluation.metrics["roc_auc"] == pytest.approx(
        skm.roc_auc_score(iris["species"], result.predict_proba(iris), multi_class="ovr")
    )
    assert evaluation.task == "multiclass" and evaluation.plot().axes
    assert evaluation.report().startswith(f"### {result.node} evaluated on uci/iris@2")


def test_evaluate_a_bare_model(versions: LocalClient, diabetes: pd.DataFrame) -> None:
    result = train(None, diabetes, "target", model="ridge")
    assert isinstance(result, TrainResult)
    evaluation = evaluate(None, result.model, diabetes, target="target")
    assert evaluation.task == "regression" and evaluation.model is None
    assert evaluation.metrics["r2"] == pytest.approx(
        skm.r2_score(diabetes["target"], result.predict(diabetes))
    )
    with pytest.raises(InvalidInput, match="target= is needed"):
        evaluate(None, result.model, diabetes)
    with pytest.raises(InvalidInput, match="node= names a bare model"):
        evaluate(None, result.model, diabetes, target="target", record=lambda *edge: None)


def test_evaluate_names_missing_columns(wine: pd.DataFrame, iris: pd.DataFrame) -> None:
    result = train(None, iris, "species", model="knn")
    with pytest.raises(InvalidInput, match="no target column 'species'"):
        evaluate(None, result, wine)
    with pytest.raises(InvalidInput, match="lack feature column"):
        evaluate(None, result, wine.assign(species="setosa"))
    with pytest.raises(InvalidInput, match="needs a TrainResult or a fitted model"):
        evaluate(None, "model.pkl", iris)
