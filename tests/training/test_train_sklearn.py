"""Every scikit-learn family on a suitable small dataset; metrics equal scikit-learn's own."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from lepton_lab.errors import InvalidInput
from lepton_lab.training import TrainResult, train
from tests.training.helpers import held_out, with_split

CLASSIFIERS = [
    ("logistic_regression", "breast_cancer", "target"),
    ("random_forest", "wine", "target"),
    ("hist_gradient_boosting", "iris", "species"),
    ("knn", "breast_cancer", "target"),
    ("linear_svm", "iris", "species"),
]
REGRESSORS = ["linear_regression", "ridge", "random_forest", "hist_gradient_boosting", "knn"]


def _check_classification(result: TrainResult, test: pd.DataFrame, target: str) -> None:
    truth, x = test[target], test[result.spec["features"]]
    predicted = result.predict(test)
    classes = list(result.model.classes_)
    m = result.metrics
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(truth, predicted))
    assert m["f1_macro"] == pytest.approx(skm.f1_score(truth, predicted, average="macro"))
    assert m["f1_weighted"] == pytest.approx(skm.f1_score(truth, predicted, average="weighted"))
    assert m["precision_macro"] == pytest.approx(
        skm.precision_score(truth, predicted, average="macro", zero_division=0)
    )
    assert m["recall_weighted"] == pytest.approx(
        skm.recall_score(truth, predicted, average="weighted")
    )
    if hasattr(result.model, "predict_proba"):
        proba = result.predict_proba(test)
        assert m["log_loss"] == pytest.approx(skm.log_loss(truth, proba, labels=classes))
        scores = proba[:, 1] if len(classes) == 2 else proba
        expected = skm.roc_auc_score(truth, scores, multi_class="ovr", labels=classes)
    else:  # linear SVM: decision scores, AUC one-vs-rest per class, averaged
        scores = result.model.decision_function(x)
        per_class = [skm.roc_auc_score(truth == c, scores[:, i]) for i, c in enumerate(classes)]
        expected = float(np.mean(per_class))
        assert m["log_loss"] is None
    assert m["roc_auc"] == pytest.approx(expected)
    matrix = skm.confusion_matrix(truth, predicted, labels=classes).tolist()
    assert result.curves["confusion"] == {"labels": classes, "matrix": matrix}
    assert len(result.curves["roc"]) == (1 if len(classes) == 2 else len(classes))


@pytest.mark.parametrize(("family", "data", "target"), CLASSIFIERS)
def test_classifiers(family: str, data: str, target: str, request: pytest.FixtureRequest) -> None:
    frame = with_split(request.getfixturevalue(data))
    result = train(None, frame, target, model=family, split="split")
    assert result.family == family and result.spec["rows"]["test"] == len(held_out(frame))
    assert result.metrics["accuracy"] is not None and result.metrics["accuracy"] > 0.85
    _check_classification(result, held_out(frame), target)
    json.dumps(result.to_dict())  # plain data all through


def test_binary_extras_name_the_positive_class(breast_cancer: pd.DataFrame) -> None:
    frame = with_split(breast_cancer)
    result = train(None, frame, "target", model="logistic_regression", split="split")
    test = held_out(frame)
    predicted = result.predict(test)
    assert result.metrics["f1"] == pytest.approx(skm.f1_score(test["target"], predicted))
    (roc,) = result.curves["roc"]
    fpr, tpr, _ = skm.roc_curve(test["target"], result.predict_proba(test)[:, 1])
    assert roc["label"] == 1
    assert roc["fpr"] == pytest.approx(fpr) and roc["tpr"] == pytest.approx(tpr)
    (pr,) = result.curves["pr"]
    assert pr["ap"] == pytest.approx(
        skm.average_precision_score(test["target"], result.predict_proba(test)[:, 1])
    )


@pytest.mark.parametrize("family", REGRESSORS)
def test_regressors(family: str, diabetes: pd.DataFrame) -> None:
    frame = with_split(diabetes)
    result = train(None, frame, "target", model=family, split="split")
    assert result.task == "regression"
    test = held_out(frame)
    truth, predicted = test["target"], result.predict(test)
    assert result.metrics["rmse"] == pytest.approx(skm.root_mean_squared_error(truth, predicted))
    assert result.metrics["mae"] == pytest.approx(skm.mean_absolute_error(truth, predicted))
    assert result.metrics["r2"] == pytest.approx(skm.r2_score(truth, predicted))
    assert result.metrics["r2"] > 0.2
    residuals = result.curves["residuals"]
    assert residuals["residual"] == pytest.approx(list(truth - predicted))


def test_linear_svm_does_regression_too(diabetes: pd.DataFrame) -> None:
    result = train(None, diabetes, "target", model="linear_svm", params={"C": 10.0})
    assert result.task == "regression" and result.metrics["r2"] is not None


def test_fraction_split_is_seeded_and_stratified(iris: pd.DataFrame) -> None:
    result = train(None, iris, "species", model="knn", split=0.2, seed=3)
    assert result.spec["split"] == {"test_fraction": 0.2, "stratified": True}
    assert result.spec["rows"] == {"train": 120, "test": 30, "dropped_missing_target": 0}
    # Stratified: ten of each species among the test rows.
    assert [sum(row) for row in result.curves["confusion"]["matrix"]] == [10, 10, 10]
    again = train(None, iris, "species", model="knn", split=0.2, seed=3)
    assert again.metrics == result.metrics


def test_seeded_sklearn_runs_reproduce(wine: pd.DataFrame) -> None:
    runs = [
        train(None, wine, "target", model="random_forest", params={"n_estimators": 30}, seed=7)
        for _ in range(2)
    ]
    assert runs[0].metrics == runs[1].metrics
    np.testing.assert_array_equal(runs[0].predict_proba(wine), runs[1].predict_proba(wine))
    other = train(None, wine, "target", model="random_forest", params={"n_estimators": 30}, seed=8)
    assert not np.array_equal(other.predict_proba(wine), runs[0].predict_proba(wine))


def test_cross_validation_on_the_training_rows(breast_cancer: pd.DataFrame) -> None:
    result = train(None, breast_cancer, "target", model="logistic_regression", cv=3)
    assert result.cv is not None
    assert result.cv["metric"] == "roc_auc" and len(result.cv["folds"]) == 3
    assert result.cv["mean"] == pytest.approx(np.mean(result.cv["folds"]))
    assert "Cross-validation (3 folds, roc_auc)" in result.report()


def test_missing_targets_are_left_out(iris: pd.DataFrame) -> None:
    frame = iris.copy()
    frame.loc[:9, "species"] = None
    result = train(None, frame, "species", model="knn")
    assert result.spec["rows"]["dropped_missing_target"] == 10


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": "specie"}, "no target column 'specie'; did you mean species?"),
        ({"features": ["petal"]}, "no feature column 'petal'"),
        ({"features": ["species"]}, "the target 'species' cannot also be a feature"),
        ({"task": "regression"}, "a regression needs a numeric target"),
        ({"split": 1.5}, "split must be a test fraction between 0 and 1 or a column name"),
        ({"split": "petal length (cm)"}, "may hold only 'train' and 'test'"),
        ({"cv": 1}, "cv must be None or a number of folds of at least 2"),
        ({"seed": -1}, "seed must be a whole number of 0 or more"),
        ({"device": "tpu"}, "unknown device 'tpu'; allowed: auto, cpu, cuda, cuda:N"),
        ({"model": "svm"}, "unknown model 'svm'"),
        ({"model": []}, "a family name or a list of distinct ones"),
        ({"model": ["knn"], "params": {"mlp": {}}}, "'mlp' is not among the models (knn)"),
        ({"epochs": 0}, "epochs must be a whole number of at least 1"),
    ],
)
def test_bad_arguments_say_what_is_allowed(
    iris: pd.DataFrame, kwargs: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {"target": "species", "model": "knn"} | kwargs
    with pytest.raises(InvalidInput) as err:
        train(None, iris, **arguments)  # type: ignore[arg-type]
    assert message in err.value.message


def test_a_reference_needs_the_datasets_api() -> None:
    with pytest.raises(InvalidInput, match="a datasets API is needed"):
        train(None, "uci/iris", "species")
