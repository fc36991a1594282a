"""Figures of a result's curves, drawn from the plain data kept in ``result.curves``.

Figures are made with :class:`matplotlib.figure.Figure` directly (not ``pyplot``), so that
drawing one touches no global state and works in a background thread; Jupyter shows a
returned figure like any other.  matplotlib is imported on the first plot only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lepton_lab.errors import InvalidInput
from lepton_lab.training.tasks import Task

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["PLOT_KINDS", "plot"]

PLOT_KINDS = ("auto", "confusion", "roc", "pr", "residuals", "history")


def _confusion(ax: Axes, curves: dict[str, Any]) -> None:
    data = curves["confusion"]
    labels = [str(label) for label in data["labels"]]
    ax.imshow(data["matrix"], cmap="Blues")
    ax.set(xticks=range(len(labels)), yticks=range(len(labels)))
    ax.set_xticklabels(labels, rotation=45, ha="right")
    ax.set_yticklabels(labels)
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix")
    for i, row in enumerate(data["matrix"]):
        for j, count in enumerate(row):
            ax.text(j, i, str(count), ha="center", va="center", fontsize=8)


def _roc(ax: Axes, curves: dict[str, Any]) -> None:
    for curve in curves.get("roc", []):
        auc = curve["auc"]
        ax.plot(curve["fpr"], curve["tpr"], label=f"{curve['label']} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax.legend(loc="lower right", fontsize=8)


def _pr(ax: Axes, curves: dict[str, Any]) -> None:
    for curve in curves.get("pr", []):
        ax.plot(
            curve["recall"], curve["precision"], label=f"{curve['label']} (AP {curve['ap']:.3f})"
        )
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall")
    ax.legend(loc="lower left", fontsize=8)


def _residuals(ax: Axes, curves: dict[str, Any]) -> None:
    data = curves["residuals"]
    ax.scatter(data["y_pred"], data["residual"], s=8, alpha=0.6)
    ax.axhline(0, color="grey", linestyle=":")
    ax.set(xlabel="predicted", ylabel="true - predicted", title="Residuals")


def _history(ax: Axes, history: list[dict[str, Any]]) -> None:
    epochs = [h["epoch"] for h in history]
    ax.plot(epochs, [h["loss"] for h in history], label="training loss")
    if any(h.get("val_loss") is not None for h in history):
        ax.plot(epochs, [h["val_loss"] for h in history], label="validation loss")
    ax.set(xlabel="epoch", ylabel="loss", title="Training history")
    ax.legend(fontsize=8)


def _panels(kind: str, task: Task, curves: dict[str, Any], history: list[Any]) -> list[str]:
    if kind not in PLOT_KINDS:
        raise InvalidInput(f"unknown plot {kind!r}; known: {', '.join(PLOT_KINDS)}")
    if kind == "auto":
        panels = ["residuals"] if task == "regression" else ["confusion"]
        panels += ["roc"] if curves.get("roc") else []
        return panels + (["history"] if history else [])
    available = {"history": bool(history), "residuals": "residuals" in curves}
    available |= {"confusion": "confusion" in curves, "roc": bool(curves.get("roc"))}
    available["pr"] = bool(curves.get("pr"))
    if not available[kind]:
        have = [k for k, ok in available.items() if ok]
        raise InvalidInput(f"no {kind!r} plot for this result; available: {', '.join(have)}")
    return [kind]


def plot(
    kind: str, task: Task, curves: dict[str, Any], history: list[dict[str, Any]], title: str = ""
) -> Figure:
    """A figure with the ``kind`` panel (``auto``: the ones that suit the task)."""
    from matplotlib.figure import Figure  # on first plot: importing it costs a third of a second

    panels = _panels(kind, task, curves, history)
    figure = Figure(figsize=(4.2 * len(panels), 3.8), layout="constrained")
    for ax, panel in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        if panel == "history":
            _history(ax, history)
        else:
            {"confusion": _confusion, "roc": _roc, "pr": _pr, "residuals": _residuals}[panel](
                ax, curves
            )
    if title:
        figure.suptitle(title)
    return figure
