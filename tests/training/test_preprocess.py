"""Preprocessing from the frame's types: missing values, categories, free text, raw rows in."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from lepton_lab.errors import InvalidInput
from lepton_lab.training import TrainResult, fitting, train
from lepton_lab.training.preprocess import (
    ColumnPlan,
    build_column_transformer,
    build_preprocessor,
    plan_columns,
)


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
    assert isinstance(result, TrainResult)
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
    assert isinstance(result, TrainResult)
    with pytest.raises(InvalidInput, match="lack feature column"):
        result.predict(iris.drop(columns=["petal width (cm)"]))


# -- numeric frames: the numeric treatment alone, the very same model -----------------------

SAME_MODEL = [
    ("wine", "logistic_regression", {}),
    ("breast_cancer", "logistic_regression", {}),
    ("wine", "random_forest", {"n_estimators": 20}),
    ("breast_cancer", "hist_gradient_boosting", {"max_iter": 20}),
    ("wine", "knn", {}),
    ("breast_cancer", "linear_svm", {}),
    ("diabetes", "ridge", {}),
    ("diabetes", "linear_regression", {}),
]


def _frame(request: pytest.FixtureRequest, name: str) -> pd.DataFrame:
    frame: pd.DataFrame = request.getfixturevalue(name)
    return frame


def _both_paths(
    monkeypatch: pytest.MonkeyPatch, frame: pd.DataFrame, family: str, **kwargs: Any
) -> tuple[TrainResult, TrainResult]:
    """(today's result, the result through the column transformer every frame once took)."""
    fast = train(None, frame, "target", model=family, **kwargs)
    with monkeypatch.context() as patched:
        patched.setattr(fitting, "build_preprocessor", build_column_transformer)
        general = train(None, frame, "target", model=family, **kwargs)
    assert isinstance(fast, TrainResult) and isinstance(general, TrainResult)
    assert isinstance(general.model.named_steps["preprocess"], ColumnTransformer)
    return fast, general


def _assert_same_model(fast: TrainResult, general: TrainResult, rows: pd.DataFrame) -> None:
    assert fast.metrics == general.metrics
    assert fast.cv == general.cv
    np.testing.assert_array_equal(fast.predict(rows), general.predict(rows))
    x = rows[fast.spec["features"]]
    np.testing.assert_array_equal(fast.model[:-1].transform(x), general.model[:-1].transform(x))
    for method in ("predict_proba", "decision_function"):
        if hasattr(general.model, method):
            expected = getattr(general.model, method)(x)
            np.testing.assert_array_equal(getattr(fast.model, method)(x), expected)


@pytest.mark.parametrize(("data", "family", "params"), SAME_MODEL)
def test_numeric_frames_skip_the_column_transformer(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    data: str,
    family: str,
    params: dict[str, Any],
) -> None:
    frame = _frame(request, data)
    fast, general = _both_paths(monkeypatch, frame, family, params=params)

    preprocess = fast.model.named_steps["preprocess"]
    assert type(preprocess) is Pipeline  # plain scikit-learn types: skops saves them
    assert [type(step) for _, step in preprocess.steps] == [SimpleImputer, StandardScaler]
    assert preprocess.steps[0][1].strategy == "median"
    features = fast.spec["features"]
    assert list(fast.model.feature_names_in_) == features
    assert fast.spec["columns"] == general.spec["columns"]
    _assert_same_model(fast, general, frame)
    # Raw rows in: the feature columns, in the training order, missing values and all.
    raw = frame[features].head(5).copy()
    raw.iloc[0, 0] = np.nan
    raw.iloc[1, :3] = None
    np.testing.assert_array_equal(fast.model.predict(raw), general.model.predict(raw))


def test_missing_numbers_and_folds_give_the_same_model(
    monkeypatch: pytest.MonkeyPatch, wine: pd.DataFrame
) -> None:
    frame = wine.copy()
    rng = np.random.default_rng(1)
    for column in frame.columns[:5]:
        frame.loc[rng.choice(len(frame), 20, replace=False), column] = np.nan
    fast, general = _both_paths(monkeypatch, frame, "logistic_regression", cv=3)
    assert type(fast.model.named_steps["preprocess"]) is Pipeline
    assert fast.cv is not None and len(fast.cv["folds"]) == 3
    _assert_same_model(fast, general, frame)


def test_other_columns_keep_the_column_transformer(
    wine: pd.DataFrame, iris_mixed: pd.DataFrame
) -> None:
    labels = np.where(wine["alcohol"] > wine["alcohol"].median(), "strong", "light")
    frames = {
        "a category": (wine.assign(strength=labels), "target"),
        "a boolean": (wine.assign(strong=wine["alcohol"] > 13), "target"),
        "a dropped column": (wine.assign(tasted=pd.Timestamp("2024-01-01")), "target"),
        "categories and text": (iris_mixed, "species"),
    }
    for what, (frame, target) in frames.items():
        result = train(None, frame, target, model="logistic_regression")
        assert isinstance(result, TrainResult)
        preprocess = result.model.named_steps["preprocess"]
        assert isinstance(preprocess, ColumnTransformer), what
        assert result.predict(frame).shape == (len(frame),)
    assert plan_columns(wine.assign(flag=True), ["alcohol", "flag"]).numeric_only is False


def test_the_numeric_step_is_built_only_for_numbers(wine: pd.DataFrame) -> None:
    numeric = plan_columns(wine, ["alcohol", "ash"])
    assert numeric.numeric_only
    assert type(build_preprocessor(numeric)) is Pipeline
    assert isinstance(build_column_transformer(numeric), ColumnTransformer)
    # Unnamed (integer) columns: the column transformer picks them by position.
    assert not ColumnPlan(numeric=[0, 1]).numeric_only  # type: ignore[list-item]
    assert not ColumnPlan().numeric_only
    with pytest.raises(InvalidInput, match="no usable feature columns: none given"):
        build_preprocessor(ColumnPlan())
