"""A loaded gallery model: its signature, the checks on rows, predictions and probabilities."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from lepton_lab.errors import InvalidInput
from lepton_lab.gallery.artifacts import clear_cache, load_model, save_model
from lepton_lab.gallery.loaded import LoadedModel, signature_of
from lepton_lab.training import TrainResult, train

NUMBERS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


@pytest.fixture(scope="module")
def mixed(iris: pd.DataFrame) -> pd.DataFrame:
    """Iris with a category and a free-text column."""
    frame = iris.copy()
    frame["size"] = np.where(frame["petal length (cm)"] > 4, "large", "small")
    frame["notes"] = (
        "petals of "
        + frame["petal length (cm)"].astype(str)
        + " by "
        + frame["petal width (cm)"].astype(str)
        + " cm"
    )
    return frame


@pytest.fixture(scope="module")
def result(mixed: pd.DataFrame) -> TrainResult:
    trained = train(None, mixed, "species", model="logistic_regression")
    assert isinstance(trained, TrainResult)
    return trained


@pytest.fixture(scope="module")
def rows(mixed: pd.DataFrame) -> pd.DataFrame:
    return mixed.drop(columns="species").iloc[::10].reset_index(drop=True)


@pytest.fixture
def loaded(result: TrainResult, mixed: pd.DataFrame) -> LoadedModel:
    """The model through the gallery's round trip, wrapped as the registry wraps it."""
    artifact = save_model(result.model)
    model = load_model(artifact.data, artifact.sha256, artifact.trusted)
    signature = signature_of(model, mixed, result.spec["features"])
    return LoadedModel(model, ref="botany/iris@1", task=result.task, signature=signature)


# -- signatures -----------------------------------------------------------------------------


def test_the_signature_from_a_training_frame(result: TrainResult, mixed: pd.DataFrame) -> None:
    signature = signature_of(result.model, mixed, result.spec["features"])

    kinds = {spec["name"]: spec["dtype"] for spec in signature["inputs"]}
    assert kinds == dict.fromkeys(NUMBERS, "number") | {"size": "category", "notes": "text"}
    assert [spec["name"] for spec in signature["inputs"]] == result.spec["features"]
    assert signature["output"] == {
        "kind": "class",
        "classes": ["setosa", "versicolor", "virginica"],
    }


def test_the_signature_read_off_the_model_alone(result: TrainResult, mixed: pd.DataFrame) -> None:
    from_frame = signature_of(result.model, mixed, result.spec["features"])
    assert signature_of(result.model, None, result.spec["features"]) == from_frame
    assert signature_of(result.model, None) == from_frame  # names from feature_names_in_


def test_the_signature_of_plain_estimators() -> None:
    x = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1, 0, 1, 0]})
    model = LogisticRegression().fit(x, np.array([0, 1, 0, 1], dtype=np.int64))
    signature = signature_of(model, None)
    assert signature["inputs"] == [
        {"name": "a", "dtype": "number"},
        {"name": "b", "dtype": "number"},
    ]
    assert signature["output"]["classes"] == [0, 1]
    assert all(type(c) is int for c in signature["output"]["classes"])  # JSON-ready

    x["c"] = pd.Categorical(["p", "q", "p", "q"])
    boosted = HistGradientBoostingClassifier(max_iter=2, min_samples_leaf=1).fit(x, [0, 1, 0, 1])
    kinds = [spec["dtype"] for spec in signature_of(boosted, x)["inputs"]]
    assert kinds == ["number", "number", "category"]

    with pytest.raises(InvalidInput, match="does not know its input columns"):
        signature_of(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), None)


def test_a_regression_signature() -> None:
    diabetes = load_diabetes(as_frame=True).frame
    trained = train(None, diabetes, "target", model="ridge")
    assert isinstance(trained, TrainResult)
    signature = signature_of(trained.model, diabetes, trained.spec["features"])
    assert signature["output"] == {"kind": "value"}
    assert {spec["dtype"] for spec in signature["inputs"]} == {"number"}
    # All numbers: training's preprocessing is the numeric step alone, read the same way.
    assert signature_of(trained.model, None) == signature

    loaded = LoadedModel(trained.model, ref="x/r@1", task="regression", signature=signature)
    rows = diabetes.drop(columns="target").head(20)
    text = rows.astype(str)[list(reversed(rows.columns))]
    # Text parses to the same numbers, give or take the last bit of a long decimal.
    np.testing.assert_allclose(loaded.predict(text), trained.predict(rows), rtol=1e-12)


# -- predictions ----------------------------------------------------------------------------


def test_predictions_match_the_trained_model(
    loaded: LoadedModel, result: TrainResult, rows: pd.DataFrame
) -> None:
    np.testing.assert_array_equal(loaded.predict(rows), result.predict(rows))
    np.testing.assert_array_equal(loaded.predict_proba(rows), result.predict_proba(rows))
    assert loaded.classes == ["setosa", "versicolor", "virginica"]
    assert loaded.features == result.spec["features"]
    # Both at once (the pipeline's preprocessing runs once): the very same answers.
    predictions, probabilities = loaded.predict_with_proba(rows)
    np.testing.assert_array_equal(predictions, result.predict(rows))
    np.testing.assert_array_equal(probabilities, result.predict_proba(rows))


