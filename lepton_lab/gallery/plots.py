"""The gallery's chart: a metric over a model's versions."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from lepton_lab.errors import InvalidInput

__all__ = ["compare_figure", "pick_metric"]

_PREFERRED = ("roc_auc", "f1_macro", "accuracy", "r2", "rmse")


def pick_metric(rows: list[dict[str, Any]], metric: str | None) -> str:
    """``metric``, checked, or the first of the usual headline metrics the rows hold."""
    found = {k for row in rows for k, v in row.items() if isinstance(v, int | float)}
    found -= {"version"}
    if metric is not None:
        if metric not in found:
            raise InvalidInput(f"no metric {metric!r} measured; measured: {sorted(found)}")
        return metric
    for name in _PREFERRED:
        if name in found:
            return name
    if not found:
        raise InvalidInput("no metrics measured for this model yet")
    return sorted(found)[0]


def compare_figure(name: str, rows: list[dict[str, Any]], metric: str | None) -> Figure:
    """One line per (dataset, split) of ``metric`` against the version number."""
    chosen = pick_metric(rows, metric)
    figure = Figure(figsize=(6, 3.2))
    axes = figure.subplots()
    series: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for row in rows:
        if isinstance(row.get(chosen), int | float):
            series.setdefault((row["dataset"], row["split"]), []).append(
                (row["version"], row[chosen])
            )
    for (dataset, split), points in sorted(series.items()):
        xs, ys = zip(*sorted(points), strict=True)
        axes.plot(xs, ys, marker="o", label=f"{dataset} ({split})")
    # Versions are whole numbers; min_n_ticks=1 keeps that true for a single version too.
    axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    axes.set_xlabel("version")
    axes.set_ylabel(chosen)
    axes.set_title(f"{name}: {chosen} by version")
    axes.legend(fontsize=8)
    figure.tight_layout()
    return figure
