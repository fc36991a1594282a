"""Evaluation metrics and curves, computed with scikit-learn's own functions, as plain data.

Classification: accuracy; precision, recall and F1, macro and weighted (and of the
positive class for binary tasks); ROC AUC (one-vs-rest, macro, for multiclass); log loss
when the model gives probabilities; the confusion matrix; ROC and precision-recall curves
(one per class for multiclass).  Regression: RMSE, MAE, R², and the residuals.

Every value is a float, int, str, None or a list of them, so a result's metrics and curves
go straight to JSON (the gallery, the REST API, the widget).  A metric that cannot be
computed (ROC AUC when the test rows hold one class) is None rather than an error.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np
from sklearn import metrics as skm
from sklearn.preprocessing import label_binarize

from lepton_lab.training.tasks import Task

__all__ = [
    "MAX_CURVE_POINTS",
    "Scored",
    "classification_scores",
    "headline_metric",
    "regression_scores",
    "score_model",
]

MAX_CURVE_POINTS = 5000
"""Residual points kept at most (evenly spaced), so that curves stay small data."""

Metrics = dict[str, float | None]
Scored = tuple[Metrics, dict[str, Any]]
"""(metrics, curves)."""


def _num(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=float)]


def model_scores(model: Any, x: Any) -> tuple[np.ndarray[Any, Any] | None, bool]:
    """(scores, are_probabilities): ``predict_proba`` when the model has it, else the
    decision function (linear SVMs), else None."""
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(x)), True
    if hasattr(model, "decision_function"):
        return np.asarray(model.decision_function(x)), False
    return None, False


def _roc_auc(y: Any, scores: np.ndarray[Any, Any], classes: list[Any], proba: bool) -> Any:
    if len(classes) == 2:
        return skm.roc_auc_score(y, scores)
    if proba:
        return skm.roc_auc_score(y, scores, multi_class="ovr", labels=classes)
    # Decision scores need not sum to one, which roc_auc_score's multiclass check demands;
    # macro AUC over the binarised labels is the same one-vs-rest computation.
    return skm.roc_auc_score(label_binarize(y, classes=classes), scores, average="macro")


def _curves(y: Any, scores: np.ndarray[Any, Any], classes: list[Any]) -> dict[str, Any]:
    """ROC and PR curves: the positive class for binary tasks, one per class otherwise."""
    binary = len(classes) == 2
    columns = [(classes[1], scores)] if binary else list(zip(classes, scores.T, strict=True))
    roc, pr = [], []
    for label, score in columns:
        truth = np.asarray(y) == label
        if truth.all() or not truth.any():
            continue
        fpr, tpr, _ = skm.roc_curve(truth, score)
        precision, recall, _ = skm.precision_recall_curve(truth, score)
        roc.append(
            {
                "label": label,
                "fpr": _floats(fpr),
                "tpr": _floats(tpr),
                "auc": _num(skm.auc(fpr, tpr)),
            }
        )
        ap = _num(skm.average_precision_score(truth, score))
        pr.append(
            {"label": label, "precision": _floats(precision), "recall": _floats(recall), "ap": ap}
        )
    return {"roc": roc, "pr": pr}


def classification_scores(
    y: Any, predicted: Any, scores: np.ndarray[Any, Any] | None, classes: list[Any], proba: bool
) -> Scored:
    """Metrics and curves of a classifier; ``scores`` has one column per class (or one for
    the positive class, ``classes[1]``, of a binary task)."""
    metrics: Metrics = {"accuracy": _num(skm.accuracy_score(y, predicted))}
    for average in ("macro", "weighted"):
        p, r, f, _ = skm.precision_recall_fscore_support(
            y, predicted, average=average, labels=classes, zero_division=0
        )
        metrics |= {f"precision_{average}": _num(p), f"recall_{average}": _num(r)}
        metrics[f"f1_{average}"] = _num(f)
    if len(classes) == 2:
        p, r, f, _ = skm.precision_recall_fscore_support(
            y, predicted, average="binary", pos_label=classes[1], zero_division=0
        )
        metrics |= {"precision": _num(p), "recall": _num(r), "f1": _num(f)}
    metrics["roc_auc"] = metrics["log_loss"] = None
    matrix = skm.confusion_matrix(y, predicted, labels=classes)
    curves: dict[str, Any] = {"confusion": {"labels": classes, "matrix": matrix.tolist()}}
    if scores is not None:
        if len(classes) == 2 and scores.ndim == 2:
            scores = scores[:, 1]
        # One class only among these rows: AUC is undefined and stays None.
        with contextlib.suppress(ValueError):
            metrics["roc_auc"] = _num(_roc_auc(y, scores, classes, proba))
        curves |= _curves(y, scores, classes)
    if scores is not None and proba:
        full = np.column_stack([1 - scores, scores]) if scores.ndim == 1 else scores
        # Labels the model never saw (no probability for them): log loss stays None.
        with contextlib.suppress(ValueError):
            metrics["log_loss"] = _num(skm.log_loss(y, full, labels=classes))
    return metrics, curves


def regression_scores(y: Any, predicted: Any) -> Scored:
    """RMSE, MAE, R² and the residuals (at most :data:`MAX_CURVE_POINTS` of them)."""
    truth, guess = np.asarray(y, dtype=float), np.asarray(predicted, dtype=float)
    metrics: Metrics = {
        "rmse": _num(skm.root_mean_squared_error(truth, guess)),
        "mae": _num(skm.mean_absolute_error(truth, guess)),
        "r2": _num(skm.r2_score(truth, guess)) if len(truth) > 1 else None,
    }
    keep = np.linspace(0, len(truth) - 1, min(len(truth), MAX_CURVE_POINTS)).astype(int)
    residuals = {
        "y_true": _floats(truth[keep]),
        "y_pred": _floats(guess[keep]),
        "residual": _floats(truth[keep] - guess[keep]),
    }
    return metrics, {"residuals": residuals}


def score_model(model: Any, x: Any, y: Any, task: Task) -> tuple[Metrics, dict[str, Any], Any]:
    """(metrics, curves, predictions) of a fitted model (pipeline) on rows ``x``."""
    predicted = model.predict(x)
    if task == "regression":
        return *regression_scores(y, predicted), predicted
    classes = np.asarray(model.classes_).tolist()
    scores, proba = model_scores(model, x)
    return *classification_scores(y, predicted, scores, classes, proba), predicted


def headline_metric(task: Task, metrics: Metrics) -> str:
    """The one number results are ranked by: ROC AUC (else macro F1), or R²."""
    if task == "regression":
        return "r2"
    return "roc_auc" if metrics.get("roc_auc") is not None else "f1_macro"
