"""Results: leaderboards, figures, reports, rich display."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest
from matplotlib.figure import Figure

from lepton_lab.errors import InvalidInput
from lepton_lab.training import Leaderboard, TrainResult, train


@pytest.fixture(scope="module")
def board(breast_cancer: pd.DataFrame) -> Leaderboard:
    result = train(
        None,
        breast_cancer,
        "target",
        model=["knn", "logistic_regression", "random_forest", "mlp"],
        params={"random_forest": {"n_estimators": 30}, "mlp": {"epochs": 3, "hidden_units": 16}},
    )
    assert isinstance(result, Leaderboard)
    return result


def test_a_list_gives_a_sorted_leaderboard(board: Leaderboard) -> None:
    assert board.metric == "roc_auc" and len(board) == 4
    scores = [r.metrics["roc_auc"] for r in board]
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    assert board.best is board[0] and board["random_forest"].params["n_estimators"] == 30
    frame = board.to_frame()
    assert list(frame["model"]) == [r.family for r in board]
    assert list(frame.columns[:2]) == ["model", "roc_auc"] and "fit_seconds" in frame.columns
    assert "### Leaderboard by roc_auc" in board.report()
    assert "<table>" in board._repr_html_()
    with pytest.raises(KeyError, match="no model 'svm' in this leaderboard"):
        board["svm"]


def test_without_roc_auc_everywhere_the_board_ranks_by_f1(board: Leaderboard) -> None:
    results = list(board)
    results[0] = dataclasses.replace(results[0], metrics=results[0].metrics | {"roc_auc": None})
    assert Leaderboard(results).metric == "f1_macro"


def test_one_run_id_per_model(board: Leaderboard) -> None:
    nodes = {r.node for r in board}
    assert len(nodes) == 4 and all(n.startswith("training:") for n in nodes)


@pytest.mark.parametrize("kind", ["auto", "confusion", "roc", "pr"])
def test_classification_figures(board: Leaderboard, kind: str) -> None:
    assert isinstance(board["knn"].plot(kind), Figure)


def test_history_and_residual_figures(board: Leaderboard, diabetes: pd.DataFrame) -> None:
    figure = board["mlp"].plot()
    assert [ax.get_title() for ax in figure.axes] == ["Confusion matrix", "ROC", "Training history"]
    with pytest.raises(InvalidInput, match="no 'history' plot for this result; available: "):
        board["knn"].plot("history")
    with pytest.raises(InvalidInput, match="unknown plot 'bars'; known: auto, confusion"):
        board["knn"].plot("bars")
    result = train(None, diabetes, "target", model="ridge")
    assert isinstance(result, TrainResult)
    assert [ax.get_title() for ax in result.plot().axes] == ["Residuals"]


def test_report_and_display(board: Leaderboard) -> None:
    result = board["logistic_regression"]
    report = result.report()
    assert report.startswith("### logistic_regression on a DataFrame → target (binary)")
    assert "| roc_auc |" in report and "Parameters: C=1.0" in report
    assert "<table>" in result._repr_html_()
    assert repr(result).startswith("<TrainResult logistic_regression binary roc_auc=")
    data = result.to_dict()
    json.dumps(data)
    assert set(data["spec"]) >= {"dataset", "target", "features", "seed", "versions", "device"}
