"""What training and evaluation give back: :class:`TrainResult`, :class:`Leaderboard`,
:class:`Evaluation`.  Plain data (metrics, curves, history, spec) next to the fitted model,
with ``.plot()``, ``.report()`` and a rich display in notebooks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from markdown_it import MarkdownIt

from lepton_lab.errors import InvalidInput
from lepton_lab.training.metrics import Metrics, headline_metric
from lepton_lab.training.plots import plot
from lepton_lab.training.tasks import Task

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Evaluation", "Leaderboard", "TrainResult"]


def _markdown_html(text: str) -> str:
    return str(MarkdownIt("commonmark").enable("table").render(text))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def _metric_table(metrics: Metrics) -> str:
    rows = [f"| {name} | {_fmt(value)} |" for name, value in metrics.items()]
    return "\n".join(["| metric | value |", "| --- | --- |", *rows])


def _features(frame: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise InvalidInput(f"the rows lack feature column(s) the model needs: {', '.join(missing)}")
    return frame[features]


@dataclass
class TrainResult:
    """One trained model: the fitted pipeline and everything known about how it did."""

    model: Any
    """The fitted scikit-learn Pipeline (preprocessing + estimator): raw rows in."""
    task: Task
    family: str
    params: dict[str, Any]
    """The family's parameters, defaults filled in."""
    metrics: Metrics
    """Test-split metrics (see :mod:`lepton_lab.training.metrics`)."""
    curves: dict[str, Any]
    """confusion / roc / pr (classification) or residuals (regression), as lists."""
    history: list[dict[str, Any]]
    """One dict per epoch (torch families): epoch, loss, val_loss, seconds."""
    spec: dict[str, Any]
    """What it ran with: pinned dataset ref, target, features, seed, split, device, versions…"""
    timings: dict[str, float]
    """Seconds: fit, evaluate, cv, total."""
    cv: dict[str, Any] | None = None
    """k-fold scores on the training rows: metric, folds, mean, std (when ``cv=k``)."""
    stopped: bool = False
    """True when a stop request cut the run short (torch: after the current epoch)."""
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @property
    def node(self) -> str:
        """The lineage node of this run (``training:<run_id>``)."""
        return f"training:{self.run_id}"

    @property
    def headline(self) -> str:
        """The metric results are ranked by (roc_auc, f1_macro or r2)."""
        return headline_metric(self.task, self.metrics)

    @property
    def score(self) -> float | None:
        """The headline metric's value."""
        return self.metrics.get(self.headline)

    def predict(self, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        """Predictions for raw rows (the columns the model was trained on)."""
        return np.asarray(self.model.predict(_features(frame, self.spec["features"])))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        """Class probabilities for raw rows (classifiers that give them)."""
        if not hasattr(self.model, "predict_proba"):
            raise InvalidInput(f"model {self.family!r} gives no probabilities")
        return np.asarray(self.model.predict_proba(_features(frame, self.spec["features"])))

    def plot(self, kind: str = "auto") -> Figure:
        """auto, confusion, roc, pr, residuals or history, as a matplotlib Figure."""
        return plot(kind, self.task, self.curves, self.history, title=self.family)

    def report(self) -> str:
        """A markdown summary: metrics, cross-validation, parameters, what it ran with."""
        spec = self.spec
        source = spec["dataset"]["ref"] or "a DataFrame"
        lines = [f"### {self.family} on {source} → {spec['target']} ({self.task})", ""]
        lines += [_metric_table(self.metrics), ""]
        if self.cv:
            cv = self.cv
            lines.append(
                f"Cross-validation ({len(cv['folds'])} folds, {cv['metric']}): "
                f"{_fmt(cv['mean'])} ± {_fmt(cv['std'])}\n"
            )
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        lines.append(f"Parameters: {params or 'none'}\n")
        lines.append(
            f"Trained on {spec['rows']['train']} rows, tested on {spec['rows']['test']}; "
            f"seed {spec['seed']}; device {spec['device']}; {self.timings['total']:.2f} s"
            + (" (stopped early by request)" if self.stopped else "")
        )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Everything but the fitted model, as JSON-ready data."""
        keys = ("task", "family", "params", "metrics", "curves", "history", "spec", "timings")
        return {k: getattr(self, k) for k in keys} | {
            "cv": self.cv,
            "stopped": self.stopped,
            "run_id": self.run_id,
        }

    def _repr_html_(self) -> str:
        return _markdown_html(self.report())

    def __repr__(self) -> str:
        return f"<TrainResult {self.family} {self.task} {self.headline}={_fmt(self.score)}>"


class Leaderboard:
    """Several models trained on the same split, best first by a shared headline metric."""

    def __init__(self, results: list[TrainResult], *, stopped: bool = False) -> None:
        if not results:
            raise InvalidInput("a leaderboard needs at least one result")
        task = results[0].task
        self.metric = "r2" if task == "regression" else "roc_auc"
        if any(r.metrics.get(self.metric) is None for r in results):
            self.metric = "f1_macro"
        self.results = sorted(results, key=self._key)
        self.stopped = stopped
        """True when a stop request ended the run before every model was trained."""

    def _key(self, result: TrainResult) -> float:
        value = result.metrics.get(self.metric)
        return -value if value is not None else float("inf")

    @property
    def best(self) -> TrainResult:
        """The top result."""
        return self.results[0]

    def __getitem__(self, key: int | str) -> TrainResult:
        if isinstance(key, int):
            return self.results[key]
        for result in self.results:
            if result.family == key:
                return result
        known = ", ".join(r.family for r in self.results)
        raise KeyError(f"no model {key!r} in this leaderboard; it has {known}")

    def __iter__(self) -> Iterator[TrainResult]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def to_frame(self) -> pd.DataFrame:
        """One row per model, best first: rank, model, the headline, every metric, seconds."""
        rows = [
            {"rank": i, "model": r.family, self.metric: r.metrics.get(self.metric)}
            | {k: v for k, v in r.metrics.items() if k != self.metric}
            | {"fit_seconds": r.timings["fit"]}
            for i, r in enumerate(self.results, 1)
        ]
        return pd.DataFrame(rows).set_index("rank")

    def report(self) -> str:
        """A markdown table of the models, best first."""
        frame = self.to_frame()
        header = "| " + " | ".join(["rank", *frame.columns]) + " |"
        rule = "|" + " --- |" * (len(frame.columns) + 1)
        body = [
            "| " + " | ".join([str(rank), *(_fmt(v) for v in row)]) + " |"
            for rank, row in zip(frame.index, frame.itertuples(index=False), strict=True)
        ]
        title = f"### Leaderboard by {self.metric}" + (
            " (stopped by request)" if self.stopped else ""
        )
        return "\n".join([title, "", header, rule, *body])

    def _repr_html_(self) -> str:
        return _markdown_html(self.report())

    def __repr__(self) -> str:
        ranked = ", ".join(f"{r.family}={_fmt(r.metrics.get(self.metric))}" for r in self.results)
        return f"<Leaderboard by {self.metric}: {ranked}>"


@dataclass
class Evaluation:
    """A fitted model's metrics on another dataset or version."""

    task: Task
    metrics: Metrics
    curves: dict[str, Any]
    dataset: dict[str, Any]
    """Where the rows came from: ref (pinned) or None for a DataFrame, sha256, rows."""
    target: str
    model: str | None
    """The model's lineage node (``training:<run_id>``), when known."""

    def plot(self, kind: str = "auto") -> Figure:
        """auto, confusion, roc, pr or residuals, as a matplotlib Figure."""
        return plot(kind, self.task, self.curves, [], title=self.dataset["ref"] or "")

    def report(self) -> str:
        """A markdown summary of the metrics."""
        source = self.dataset["ref"] or "a DataFrame"
        title = f"### {self.model or 'model'} evaluated on {source} → {self.target} ({self.task})"
        return "\n".join([title, "", _metric_table(self.metrics)])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {
            "task": self.task,
            "metrics": self.metrics,
            "curves": self.curves,
            "dataset": self.dataset,
            "target": self.target,
            "model": self.model,
        }

    def _repr_html_(self) -> str:
        return _markdown_html(self.report())