def test_records_extra_columns_and_any_column_order(
    loaded: LoadedModel, result: TrainResult, rows: pd.DataFrame
) -> None:
    shuffled = rows[list(reversed(rows.columns))].assign(comment="ignored")
    records: list[dict[str, Any]] = shuffled.to_dict(orient="records")

    expected = result.predict(rows)
    np.testing.assert_array_equal(loaded.predict(records), expected)
    np.testing.assert_array_equal(loaded.predict(shuffled), expected)
    assert list(loaded.check(shuffled).columns) == result.spec["features"]
    assert loaded.predict(records[0]).tolist() == [expected[0]]  # one record


def test_missing_columns_are_named(loaded: LoadedModel, rows: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput) as caught:
        loaded.predict(rows.drop(columns=["size", "petal width (cm)"]))
    message = str(caught.value)
    assert message.startswith("missing column(s) petal width (cm), size; the model needs: ")
    assert "sepal length (cm)" in message


def test_numbers_given_as_text(
    loaded: LoadedModel, result: TrainResult, rows: pd.DataFrame
) -> None:
    as_text = rows.astype(dict.fromkeys(NUMBERS, str))
    np.testing.assert_array_equal(loaded.predict(as_text), result.predict(rows))

    # Whole numbers for decimals and missing values are fine too.
    whole = rows.assign(**{"sepal length (cm)": rows["sepal length (cm)"].round().astype(int)})
    assert len(loaded.predict(whole)) == len(rows)
    blanks = as_text.assign(
        **{"sepal width (cm)": ["" if i % 2 else None for i in range(len(rows))]}
    )
    assert len(loaded.predict(blanks)) == len(rows)

    bad = as_text.assign(
        **{"petal length (cm)": ["long" if i % 2 else "4.5" for i in range(len(rows))]}
    )
    with pytest.raises(InvalidInput, match=r"'petal length \(cm\)' takes numbers.*'long'"):
        loaded.predict(bad)


def test_categories_and_text_are_taken_as_given(loaded: LoadedModel, rows: pd.DataFrame) -> None:
    odd = rows.assign(size=pd.Categorical(rows["size"]), notes=np.arange(len(rows)))
    checked = loaded.check(odd)
    assert checked["size"].dtype == object
    assert all(isinstance(v, str) for v in checked["notes"])
    unseen = rows.assign(size="enormous")  # an unknown category counts as none
    assert len(loaded.predict(unseen)) == len(rows)


def test_bad_rows_are_refused(loaded: LoadedModel, rows: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="no rows to predict"):
        loaded.predict(rows.head(0))
    with pytest.raises(InvalidInput, match=r"a list of \{column: value\} records, not str"):
        loaded.predict("sepal length")  # type: ignore[arg-type]


def test_models_without_probabilities(mixed: pd.DataFrame) -> None:
    diabetes = load_diabetes(as_frame=True).frame
    ridge = train(None, diabetes, "target", model="ridge")
    svm = train(None, mixed, "species", model="linear_svm")
    assert isinstance(ridge, TrainResult) and isinstance(svm, TrainResult)
    for trained, frame, what in [
        (ridge, diabetes, "a regression model"),
        (svm, mixed, "this classifier"),
    ]:
        signature = signature_of(trained.model, frame, trained.spec["features"])
        model = LoadedModel(trained.model, ref="x/y@1", task=trained.task, signature=signature)
        with pytest.raises(InvalidInput, match=f"model x/y@1 gives no probabilities \\({what}"):
            model.predict_proba(frame.head(3))
    regression = LoadedModel(ridge.model, ref="x/r@1", task="regression", signature={})
    assert regression.classes == []


def test_a_model_fitted_on_a_bare_array_gets_an_array() -> None:
    model = LogisticRegression().fit(np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0]]), [0, 1, 0])
    signature = signature_of(model, None, ["a", "b"])
    loaded = LoadedModel(model, ref="x/a@1", task="binary", signature=signature)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scikit-learn warns when given names it never saw
        assert loaded.predict([{"a": 0.0, "b": 1.0}]).tolist() == [0]


def test_the_display(loaded: LoadedModel) -> None:
    shown = loaded._repr_html_()
    assert "<b>botany/iris@1</b>" in shown
    assert "size (category)" in shown and "one of 3 classes" in shown
    assert repr(loaded) == "<LoadedModel botany/iris@1 multiclass, 6 inputs>"


def test_text_for_a_column_the_model_takes_as_numbers_is_refused_even_when_unsaid(
    rows: pd.DataFrame,
) -> None:
    # A signature that left the kinds "any": the model's own first step says numbers.
    from sklearn.preprocessing import PolynomialFeatures

    numbers = rows[NUMBERS]
    species = np.arange(len(numbers)) % 3
    model = make_pipeline(PolynomialFeatures(), LogisticRegression(max_iter=50)).fit(
        numbers, species
    )
    unsaid = {"inputs": [{"name": n, "dtype": "any"} for n in NUMBERS], "output": {}}
    loaded = LoadedModel(model, ref="x/p@1", task="multiclass", signature=unsaid)
    record: dict[str, Any] = {str(k): v for k, v in numbers.iloc[0].items()}
    assert len(loaded.predict([record])) == 1
    with pytest.raises(InvalidInput, match=r"column 'petal width \(cm\)' takes numbers.*'wide'"):
        loaded.predict([{**record, "petal width (cm)": "wide"}])
    assert signature_of(model, None)["inputs"][0]["dtype"] == "number"
