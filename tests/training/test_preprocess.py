"""Preprocessing from the frame's types: missing values, categories, free text, raw rows in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lepton_lab.errors import InvalidInput
from lepton_lab.training import train
from lepton_lab.training.preprocess import build_preprocessor, plan_columns


def test_columns_sorted_by_kind(iris_mixed: pd.DataFrame) -> None:
    frame = iris_mixed.assign(
        seen=pd.to_datetime("2024-01-01"), empty=np.nan, flag=iris_mixed["sepal length (cm)"] > 6
    )
    features = [c for c in frame.columns if c != "species"]
    plan = plan_columns(frame, features)
    assert plan.numeric == [c for c in iris_mixed.columns if c.endswith("(cm)")]
    assert plan.categorical == ["petal size", "flag"]
    assert plan.text == ["notes"]
    assert set(plan.dropped) == {"seen", "empty"}
    assert "not used yet" in plan.dropped["seen"]


def test_short_labels_are_categories_not_text(iris: pd.DataFrame) -> None:
    # Species names: single words, 3 distinct values -> a category.
    assert plan_columns(iris, ["species"]).categorical == ["species"]
    # Wordy but repeated phrases are still categories (few distinct values).
    phrases = iris["species"].map(lambda s: f"a flower of the {s} kind")
    assert plan_columns(iris.assign(kind=phrases), ["kind"]).categorical == ["kind"]


def test_no_usable_column_is_an_error() -> None:
    frame = pd.DataFrame({"when": pd.date_range("2024-01-01", periods=4)})
    with pytest.raises(InvalidInput, match="no usable feature columns: when"):
        build_preprocessor(plan_columns(frame, ["when"]))


def test_trains_on_mixed_columns_and_predicts_raw_rows(iris_mixed: pd.DataFrame) -> None:
    result = train(None, iris_mixed, "species", model="logistic_regression")
    assert result.spec["columns"]["text"] == ["notes"]
    assert result.metrics["accuracy"] is not None and result.metrics["accuracy"] > 0.8
    raw = iris_mixed.drop(columns="species").head(3).copy()
    raw.loc[raw.index[0], "petal size"] = None  # None where training saw NaN
    raw.loc[raw.index[1], "petal size"] = "enormous"  # a category never seen
    raw.loc[raw.index[2], "notes"] = None
    raw.loc[raw.index[2], "sepal width (cm)"] = None
    predicted = result.predict(raw)
    assert len(predicted) == 3 and set(predicted) <= set(iris_mixed["species"])


def test_predict_names_missing_columns(iris: pd.DataFrame) -> None:
    result = train(None, iris, "species", model="knn")
    with pytest.raises(InvalidInput, match="lack feature column"):
        result.predict(iris.drop(columns=["petal width (cm)"]))
