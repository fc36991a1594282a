"""PyTorch networks in model artifacts: saved as safetensors, rebuilt from Lepton Lab's classes.

The ``skops+safetensors`` format of :mod:`lepton_lab.gallery.artifacts` is a zip of
``model.skops`` (the pipeline, each torch estimator stored without its network),
``weights.safetensors`` (every network's state dict, keys prefixed ``"<key>."``) and
``torch.json`` (each network's architecture and sizes).  This module takes the networks
out of the estimators when saving (:func:`split_networks`), checks ``torch.json``
(:func:`checked_networks`) and puts the networks back when loading
(:func:`attach_networks`), built from the registered torch architectures
(:func:`~lepton_lab.training.torch_models.get_architecture`) **on the CPU**.  torch and
safetensors are imported only when a model holds a torch estimator.
"""

from __future__ import annotations

import copy
import importlib
import json
import sys
from typing import TYPE_CHECKING, Any

from lepton_lab.errors import InvalidInput
from lepton_lab.gallery.structure import estimators_in

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "CONFIG_FILE",
    "MODEL_FILE",
    "WEIGHTS_FILE",
    "attach_networks",
    "checked_networks",
    "split_networks",
    "torch_estimators",
]

MODEL_FILE, WEIGHTS_FILE, CONFIG_FILE = "model.skops", "weights.safetensors", "torch.json"
"""The names of the bundle's three files."""

_KEY = "network_key_"  # on a stored torch estimator: which network of torch.json is its


# -- save -----------------------------------------------------------------------------------


def torch_estimators(model: Any) -> list[Any]:
    """The torch estimators inside ``model``; none, without importing torch, when Lepton
    Lab's torch estimators were never imported (a model cannot hold one then)."""
    kinds = _torch_kinds(imported_only=True)
    return _find_torch(model, kinds) if kinds else []


def split_networks(model: Any, estimators: list[Any]) -> tuple[Any, bytes, bytes]:
    """A copy of ``model`` whose torch ``estimators`` hold no network, and the networks'
    ``weights.safetensors`` and ``torch.json``; the caller's model is not touched."""
    from safetensors.torch import save as save_tensors

    networks, tensors, light = [], {}, {}
    for key, estimator in enumerate(estimators):
        module = estimator.module_
        networks.append({"key": str(key), **_network_config(module)})
        for name, tensor in module.state_dict().items():
            tensors[f"{key}.{name}"] = tensor.detach().to("cpu").contiguous()
        stripped = copy.copy(estimator)
        del stripped.module_
        stripped.__dict__[_KEY] = str(key)
        light[id(estimator)] = stripped
    # The memo makes deepcopy use the stripped estimators: the caller's model is not touched.
    lighter = copy.deepcopy(model, memo=light)
    config = json.dumps({"networks": networks}, sort_keys=True).encode()
    return lighter, save_tensors(tensors), config


def _torch_kinds(*, imported_only: bool) -> tuple[type, ...]:
    """Lepton Lab's torch estimator classes; none when never imported (no torch import)."""
    name = "lepton_lab.training.torch_models"
    if imported_only and name not in sys.modules:
        return ()  # a model cannot hold an instance of a class never imported
    module = importlib.import_module(name)
    return (module.TorchClassifier, module.TorchRegressor)


def _find_torch(root: Any, kinds: tuple[type, ...]) -> list[Any]:
    """Every torch estimator inside ``root`` (pipelines, column transformers, ensembles)."""
    return [item for item in estimators_in(root) if isinstance(item, kinds)]


def _network_config(module: nn.Module) -> dict[str, Any]:
    """What rebuilds ``module`` (read from the network itself, not from the parameters)."""
    from lepton_lab.training.torch_models import describe_network

    return describe_network(module)


def _config_fields(kind: object) -> set[str] | None:
    """The fields torch.json holds for architecture ``kind``; None for an unknown one."""
    from lepton_lab.training.torch_models import architecture_names, get_architecture

    if not isinstance(kind, str) or kind not in architecture_names():
        return None
    return set(get_architecture(kind).config_fields)


# -- load -----------------------------------------------------------------------------------


def checked_networks(raw: Any) -> list[dict[str, Any]]:
    """torch.json's networks, each with exactly its architecture's fields, in range."""
    networks = raw.get("networks") if isinstance(raw, dict) else None
    if not isinstance(networks, list):
        raise InvalidInput(f"{CONFIG_FILE} lists no networks")
    for net in networks:
        kind = net.get("architecture") if isinstance(net, dict) else None
        fields = _config_fields(kind)
        if fields is None or set(net) != fields | {"key", "architecture"}:
            raise InvalidInput(
                f"{CONFIG_FILE} holds a network it does not describe properly: {net}"
            )
        sizes = [net[f] for f in sorted(fields - {"dropout"})]
        dropout = net.get("dropout", 0.0)  # an architecture without dropout has none
        if (
            not isinstance(net["key"], str)
            or not all(type(v) is int and 0 <= v < 1 << 31 for v in sizes)
            or not isinstance(dropout, float | int)
            or not 0.0 <= dropout < 1.0
        ):
            raise InvalidInput(f"{CONFIG_FILE} holds a network with sizes out of range: {net}")
    return networks


def attach_networks(model: Any, networks: list[dict[str, Any]], weights: bytes) -> None:
    """Rebuild each torch estimator's network from its config and weights, on the CPU."""
    from safetensors.torch import load as load_tensors

    tensors = load_tensors(weights)
    estimators = _find_torch(model, _torch_kinds(imported_only=False))
    keys = [str(estimator.__dict__.pop(_KEY, "")) for estimator in estimators]
    by_key = {net["key"]: net for net in networks}
    if sorted(keys) != sorted(by_key):
        raise InvalidInput(f"the artifact's {CONFIG_FILE} does not match its torch estimators")
    for estimator, key in zip(estimators, keys, strict=True):
        module = _empty_network(by_key[key])
        prefix = f"{key}."
        state = {n.removeprefix(prefix): t for n, t in tensors.items() if n.startswith(prefix)}
        try:
            module.load_state_dict(state, strict=True, assign=True)
        except RuntimeError as exc:
            raise InvalidInput(f"network {key}'s weights do not fit its shape: {exc}") from None
        estimator.module_, estimator.device_ = module.eval(), "cpu"


def _empty_network(config: dict[str, Any]) -> nn.Module:
    """The network's layers without storage: the weights come from the artifact.

    Built on torch's meta device, so that sizes cost no memory and no random numbers are
    drawn (the caller's seeded generator is left as it was).
    """
    import torch

    from lepton_lab.training.torch_models import get_architecture

    with torch.device("meta"):
        return get_architecture(config["architecture"]).from_config(config)
