"""A trained model made ready for the gallery: the safe artifact and what is known about it.

:func:`prepare` runs where the model is (a kernel, on either backend); the registry
(:mod:`lepton_lab.gallery.service`) commits the result after :func:`check_candidate` and
auditing the bytes again: on the server, a candidate is what an upload said it is.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

from lepton_lab.errors import InvalidInput
from lepton_lab.lineage import NODE
from lepton_lab.refs import check_text, parse_ref

__all__ = [
    "META_LIMITS",
    "Candidate",
    "check_candidate",
    "check_metrics",
    "dataset_version",
    "json_safe",
    "prepare",
]

#: The text fields of a candidate, with their longest lengths (the columns').
META_LIMITS = {"format": 40, "task": 20, "family": 64, "run": 200}
_META_OBJECTS = ("params", "signature", "spec", "metrics")


@dataclass(frozen=True)
class Candidate:
    """A model ready to commit: the artifact and what is known about it (JSON-safe)."""

    data: bytes
    format: str
    task: str
    family: str
    params: dict[str, Any]
    signature: dict[str, Any]
    spec: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    run: str = ""

    def meta(self) -> dict[str, Any]:
        """Everything but the bytes (what the REST upload sends beside them)."""
        return {k: v for k, v in self.__dict__.items() if k != "data"}


def check_candidate(candidate: Candidate) -> None:
    """``InvalidInput`` unless the candidate holds what the registry stores and reads: text
    its columns hold, a training task, JSON objects, a lineage node, the training spec's
    dataset version and a signature that loading and predicting can use."""
    from lepton_lab.training.tasks import TASKS

    if not isinstance(candidate.data, bytes):
        raise InvalidInput("the artifact must be the saved model's bytes")
    for key, limit in META_LIMITS.items():
        check_text(getattr(candidate, key), f"meta {key}", limit=limit)
    if candidate.task not in TASKS:
        raise InvalidInput(f"meta task {candidate.task!r} is not one of {', '.join(TASKS)}")
    for key in _META_OBJECTS:
        if not isinstance(getattr(candidate, key), dict):
            raise InvalidInput(f"meta {key} must be a JSON object")
    if candidate.run and not NODE.fullmatch(candidate.run):
        raise InvalidInput(
            f"meta run {candidate.run!r} is not a lineage node such as training:3f2a"
        )
    check_metrics(candidate.metrics, "meta metrics")
    _check_spec(candidate.spec)
    _check_signature(candidate.signature)


def check_metrics(metrics: object, what: str = "metrics") -> dict[str, Any]:
    """``{name: value}``, each value a finite number or ``None`` (not computed)."""
    if not isinstance(metrics, dict):
        raise InvalidInput(f"{what} must be a JSON object of {{name: value}}")
    for name, value in metrics.items():
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"{what}: {name!r} is no metric name; name each with text")
        if value is not None and not _finite_number(value):
            raise InvalidInput(
                f"{what}: {name} is {_short(value)}; a metric is a finite number, or null "
                "when it could not be computed"
            )
    return metrics


def dataset_version(value: object, what: str = "dataset") -> str:
    """A dataset reference pinned to a version (``team/name@3``), as the lineage names it."""
    check_text(value, what, limit=300)
    ref = parse_ref(str(value), what)
    if ref.version is None:
        raise InvalidInput(
            f"{what} {value!r} must name a dataset version, like '{ref.qualified}@3'"
        )
    return str(ref)


def _check_spec(spec: dict[str, Any]) -> None:
    """The parts of a training spec the registry reads: its dataset version and rows."""
    dataset = spec.get("dataset")
    if dataset is not None:
        if not isinstance(dataset, dict):
            raise InvalidInput("meta spec dataset must be an object like {'ref': 'team/name@3'}")
        ref = dataset.get("ref")
        if ref is not None and ref != "" and dataset_version(ref, "meta spec dataset ref") != ref:
            raise InvalidInput(f"meta spec dataset ref {ref!r}: write it as team/name@3")
    if not isinstance(spec.get("rows", {}), dict):
        raise InvalidInput("meta spec rows must be an object like {'train': 120, 'test': 30}")


def _check_signature(signature: dict[str, Any]) -> None:
    """What loading and predicting read: named inputs of known kinds, and the output."""
    from lepton_lab.gallery.loaded import KINDS

    inputs, output = signature.get("inputs"), signature.get("output")
    if not isinstance(inputs, list) or not all(
        isinstance(spec, dict)
        and isinstance(spec.get("name"), str)
        and spec.get("dtype", "any") in KINDS
        for spec in inputs
    ):
        raise InvalidInput(
            f"meta signature inputs must be a list of {{'name': column, 'dtype': kind}}, "
            f"the kind one of {', '.join(KINDS)}"
        )
    if not isinstance(output, dict) or not isinstance(output.get("classes", []), list):
        raise InvalidInput("meta signature output must be an object like {'kind': 'value'}")


def _finite_number(value: object) -> bool:
    """A real number (no bool) a float holds: not NaN, not infinite, not beyond float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond any float
        return False


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:20]}…"


