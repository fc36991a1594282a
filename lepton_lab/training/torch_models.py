"""PyTorch networks as scikit-learn estimators, so that they sit in the same pipeline.

:class:`TorchClassifier` and :class:`TorchRegressor` take the preprocessed matrix the
pipeline hands them and train the network their ``architecture`` names with
:mod:`torch_loop`.  Architectures are a registry (name -> :class:`TorchNetwork` class),
the built-ins registered the same way as an add-on's (``"module:attribute"`` is imported
when first used)::

    register_architecture("resmlp", "my_package.nets:ResMLP")

* ``mlp``: fully connected layers (Linear, ReLU, Dropout) for tabular data;
* ``cnn``: two convolutions and a pooling layer for one square single-channel image per
  row (the side is inferred from the number of features: 64 -> 8x8 for digits).

A network class says how it is built from the estimator's parameters, and how it is
described in and rebuilt from a model artifact's ``torch.json``
(:mod:`lepton_lab.gallery.torch_artifacts`), so that an add-on's networks are stored and
loaded like the built-ins.

``fit`` takes ``progress`` and ``stop_event`` as fit parameters (a pipeline passes them
as ``model__progress=…``), so that they are not part of the estimator's parameters and a
fitted model keeps no reference to a widget.
"""

from __future__ import annotations

import importlib
import math
import threading
from abc import ABCMeta, abstractmethod
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass
from typing import Any, ClassVar, Self, TypeVar

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from torch import nn

from lepton_lab.errors import InvalidInput, unknown_name
from lepton_lab.training.progress import Progress
from lepton_lab.training.torch_loop import (
    LoopConfig,
    fit_loop,
    predict_batches,
    resolve_device,
    torch_session,
)

__all__ = [
    "MLP",
    "SmallCNN",
    "TorchClassifier",
    "TorchNetwork",
    "TorchRegressor",
    "architecture_names",
    "describe_network",
    "get_architecture",
    "image_side",
    "register_architecture",
]

N = TypeVar("N", bound="TorchNetwork")


class TorchNetwork(nn.Module, metaclass=ABCMeta):
    """A network the torch estimators train and the model gallery stores.

    A subclass says how it is made from an estimator's parameters
    (:meth:`for_estimator`), which sizes rebuild it (:meth:`config`, keyed by
    :attr:`config_fields`: whole numbers, and ``dropout`` a fraction) and how it is
    rebuilt from them (:meth:`from_config`).
    """

    #: The keys of :meth:`config`.
    config_fields: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    @abstractmethod
    def for_estimator(cls: type[N], n_in: int, n_out: int, params: Mapping[str, Any]) -> N:
        """The network for ``n_in`` features and ``n_out`` outputs, sized by the
        estimator's parameters (``hidden_units``, ``layers``, ``channels``, ``dropout``)."""

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """The sizes that rebuild this network, read from its layers."""

    @classmethod
    @abstractmethod
    def from_config(cls: type[N], config: Mapping[str, Any]) -> N:
        """The network :meth:`config` described (its weights come separately)."""


