"""The PyTorch families on the CPU: metrics, reproducibility, early stopping, the CNN."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from lepton_lab.errors import InvalidInput
from lepton_lab.training import train
from lepton_lab.training.torch_loop import cpu_threads
from tests.training.helpers import held_out, with_split

FAST = {"epochs": 8, "hidden_units": 32, "batch_size": 64}


def test_mlp_classifier_metrics_match_sklearn(breast_cancer: pd.DataFrame) -> None:
    frame = with_split(breast_cancer)
    result = train(None, frame, "target", model="mlp", params=FAST, split="split", device="cpu")
    test = held_out(frame)
    proba = result.predict_proba(test)
    assert result.metrics["accuracy"] == pytest.approx(
        skm.accuracy_score(test["target"], result.predict(test))
    )
    assert result.metrics["roc_auc"] == pytest.approx(
        skm.roc_auc_score(test["target"], proba[:, 1])
    )
    assert result.metrics["log_loss"] == pytest.approx(skm.log_loss(test["target"], proba))
    assert result.metrics["accuracy"] > 0.9
    assert result.spec["device"] == "cpu" and result.spec["precision"] == "fp32"
    assert result.spec["threads"] == cpu_threads()
    assert result.spec["versions"]["torch"]
    assert [h["epoch"] for h in result.history] == list(range(1, len(result.history) + 1))
    assert all(h["val_loss"] is not None for h in result.history)


def test_mlp_regression(diabetes: pd.DataFrame) -> None:
    frame = with_split(diabetes)
    result = train(None, frame, "target", model="mlp", params=FAST | {"lr": 0.01}, split="split")
    test = held_out(frame)
    assert result.metrics["r2"] == pytest.approx(skm.r2_score(test["target"], result.predict(test)))
    assert result.metrics["r2"] > 0.2


def test_cnn_learns_digits_in_a_few_epochs(digits: pd.DataFrame) -> None:
    params = {"epochs": 4, "channels": 8, "patience": 0}
    result = train(None, digits, "target", model="cnn", params=params)
    assert len(result.history) == 4
    assert result.metrics["accuracy"] > 0.9
    assert result.history[-1]["loss"] < result.history[0]["loss"]


def test_cnn_needs_square_images(iris: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match=r"not a square number .* use model='mlp'"):
        train(None, iris, "species", model="cnn", params={"epochs": 1})


def test_seeded_torch_runs_reproduce_exactly(wine: pd.DataFrame) -> None:
    runs = [train(None, wine, "target", model="mlp", params=FAST, seed=5) for _ in range(2)]
    assert runs[0].metrics == runs[1].metrics
    assert [h["loss"] for h in runs[0].history] == [h["loss"] for h in runs[1].history]
    np.testing.assert_array_equal(runs[0].predict_proba(wine), runs[1].predict_proba(wine))
    other = train(None, wine, "target", model="mlp", params=FAST, seed=6)
    assert [h["loss"] for h in other.history] != [h["loss"] for h in runs[0].history]


def test_early_stopping_keeps_the_best_epoch(breast_cancer: pd.DataFrame) -> None:
    # A learning rate this high overfits at once: validation loss stops improving early.
    params = {"epochs": 60, "patience": 2, "lr": 0.05, "hidden_units": 64}
    result = train(None, breast_cancer, "target", model="mlp", params=params)
    epochs = len(result.history)
    assert epochs < 60
    best = result.model.named_steps["model"].best_epoch_
    losses = [h["val_loss"] for h in result.history]
    assert best == int(np.argmin(losses)) + 1 and epochs == best + 2


def test_epochs_argument_sets_the_budget(iris: pd.DataFrame) -> None:
    result = train(None, iris, "species", model="mlp", params={"patience": 0}, epochs=3)
    assert result.params["epochs"] == 3 and len(result.history) == 3
