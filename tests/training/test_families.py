"""The family registry: schemas for the widget, validation with errors naming what is allowed."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest

from lepton_lab.errors import InvalidInput
from lepton_lab.training import (
    BuildContext,
    Family,
    Param,
    get_family,
    list_families,
    register_family,
    train,
)
from lepton_lab.training import families as registry
from lepton_lab.training.tasks import Task

BUILT_IN = {
    "logistic_regression",
    "linear_regression",
    "ridge",
    "random_forest",
    "hist_gradient_boosting",
    "knn",
    "linear_svm",
    "mlp",
    "cnn",
}


def test_built_ins_and_their_schemas() -> None:
    assert {f.name for f in list_families()} >= BUILT_IN
    assert "linear_regression" not in {f.name for f in list_families("binary")}
    assert "logistic_regression" not in {f.name for f in list_families("regression")}
    schema = get_family("random_forest").to_dict()
    json.dumps(schema)  # the widget receives it as JSON
    assert schema["kind"] == "sklearn" and schema["tasks"] == ["binary", "multiclass", "regression"]
    depth = next(p for p in schema["params"] if p["name"] == "max_depth")
    assert depth == {
        "name": "max_depth",
        "type": "int",
        "default": None,
        "low": 1,
        "high": 1000,
        "choices": [],
        "log": False,
        "nullable": True,
        "help": "None: unlimited",
    }
    cnn = get_family("cnn").to_dict()
    assert cnn["kind"] == "torch" and cnn["input"] == "image"
    assert {p["name"] for p in cnn["params"]} >= {"epochs", "lr", "batch_size", "patience"}


def test_defaults_are_valid() -> None:
    for family in list_families():
        assert family.validate(None) == family.defaults()


def test_unknown_family_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match=r"unknown model 'random_forrest'; did you mean") as err:
        get_family("random_forrest")
    assert "known models: cnn, hist_gradient_boosting, knn" in err.value.message


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_estimator": 10}, "unknown parameter 'n_estimator' for model 'random_forest'; "
         "did you mean n_estimators? (allowed: n_estimators, max_depth"),
        ({"n_estimators": 0}, "n_estimators must be an int from 1 to 5000, not 0"),
        ({"n_estimators": 2.5}, "n_estimators must be an int"),
        ({"n_estimators": True}, "n_estimators must be an int"),
        ({"max_depth": "deep"}, "max_depth must be an int from 1 to 1000 or None, not 'deep'"),
        ({"max_features": "half"}, "max_features must be one of auto, sqrt, log2, all, not 'half'"),
    ],
)  # fmt: skip
def test_bad_parameters_say_what_is_allowed(params: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        get_family("random_forest").validate(params)
    assert message in err.value.message


def test_float_parameters_take_whole_numbers() -> None:
    assert get_family("ridge").validate({"alpha": 3})["alpha"] == 3.0
    with pytest.raises(InvalidInput, match="alpha must be a float from 1e-06 to 1e"):
        get_family("ridge").validate({"alpha": float("nan")})


def test_a_family_refuses_tasks_it_cannot_do(iris: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="'ridge' does not do multiclass tasks") as err:
        train(None, iris, "species", model="ridge")
    assert "models for multiclass: logistic_regression, random_forest" in err.value.message


def _dummy(task: Task, params: dict[str, Any], context: BuildContext) -> Any:
    from sklearn.dummy import DummyClassifier

    return DummyClassifier(strategy=params["strategy"], random_state=context.seed)


@pytest.fixture
def dummy_family() -> Any:
    family = Family(
        "dummy",
        "sklearn",
        frozenset({"binary", "multiclass"}),
        _dummy,
        (Param("strategy", "str", "prior", choices=("prior", "uniform")),),
        "Predicts without looking at the features: a floor to beat.",
    )
    yield register_family(family)
    registry._REGISTRY.pop("dummy")


def test_add_ons_register_like_built_ins(dummy_family: Family, iris: pd.DataFrame) -> None:
    assert get_family("dummy") is dummy_family
    result = train(None, iris, "species", model="dummy", params={"strategy": "prior"})
    assert result.family == "dummy" and result.metrics["accuracy"] == pytest.approx(1 / 3)
    with pytest.raises(InvalidInput, match="already registered; pass replace=True"):
        register_family(dummy_family)
    assert register_family(dummy_family, replace=True) is dummy_family