def prepare(model: Any, *, task: str | None = None, features: list[str] | None = None) -> Candidate:
    """A trained model (``ll.train``'s result, or a fitted scikit-learn estimator) as a
    :class:`Candidate`: saved safely (skops, safetensors) and described.

    ``task`` (binary, multiclass or regression) is inferred when not given: a result knows
    its own, a bare classifier is binary or multiclass by its number of classes."""
    from lepton_lab.gallery.artifacts import save_model
    from lepton_lab.gallery.loaded import signature_of
    from lepton_lab.training.tasks import TASKS

    if task is not None and task not in TASKS:
        raise InvalidInput(f"unknown task {task!r}; a model's task is one of {', '.join(TASKS)}")
    if hasattr(model, "spec") and hasattr(model, "model"):  # a TrainResult
        if task is not None and task != str(model.task):
            raise InvalidInput(
                f"this result was trained for {model.task}, not {task}: leave task= out"
            )
        spec = json_safe(model.spec)
        saved = save_model(model.model)
        return Candidate(
            saved.data,
            saved.format,
            str(model.task),
            str(model.family),
            json_safe(model.params),
            _signature_from_spec(spec, model.model),
            spec,
            json_safe(model.metrics),
            str(getattr(model, "node", "")),
        )
    if not hasattr(model, "predict"):
        raise InvalidInput(
            f"cannot register a {type(model).__name__}: give the result of ll.train or a "
            "fitted scikit-learn estimator"
        )
    names = features or [str(f) for f in getattr(model, "feature_names_in_", [])]
    if not names:
        raise InvalidInput(
            "this estimator does not know its input columns: fit it on a DataFrame, or pass "
            "features=[...] naming them"
        )
    task = _estimator_task(model, task)
    saved = save_model(model)
    params = json_safe(model.get_params(deep=False)) if hasattr(model, "get_params") else {}
    signature = signature_of(model, None, names)
    spec = {"features": names, "task": task}
    return Candidate(saved.data, saved.format, task, type(model).__name__, params, signature, spec)


def _estimator_task(model: Any, task: str | None) -> str:
    """A bare estimator's task: a classifier's by its number of classes, else regression;
    a given one must not contradict the classes."""
    classes = getattr(model, "classes_", None)
    if classes is None:
        return task or "regression"
    count = len(classes)
    inferred = "binary" if count == 2 else "multiclass"
    if task is None:
        return inferred
    if task == "regression" or (task == "binary" and count != 2):
        raise InvalidInput(
            f"this classifier has {count} classes, so its task is {inferred}, not {task}"
        )
    return task


def _signature_from_spec(spec: dict[str, Any], model: Any) -> dict[str, Any]:
    columns = spec.get("columns", {})
    kinds = dict.fromkeys(columns.get("numeric", []), "number")
    kinds |= dict.fromkeys(columns.get("categorical", []), "category")
    kinds |= dict.fromkeys(columns.get("text", []), "text")
    inputs = [{"name": f, "dtype": kinds.get(f, "any")} for f in spec.get("features", [])]
    classes = getattr(model, "classes_", None)
    output = (
        {"kind": "class", "classes": json_safe(list(classes))}
        if classes is not None
        else {"kind": "value"}
    )
    return {"inputs": inputs, "output": output}


def json_safe(value: Any) -> Any:
    """What JSON keeps of a value (numpy numbers become Python numbers)."""
    return json.loads(json.dumps(value, default=_plain))


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