class MLP(TorchNetwork):
    """``layers`` hidden layers of ``hidden`` units: Linear, ReLU, Dropout."""

    config_fields = frozenset({"n_in", "n_out", "hidden_units", "layers", "dropout"})

    def __init__(self, n_in: int, n_out: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = n_in
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        self.net = nn.Sequential(*blocks, nn.Linear(width, n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (or the standardised prediction) for a batch of rows."""
        out: torch.Tensor = self.net(x)
        return out

    @classmethod
    def for_estimator(cls, n_in: int, n_out: int, params: Mapping[str, Any]) -> MLP:
        """Sized by ``hidden_units``, ``layers`` and ``dropout``."""
        return cls(n_in, n_out, params["hidden_units"], params["layers"], params["dropout"])

    def config(self) -> dict[str, Any]:
        """Sizes read from the layers (a network without hidden layers has width 1)."""
        linears = [m for m in self.net if isinstance(m, nn.Linear)]
        dropouts = [m.p for m in self.net if isinstance(m, nn.Dropout)]
        layers = len(linears) - 1
        return {
            "n_in": linears[0].in_features,
            "n_out": linears[-1].out_features,
            "hidden_units": linears[0].out_features if layers else 1,
            "layers": layers,
            "dropout": float(dropouts[0]) if dropouts else 0.0,
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MLP:
        """The MLP :meth:`config` described."""
        sizes = ("n_in", "n_out", "hidden_units", "layers", "dropout")
        return cls(*(config[k] for k in sizes))


def image_side(n_features: int) -> int:
    """The side of the square image ``n_features`` pixels make, or ``InvalidInput``."""
    side = math.isqrt(n_features)
    if side * side != n_features or side < 4:
        raise InvalidInput(
            f"model 'cnn' reads each row as one square single-channel image of at least "
            f"4x4 pixels, but the rows have {n_features} features after preprocessing, not "
            "a square number (64 = 8x8 for digits); use model='mlp' for tabular data"
        )
    return side


class SmallCNN(TorchNetwork):
    """Conv(c) ReLU Conv(2c) ReLU MaxPool, then a 64-unit head: small and quick to train."""

    config_fields = frozenset({"n_in", "n_out", "channels", "dropout"})

    def __init__(self, n_in: int, n_out: int, channels: int, dropout: float) -> None:
        super().__init__()
        self.side = image_side(n_in)
        pooled = self.side // 2
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(2 * channels * pooled * pooled, 64),
            nn.ReLU(),
            nn.Linear(64, n_out),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs for a batch of flattened images."""
        out: torch.Tensor = self.head(self.features(x.view(-1, 1, self.side, self.side)))
        return out

    @classmethod
    def for_estimator(cls, n_in: int, n_out: int, params: Mapping[str, Any]) -> SmallCNN:
        """Sized by ``channels`` and ``dropout``."""
        return cls(n_in, n_out, params["channels"], params["dropout"])

    def config(self) -> dict[str, Any]:
        """Sizes read from the layers."""
        return {
            "n_in": self.side * self.side,
            "n_out": self.head[-1].out_features,
            "channels": self.features[0].out_channels,
            "dropout": next(float(m.p) for m in self.head if isinstance(m, nn.Dropout)),
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SmallCNN:
        """The CNN :meth:`config` described."""
        return cls(config["n_in"], config["n_out"], config["channels"], config["dropout"])


# -- the registry ------------------------------------------------------------------------------

_ARCHITECTURES: dict[str, str | type[TorchNetwork]] = {}


def register_architecture(name: str, network: str | type[TorchNetwork]) -> None:
    """Make ``name`` trainable (``architecture=name``) and storable in the gallery;
    ``network`` is a :class:`TorchNetwork` subclass or ``"module:attribute"`` naming one
    (imported when first used)."""
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise InvalidInput(f"architecture name {name!r}: use letters, digits, - and _")
    _ARCHITECTURES[name] = network


def architecture_names() -> list[str]:
    """Every registered architecture name, sorted."""
    return sorted(_ARCHITECTURES)


def get_architecture(name: str) -> type[TorchNetwork]:
    """The network class registered as ``name``; an ``InvalidInput`` naming the known."""
    network = _ARCHITECTURES.get(name) if isinstance(name, str) else None
    if network is None:
        raise unknown_name("architecture", name, architecture_names())
    if isinstance(network, str):
        module_name, _, attribute = network.partition(":")
        network = getattr(importlib.import_module(module_name), attribute)
        _ARCHITECTURES[name] = network  # imported once
    return network


def describe_network(module: nn.Module) -> dict[str, Any]:
    """``module``'s architecture name and the sizes that rebuild it (what the gallery
    stores in ``torch.json``); an ``InvalidInput`` for a class never registered."""
    for name in architecture_names():
        if type(module) is get_architecture(name) and isinstance(module, TorchNetwork):
            return {"architecture": name, **module.config()}
    raise InvalidInput(
        f"cannot store a torch network of type {type(module).__name__}: the gallery "
        f"rebuilds only registered architectures ({', '.join(architecture_names())})"
    )


register_architecture("mlp", MLP)
register_architecture("cnn", SmallCNN)


def _dense(x: Any) -> np.ndarray[Any, Any]:
    # One-hot and TF-IDF blocks arrive sparse; the networks take dense float32 rows.
    if hasattr(x, "toarray"):
        x = x.toarray()
    return np.ascontiguousarray(x, dtype=np.float32)


# Declared as a dataclass so that each parameter is written once: scikit-learn reads the
# generated ``__init__``'s signature (get_params, clone), which only stores each argument.
# No __eq__ or __repr__: estimators compare by identity and print as scikit-learn prints them.
@dataclass(eq=False, repr=False)
class _TorchEstimator(BaseEstimator):  # type: ignore[misc]
    """What the classifier and the regressor share: the parameters, the network, the loop."""

    architecture: str = "mlp"
    _: KW_ONLY
    hidden_units: int = 128
    layers: int = 2
    channels: int = 16
    dropout: float = 0.1
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 128
    epochs: int = 50
    patience: int = 5
    validation_fraction: float = 0.1
    seed: int = 0
    device: str = "auto"

    def _network(self, n_in: int, n_out: int) -> nn.Module:
        network = get_architecture(self.architecture)
        return network.for_estimator(n_in, n_out, self.get_params(deep=False))

    def fit(
        self,
        x: Any,
        y: Any,
        *,
        progress: Progress | None = None,
        stop_event: threading.Event | None = None,
    ) -> Self:
        """Train on ``x`` (preprocessed rows) and ``y`` (class labels, or numbers)."""
        target, n_out, loss_fn = self._target(y)
        self._train(x, target, n_out, loss_fn, progress, stop_event)
        return self

    def _target(self, y: Any) -> tuple[np.ndarray[Any, Any], int, nn.Module]:
        """``y`` as the network learns it, the network's outputs, and the loss."""
        raise NotImplementedError

    def _train(
        self,
        x: Any,
        y: np.ndarray[Any, Any],
        n_out: int,
        loss_fn: nn.Module,
        progress: Progress | None,
        stop_event: threading.Event | None,
    ) -> None:
        data = _dense(x)
        device = resolve_device(self.device)
        config = LoopConfig(
            epochs=self.epochs,
            batch_size=min(self.batch_size, len(data)),
            lr=self.lr,
            weight_decay=self.weight_decay,
            patience=self.patience,
            validation_fraction=self.validation_fraction,
            seed=self.seed,
        )
        with torch_session(device, self.seed):
            # Built inside the session: the seed fixes the initial weights.
            module = self._network(data.shape[1], n_out).to(device)
            self.threads_ = torch.get_num_threads()
            outcome = fit_loop(
                module, data, y, loss_fn, config, device, progress=progress, stop_event=stop_event
            )
        self.module_, self.device_ = module, str(device)
        self.n_features_in_ = data.shape[1]
        self.history_, self.best_epoch_, self.stopped_ = (
            outcome.history,
            outcome.best_epoch,
            outcome.stopped,
        )

    def _outputs(self, x: Any) -> np.ndarray[Any, Any]:
        if not hasattr(self, "module_"):
            raise InvalidInput(f"this {type(self).__name__} is not fitted yet; call fit first")
        return predict_batches(self.module_, _dense(x), torch.device(self.device_))


class TorchClassifier(ClassifierMixin, _TorchEstimator):  # type: ignore[misc]
    """A PyTorch network trained with cross-entropy; ``predict_proba`` gives softmax."""

    def _target(self, y: Any) -> tuple[np.ndarray[Any, Any], int, nn.Module]:
        """Class labels as codes into ``classes_``, one output per class, cross-entropy."""
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        return codes.astype(np.int64), len(self.classes_), nn.CrossEntropyLoss()

    def predict_proba(self, x: Any) -> np.ndarray[Any, Any]:
        """Class probabilities, one column per class in ``classes_`` order."""
        logits = torch.from_numpy(self._outputs(x))
        probabilities: np.ndarray[Any, Any] = torch.softmax(logits, dim=1).numpy()
        return probabilities

    def predict(self, x: Any) -> np.ndarray[Any, Any]:
        """The most probable class of each row."""
        labels: np.ndarray[Any, Any] = self.classes_[self._outputs(x).argmax(axis=1)]
        return labels


class TorchRegressor(RegressorMixin, _TorchEstimator):  # type: ignore[misc]
    """A PyTorch network trained with mean squared error on a standardised target."""

    def _target(self, y: Any) -> tuple[np.ndarray[Any, Any], int, nn.Module]:
        """Numbers standardised (so that one learning rate suits targets in cents or in
        millions), one output, mean squared error."""
        target = np.asarray(y, dtype=np.float64)
        self.y_mean_, self.y_scale_ = float(target.mean()), float(target.std()) or 1.0
        scaled = ((target - self.y_mean_) / self.y_scale_).astype(np.float32)[:, None]
        return scaled, 1, nn.MSELoss()

    def predict(self, x: Any) -> np.ndarray[Any, Any]:
        """The predicted number for each row."""
        out: np.ndarray[Any, Any] = self._outputs(x)[:, 0].astype(np.float64)
        return out * self.y_scale_ + self.y_mean_
