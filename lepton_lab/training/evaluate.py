"""``evaluate``: a fitted model's metrics on another dataset or version, with lineage."""

from __future__ import annotations

from typing import Any

import pandas as pd

from lepton_lab.errors import InvalidInput
from lepton_lab.training.data import DatasetSource, load_frame
from lepton_lab.training.metrics import score_model
from lepton_lab.training.result import Evaluation, TrainResult
from lepton_lab.training.tasks import Task
from lepton_lab.training.train import Recorder

__all__ = ["evaluate"]


def _describe(
    model: Any, target: str | None, node: str | None
) -> tuple[Any, str, list[str] | None, Task | None, str | None]:
    """(estimator, target, features, task, lineage node) of a result or a bare model."""
    if isinstance(model, TrainResult):
        spec = model.spec
        return (
            model.model,
            target or spec["target"],
            spec["features"],
            model.task,
            node or model.node,
        )
    if not hasattr(model, "predict"):
        raise InvalidInput(
            "evaluate needs a TrainResult or a fitted model with predict(), "
            f"not {type(model).__name__}"
        )
    if target is None:
        raise InvalidInput(
            "target= is needed to evaluate a bare model (a TrainResult knows its own)"
        )
    features = getattr(model, "feature_names_in_", None)
    return model, target, None if features is None else list(features), None, node


def _task_of(estimator: Any, known: Task | None) -> Task:
    if known is not None:
        return known
    classes = getattr(estimator, "classes_", None)
    if classes is None:
        return "regression"
    return "binary" if len(classes) == 2 else "multiclass"


def evaluate(
    datasets: DatasetSource | None,
    model_or_result: Any,
    dataset: str | pd.DataFrame,
    *,
    target: str | None = None,
    node: str | None = None,
    record: Recorder | None = None,
) -> Evaluation:
    """Metrics and curves of a fitted model on ``dataset`` (a reference, pinned, or a frame).

    ``model_or_result`` is a :class:`TrainResult` (its target, features and task are known)
    or a fitted estimator or pipeline taking raw rows (then ``target=`` is needed).
    ``record(src, dst, kind)`` receives an ``evaluated_on`` edge from the pinned dataset to
    the model's lineage node (a result's own, or ``node=``) when the rows came by reference.
    """
    estimator, target, features, task, node = _describe(model_or_result, target, node)
    if record is not None and node is None:
        raise InvalidInput("node= names a bare model in the lineage its evaluation records")
    frame, source = load_frame(datasets, dataset)
    if target not in frame.columns:
        raise InvalidInput(f"the rows have no target column {target!r}")
    frame = frame[frame[target].notna()]
    if frame.empty:
        raise InvalidInput(f"no rows with a value for target {target!r}")
    columns = features if features is not None else [c for c in frame.columns if c != target]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidInput(f"the rows lack feature column(s) the model needs: {', '.join(missing)}")
    y = frame[target]
    task = _task_of(estimator, task)
    metrics, curves, _ = score_model(estimator, frame[columns], y, task)
    if record is not None and node is not None and source["ref"]:
        record(f"dataset:{source['ref']}", node, "evaluated_on")
    return Evaluation(task, metrics, curves, source | {"rows": len(frame)}, target, node)
