"""The gallery's rules on what it is given, held by the service for both backends.

Whatever registers a version (``register`` here, a REST upload there), records an
evaluation or asks for predictions goes through these checks in the service: the REST
handlers only decode JSON, so the same bad input is refused with the same error everywhere.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.tree import DecisionTreeClassifier

from lepton_lab.errors import InvalidInput, NotFound
from lepton_lab.gallery.candidate import Candidate, prepare
from lepton_lab.identity import Actor
from lepton_lab.lineage import edges_of
from lepton_lab.training import TrainResult, train
from lepton_lab.workspace import Workspace

NAME = "lab/wine"


@pytest.fixture(scope="module")
def trained(wine: pd.DataFrame) -> TrainResult:
    result = train(None, wine, "target", model="logistic_regression")
    assert isinstance(result, TrainResult)
    return result


@pytest.fixture(scope="module")
def candidate(trained: TrainResult) -> Candidate:
    return prepare(trained)


@pytest.fixture
def alice(workspace: Workspace) -> Actor:
    workspace.teams.create(workspace.actor("alice"), "lab")
    return workspace.actor("alice")


@pytest.fixture
def registered(workspace: Workspace, alice: Actor, candidate: Candidate) -> str:
    """lab/wine@1, committed as the REST upload commits it."""
    return workspace.models.commit(alice, candidate, NAME).ref


def _rows(wine: pd.DataFrame, n: int = 3) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = wine.drop(columns="target").head(n).to_dict(orient="records")
    return records


# -- what a version is committed with ---------------------------------------------------------

SIGNATURE_INPUT = {"inputs": [{"name": "alcohol", "dtype": "colour"}], "output": {}}

BAD_CANDIDATES = [
    ({"data": "not bytes"}, "the artifact must be the saved model's bytes"),
    ({"format": 3}, "meta format must be text"),
    ({"task": "t" * 21}, "meta task is 21 characters; keep it to 20"),
    ({"task": "classification"}, "meta task 'classification' is not one of binary"),
    ({"family": "f" * 65}, "meta family is 65 characters"),
    ({"family": "logistic\x00"}, "meta family holds a NUL"),
    ({"run": "r" * 201}, "meta run is 201 characters"),
    ({"run": "; drop table"}, "not a lineage node"),
    ({"params": [1]}, "meta params must be a JSON object"),
    ({"signature": "abc"}, "meta signature must be a JSON object"),
    ({"spec": None}, "meta spec must be a JSON object"),
    ({"metrics": [0.9]}, "meta metrics must be a JSON object"),
    ({"metrics": {"accuracy": math.inf}}, "meta metrics: accuracy is inf"),
    ({"metrics": {"accuracy": "high"}}, "a metric is a finite number"),
    ({"spec": {"dataset": "lab/wine@1"}}, "meta spec dataset must be an object"),
    ({"spec": {"dataset": {"ref": 3}}}, "meta spec dataset ref must be text"),
    ({"spec": {"dataset": {"ref": "lab/wine"}}}, "must name a dataset version"),
    ({"spec": {"dataset": {"ref": "lab/wine@prod"}}}, "must name a dataset version"),
    ({"spec": {"dataset": {"ref": " lab/wine@1"}}}, "write it as team/name@3"),
    ({"spec": {"rows": 3}}, "meta spec rows must be an object"),
    ({"signature": {"inputs": "abc", "output": {}}}, "meta signature inputs must be a list"),
    ({"signature": {"inputs": [{"dtype": "number"}], "output": {}}}, "signature inputs"),
    ({"signature": SIGNATURE_INPUT}, "the kind one of number, category, text, any"),
    ({"signature": {"inputs": []}}, "meta signature output must be an object"),
    ({"signature": {"inputs": [], "output": {"classes": 3}}}, "signature output"),
]


@pytest.mark.parametrize(("change", "says"), BAD_CANDIDATES)
def test_commit_refuses_a_bad_candidate(
    workspace: Workspace, alice: Actor, candidate: Candidate, change: dict[str, Any], says: str
) -> None:
    bad = dataclasses.replace(candidate, **change)
    with pytest.raises(InvalidInput) as raised:
        workspace.models.commit(alice, bad, NAME)
    assert says in str(raised.value)
    with pytest.raises(NotFound):
        workspace.models.get(alice, NAME)  # nothing was stored


def test_the_candidate_is_checked_before_its_bytes(
    workspace: Workspace, alice: Actor, candidate: Candidate
) -> None:
    bad = dataclasses.replace(candidate, data=b"no artifact at all", task="classification")
    with pytest.raises(InvalidInput, match="meta task 'classification'"):
        workspace.models.commit(alice, bad, NAME)
    with pytest.raises(InvalidInput) as raised:  # the audit's turn once the meta is right
        workspace.models.commit(alice, dataclasses.replace(bad, task="multiclass"), NAME)
    assert "meta" not in str(raised.value)


def test_a_good_candidate_commits(
    workspace: Workspace, alice: Actor, candidate: Candidate, trained: TrainResult
) -> None:
    info = workspace.models.commit(alice, candidate, NAME)
    assert (info.ref, info.task) == ("lab/wine@1", "multiclass")
    assert trained.metrics and candidate.metrics == info.metrics[0].metrics
    pinned = dataclasses.replace(candidate, spec={**candidate.spec, "dataset": {"ref": "a/b@2"}})
    assert workspace.models.commit(alice, pinned, "lab/pinned").metrics[0].dataset == "a/b@2"


# -- the task prepare gives -------------------------------------------------------------------


def test_prepare_infers_the_task_of_a_bare_estimator(wine: pd.DataFrame) -> None:
    x, y = wine.drop(columns="target"), wine["target"]
    three = DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y)
    assert prepare(three).task == "multiclass"
    assert prepare(three, task="multiclass").spec["task"] == "multiclass"
    two = DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y == 0)
    assert prepare(two).task == "binary"
    assert prepare(two, task="multiclass").task == "multiclass"  # two classes may be either
    assert prepare(Ridge().fit(x, wine["alcohol"])).task == "regression"


@pytest.mark.parametrize(
    ("task", "says"),
    [
        ("classification", "unknown task 'classification'"),
        ("Binary", "unknown task 'Binary'"),
        ("regression", "has 3 classes, so its task is multiclass, not regression"),
        ("binary", "has 3 classes, so its task is multiclass, not binary"),
    ],
)
def test_prepare_refuses_a_task_that_is_no_training_task(
    wine: pd.DataFrame, task: str, says: str
) -> None:
    three = DecisionTreeClassifier(max_depth=3, random_state=0).fit(
        wine.drop(columns="target"), wine["target"]
    )
    with pytest.raises(InvalidInput, match=says):
        prepare(three, task=task)


def test_register_refuses_a_task_the_result_was_not_trained_for(
    workspace: Workspace, alice: Actor, trained: TrainResult
) -> None:
    with pytest.raises(InvalidInput, match="unknown task 'classification'"):
        workspace.models.register(alice, trained, NAME, task="classification")
    with pytest.raises(InvalidInput, match="trained for multiclass, not binary"):
        workspace.models.register(alice, trained, NAME, task="binary")
    assert workspace.models.register(alice, trained, NAME, task="multiclass").version == 1


# -- evaluations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dataset", "split", "metrics", "says"),
    [
        ("lab/wine@1", "s" * 41, {"accuracy": 0.5}, "is too long: keep it to 40"),
        ("lab/wine@1", "Eval Set", {"accuracy": 0.5}, "split 'Eval Set' is not allowed"),
        ("lab/wine@1", "", {"accuracy": 0.5}, "split must be a non-empty string"),
        ("lab/wine@1", None, {"accuracy": 0.5}, "split must be a non-empty string"),
        ("lab/wine", "eval", {"accuracy": 0.5}, "must name a dataset version, like 'lab/wine@3'"),
        ("lab/wine@prod", "eval", {"accuracy": 0.5}, "must name a dataset version"),
        ("wine", "eval", {"accuracy": 0.5}, "neither a dataset version"),
        ("(a DataFrame", "eval", {"accuracy": 0.5}, "neither a dataset version"),
        ("Lab/wine@1", "eval", {"accuracy": 0.5}, "team 'Lab' is not allowed"),
        (3, "eval", {"accuracy": 0.5}, "dataset must be text"),
        ("(" + "x" * 300 + ")", "eval", {"accuracy": 0.5}, "keep it to 300"),
        ("lab/wine@1", "eval", [0.5], "metrics must be a JSON object"),
        ("lab/wine@1", "eval", {1: 0.5}, "1 is no metric name"),
        ("lab/wine@1", "eval", {"accuracy": math.inf}, "accuracy is inf"),
        ("lab/wine@1", "eval", {"accuracy": math.nan}, "accuracy is nan"),
        ("lab/wine@1", "eval", {"accuracy": 10**400}, "a metric is a finite number"),
        ("lab/wine@1", "eval", {"accuracy": "0.5"}, "accuracy is '0.5'"),
        ("lab/wine@1", "eval", {"accuracy": True}, "accuracy is True"),
        ("lab/wine@1", "eval", {"accuracy": [0.5]}, "accuracy is [0.5]"),
    ],
)
def test_record_metrics_refuses(
    workspace: Workspace,
    alice: Actor,
    registered: str,
    dataset: Any,
    split: Any,
    metrics: Any,
    says: str,
) -> None:
    with pytest.raises(InvalidInput) as raised:
        workspace.models.record_metrics(alice, registered, dataset, split, metrics)
    assert says in str(raised.value)
    assert [m.split for m in workspace.models.version(alice, registered).metrics] == ["test"]


def test_record_metrics_keeps_dataset_versions_and_descriptions(
    workspace: Workspace, alice: Actor, registered: str, wine: pd.DataFrame
) -> None:
    for rows in (10, 20, 30):  # the version evaluated on must exist, and alice see it
        workspace.datasets.register(alice, wine.head(rows), "lab/wine-2024")
    measured = workspace.models.record_metrics(
        alice, registered, " lab/wine-2024@3 ", "eval", {"accuracy": 0.75, "roc_auc": None}
    )
    assert (measured.dataset, measured.metrics) == (
        "lab/wine-2024@3",
        {"accuracy": 0.75, "roc_auc": None},
    )
    split = "s" * 40
    frame = workspace.models.record_metrics(alice, registered, "(a DataFrame)", split, {"n": 3})
    assert (frame.dataset, frame.split) == ("(a DataFrame)", split)
    with workspace.db.read() as session:
        sources = {e.src for e in edges_of(session, "model:lab/wine") if e.kind == "evaluated_on"}
    assert sources == {"dataset:lab/wine-2024@3"}


# -- rows to predict --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (math.inf, "column 'hue' holds inf in row 2, a number that is not finite"),
        (-math.inf, "column 'hue' holds -inf in row 2"),
        (math.nan, "column 'hue' holds nan in row 2"),
        (float("1e999"), "not finite or too large for a float"),
        (10**400, "too large for a float; send null (None) for a missing value"),
        ([1, 2], "column 'hue' holds a list or object in row 2, not a value: [1, 2]"),
        ({"a": 1}, "column 'hue' holds a list or object in row 2"),
        ("inf", "column 'hue' holds 'inf' in row 2, a number that is not finite"),
        ("1e999", "column 'hue' holds '1e999' in row 2"),
    ],
)
def test_predict_refuses_values_no_model_takes(
    workspace: Workspace,
    alice: Actor,
    registered: str,
    wine: pd.DataFrame,
    value: Any,
    says: str,
) -> None:
    rows = _rows(wine)
    rows[1] = {**rows[1], "hue": value}
    with pytest.raises(InvalidInput) as raised:
        workspace.models.predict(alice, registered, rows)
    assert says in str(raised.value)


@pytest.mark.parametrize("value", [math.inf, 10**400, [1, 2], "-Infinity"])
def test_predict_refuses_them_in_a_dataframe_too(
    workspace: Workspace, alice: Actor, registered: str, wine: pd.DataFrame, value: Any
) -> None:
    frame = wine.drop(columns="target").head(3)
    frame["hue"] = frame["hue"].astype(object)
    frame.at[frame.index[2], "hue"] = value
    with pytest.raises(InvalidInput, match=r"column 'hue' holds .* in row 3"):
        workspace.models.predict(alice, registered, frame)


@pytest.mark.parametrize("value", [math.inf, -math.inf])
def test_a_float_column_is_checked_as_one_array_with_the_same_message(
    workspace: Workspace, alice: Actor, registered: str, wine: pd.DataFrame, value: float
) -> None:
    frame = wine.drop(columns="target").head(3)
    frame.loc[frame.index[2], "hue"] = value
    assert frame["hue"].dtype == "float64"
    with pytest.raises(InvalidInput, match=rf"column 'hue' holds {value} in row 3"):
        workspace.models.predict(alice, registered, frame)


def test_missing_values_are_null_in_records_and_nan_in_frames(
    workspace: Workspace, alice: Actor, registered: str, wine: pd.DataFrame
) -> None:
    rows = _rows(wine)
    rows[0] = {**rows[0], "hue": None}
    answer = workspace.models.predict(alice, registered, rows)
    assert len(answer["predictions"]) == 3
    frame = wine.drop(columns="target").head(3)
    frame.loc[frame.index[0], "hue"] = math.nan
    assert (
        workspace.models.predict(alice, registered, frame)["predictions"] == (answer["predictions"])
    )
    # Columns the model does not take are dropped unread.
    extra = [{**row, "notes": [1, 2], "score": math.inf} for row in _rows(wine)]
    assert len(workspace.models.predict(alice, registered, extra)["predictions"]) == 3
