"""Fitting one model family on a prepared split: pipeline, fit, test metrics, k-fold scores."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline

from lepton_lab.training.data import Prepared
from lepton_lab.training.families import BuildContext, Family
from lepton_lab.training.metrics import headline_metric, score_model
from lepton_lab.training.preprocess import build_preprocessor
from lepton_lab.training.progress import Progress
from lepton_lab.training.result import TrainResult
from lepton_lab.training.seeding import library_versions, seed_everything
from lepton_lab.training.tasks import is_classification

__all__ = ["RunSettings", "fit_family"]


@dataclass(frozen=True)
class RunSettings:
    """What every model of one run shares."""

    seed: int
    device: str
    """As asked: auto, cpu, cuda or cuda:N (torch families resolve it)."""
    cv: int | None
    progress: Progress
    stop_event: threading.Event | None

    def stopping(self) -> bool:
        """Whether a stop was requested."""
        return self.stop_event is not None and self.stop_event.is_set()


def _fit(
    pipeline: Pipeline, family: Family, x: Any, y: Any, run: RunSettings, progress: Progress | None
) -> Pipeline:
    """Fit ``pipeline``; the caller has seeded the global generators (:func:`seed_everything`)."""
    if family.kind == "torch":
        # Routed to the estimator's fit, not stored on it: the fitted model holds no view.
        pipeline.fit(x, y, model__progress=progress, model__stop_event=run.stop_event)
    else:
        pipeline.fit(x, y)
    return pipeline


def _cross_validate(
    pipeline: Pipeline, family: Family, data: Prepared, run: RunSettings, k: int
) -> dict[str, Any]:
    """Headline scores of k folds of the training rows (the test rows stay unseen)."""
    x, y = data.rows("train")
    splitter_cls = StratifiedKFold if is_classification(data.task) else KFold
    splitter = splitter_cls(n_splits=k, shuffle=True, random_state=run.seed)
    folds: list[float | None] = []
    metric = None
    for fold, (train, test) in enumerate(splitter.split(x, y), 1):
        seed_everything(run.seed)
        fitted = _fit(clone(pipeline), family, x.iloc[train], y.iloc[train], run, None)
        metrics, _, _ = score_model(fitted, x.iloc[test], y.iloc[test], data.task)
        metric = metric or headline_metric(data.task, metrics)
        folds.append(metrics.get(metric))
        run.progress.emit("step", step=fold, total=k, message="cross-validation")
        if run.stopping():
            break
    values = np.array([f for f in folds if f is not None], dtype=float)
    mean = float(values.mean()) if len(values) else None
    std = float(values.std()) if len(values) else None
    return {"metric": metric, "folds": folds, "mean": mean, "std": std, "k": k}


def _spec(
    family: Family, params: dict[str, Any], data: Prepared, run: RunSettings, estimator: Any
) -> dict[str, Any]:
    where: dict[str, Any] = {"device": "cpu", "precision": None}
    if family.kind == "torch":
        from lepton_lab.training.torch_loop import describe_device

        device = getattr(estimator, "device_", "cpu")
        where = describe_device(device, getattr(estimator, "threads_", None))
    return {
        "dataset": dict(data.source),
        "target": data.target,
        "features": list(data.features),
        "columns": data.plan.to_dict(),
        "task": data.task,
        "family": family.name,
        "kind": family.kind,
        "params": dict(params),
        "seed": run.seed,
        "split": dict(data.split),
        "rows": {
            "train": len(data.train_index),
            "test": len(data.test_index),
            "dropped_missing_target": data.dropped_rows,
        },
        "cv": run.cv,
        **where,
        "versions": library_versions(),
        "created_at": datetime.now(UTC).isoformat(),
    }


def _cv_cut(cv: dict[str, Any] | None, k: int | None) -> bool:
    """Whether a stop request left cross-validation short of its k folds."""
    return bool(k) and (cv is None or len(cv["folds"]) < cv["k"])


def fit_family(
    family: Family, params: dict[str, Any], data: Prepared, run: RunSettings
) -> TrainResult:
    """Train ``family`` on the training rows, score it on the test rows, k-fold if asked.

    ``timings["fit"]`` is the work a plain scikit-learn fit does too: taking the training
    rows, building the pipeline and fitting it.  Seeding the global generators comes
    before it (no built-in builder draws from them), as it is not fitting.
    """
    seed_everything(run.seed)
    started = time.perf_counter()
    estimator = family.build(data.task, params, BuildContext(seed=run.seed, device=run.device))
    pipeline = Pipeline([("preprocess", build_preprocessor(data.plan)), ("model", estimator)])
    x, y = data.rows("train")
    progress = run.progress.bind(family.name)
    _fit(pipeline, family, x, y, run, progress)
    fitted = time.perf_counter()
    x_test, y_test = data.rows("test")
    metrics, curves, _ = score_model(pipeline, x_test, y_test, data.task)
    scored = time.perf_counter()
    cv = None
    if run.cv and not run.stopping():
        cv = _cross_validate(pipeline, family, data, run, run.cv)
    model = pipeline.named_steps["model"]
    finished = time.perf_counter()
    timings = {"fit": fitted - started, "evaluate": scored - fitted, "cv": finished - scored}
    return TrainResult(
        model=pipeline,
        task=data.task,
        family=family.name,
        params=params,
        metrics=metrics,
        curves=curves,
        history=list(getattr(model, "history_", [])),
        spec=_spec(family, params, data, run, model),
        timings=timings | {"total": finished - started},
        cv=cv,
        stopped=bool(getattr(model, "stopped_", False)) or _cv_cut(cv, run.cv),
    )
