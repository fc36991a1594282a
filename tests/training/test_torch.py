"""The PyTorch families on the CPU: metrics, reproducibility, early stopping, the CNN."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn import metrics as skm
from torch import nn

from lepton_lab.errors import InvalidInput
from lepton_lab.gallery.artifacts import load_model, save_model
from lepton_lab.training import torch_models, train
from lepton_lab.training.torch_loop import cpu_threads
from lepton_lab.training.torch_models import TorchNetwork
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


# -- the architecture registry -----------------------------------------------------------------


class _Linear(TorchNetwork):
    """An add-on architecture: one linear layer."""

    config_fields = frozenset({"n_in", "n_out"})

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.layer = nn.Linear(n_in, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.layer(x)
        return out

    @classmethod
    def for_estimator(cls, n_in: int, n_out: int, params: Mapping[str, Any]) -> _Linear:
        return cls(n_in, n_out)

    def config(self) -> dict[str, Any]:
        return {"n_in": self.layer.in_features, "n_out": self.layer.out_features}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> _Linear:
        return cls(config["n_in"], config["n_out"])


def test_the_built_in_architectures_are_registered() -> None:
    assert torch_models.architecture_names() == ["cnn", "mlp"]
    assert torch_models.get_architecture("mlp") is torch_models.MLP
    assert torch_models.get_architecture("cnn") is torch_models.SmallCNN


def test_an_unknown_architecture_suggests_the_near_one(iris: pd.DataFrame) -> None:
    x, y = iris.drop(columns="species").to_numpy(), iris["species"].to_numpy()
    with pytest.raises(InvalidInput) as caught:
        torch_models.TorchClassifier(architecture="mpl", epochs=1).fit(x, y)
    assert caught.value.message == "unknown architecture 'mpl'; did you mean mlp?; known: cnn, mlp"
    with pytest.raises(InvalidInput, match="architecture name 'a b'"):
        torch_models.register_architecture("a b", _Linear)


def test_a_stored_network_is_described_by_its_registry_entry(wine: pd.DataFrame) -> None:
    x, y = wine.drop(columns="target").to_numpy(dtype=float), wine["target"].to_numpy()
    fitted = torch_models.TorchClassifier(layers=1, hidden_units=8, dropout=0.2, epochs=1)
    fitted.fit(x, y)
    described = torch_models.describe_network(fitted.module_)
    assert described == {
        "architecture": "mlp",
        "n_in": 13,
        "n_out": 3,
        "hidden_units": 8,
        "layers": 1,
        "dropout": 0.2,
    }
    rebuilt = torch_models.MLP.from_config(described)
    assert [p.shape for p in rebuilt.parameters()] == [p.shape for p in fitted.module_.parameters()]
    with pytest.raises(InvalidInput, match="cannot store a torch network of type Linear"):
        torch_models.describe_network(nn.Linear(2, 2))


def test_an_add_on_architecture_trains_and_round_trips_through_the_gallery(
    wine: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch_models, "_ARCHITECTURES", dict(torch_models._ARCHITECTURES))
    torch_models.register_architecture("linear", f"{__name__}:_Linear")  # imported on use
    x, y = wine.drop(columns="target").to_numpy(dtype=float), wine["target"].to_numpy()
    fitted = torch_models.TorchClassifier(architecture="linear", epochs=2).fit(x, y)
    assert isinstance(fitted.module_, _Linear)
    artifact = save_model(fitted)
    config = json.loads(zipfile.ZipFile(io.BytesIO(artifact.data)).read("torch.json"))
    assert config == {"networks": [{"architecture": "linear", "key": "0", "n_in": 13, "n_out": 3}]}
    loaded = load_model(artifact.data, artifact.sha256, artifact.trusted)
    assert isinstance(loaded.module_, _Linear)
    np.testing.assert_array_equal(loaded.predict_proba(x), fitted.predict_proba(x))
