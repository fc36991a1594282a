"""``train``: one call from a dataset to fitted, evaluated, comparable models."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pandas as pd

from lepton_lab.errors import InvalidInput
from lepton_lab.training.data import DatasetSource, Prepared, load_frame, prepare
from lepton_lab.training.families import Family, get_family
from lepton_lab.training.fitting import RunSettings, fit_family
from lepton_lab.training.progress import Callback, Progress
from lepton_lab.training.result import Leaderboard, TrainResult

__all__ = ["Recorder", "train"]

Recorder = Callable[[str, str, str], None]
"""``record(src, dst, kind)``: adds a lineage edge, e.g. ``("dataset:finance/credit@3",
"training:3f2a…", "trained_on")``."""

_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def _choose(
    model: str | Sequence[str], params: Mapping[str, Any] | None, epochs: int | None
) -> list[tuple[Family, dict[str, Any]]]:
    """Each family asked for with its checked parameters (all checked before any training)."""
    if isinstance(model, str):
        names, per_family = [model], {model: params or {}}
    else:
        names = list(model)
        if not names or len(set(names)) != len(names):
            raise InvalidInput(
                f"model must be a family name or a list of distinct ones, not {model!r}"
            )
        per_family = dict(params or {})
        stray = sorted(set(per_family) - set(names))
        if stray:
            raise InvalidInput(
                f"with a list of models, params maps model names to their parameters; "
                f"{', '.join(map(repr, stray))} is not among the models ({', '.join(names)})"
            )
    if epochs is not None and (
        isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1
    ):
        raise InvalidInput(f"epochs must be a whole number of at least 1, not {epochs!r}")
    chosen = []
    for name in names:
        family = get_family(name)
        given = dict(per_family.get(name) or {})
        if epochs is not None and family.kind == "torch":
            given["epochs"] = epochs
        chosen.append((family, family.validate(given)))
    return chosen


def _check_run(seed: Any, cv: Any, device: Any, torch_needed: bool) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInput(f"seed must be a whole number of 0 or more, not {seed!r}")
    if cv is not None and (isinstance(cv, bool) or not isinstance(cv, int) or cv < 2):
        raise InvalidInput(f"cv must be None or a number of folds of at least 2, not {cv!r}")
    if not isinstance(device, str) or not _DEVICE.fullmatch(device):
        raise InvalidInput(f"unknown device {device!r}; allowed: auto, cpu, cuda, cuda:N")
    if torch_needed:
        # Fail before loading any data when the GPU asked for is not there.
        from lepton_lab.training.torch_loop import resolve_device

        resolve_device(device)


def train(
    datasets: DatasetSource | None,
    dataset: str | pd.DataFrame,
    target: str,
    *,
    model: str | Sequence[str] = "hist_gradient_boosting",
    task: str = "auto",
    params: Mapping[str, Any] | None = None,
    features: list[str] | None = None,
    split: float | str = 0.2,
    cv: int | None = None,
    seed: int = 0,
    device: str = "auto",
    epochs: int | None = None,
    callbacks: Sequence[Callback] = (),
    stop_event: threading.Event | None = None,
    record: Recorder | None = None,
) -> TrainResult | Leaderboard:
    """Train and evaluate one model family, or several to compare them.

    ``dataset`` is a reference (``"team/name"``, pinned to its version before loading) or
    a DataFrame.  ``model`` is a family name (a :class:`TrainResult` comes back) or a list
    of them (a :class:`Leaderboard`); ``params`` holds that family's parameters, or with a
    list, a dict per family name.  ``task`` is auto, binary, multiclass or regression.
    ``features`` defaults to every other column.  ``split`` is the test fraction (seeded,
    stratified for classes) or the name of a column holding "train"/"test".  ``cv=k`` adds
    k-fold scores on the training rows.  ``epochs`` sets torch families' budget.

    ``callbacks`` receive :class:`ProgressEvent` values; ``stop_event``, once set, ends a
    torch fit after its current epoch and skips the remaining folds and models (the
    models done are returned).  ``record(src, dst, kind)`` is called with a
    ``trained_on`` lineage edge per model when the dataset came by reference.
    """
    progress = Progress(callbacks)
    with _failures_reported(progress):
        chosen = _choose(model, params, epochs)
        _check_run(seed, cv, device, any(f.kind == "torch" for f, _ in chosen))
        frame, source = load_frame(datasets, dataset)
        data = prepare(frame, source, target, task=task, features=features, split=split, seed=seed)
        for family, _ in chosen:
            family.check_task(data.task)
        run = RunSettings(seed, device, cv, progress, stop_event)
        described = f"{source['ref'] or 'DataFrame'} -> {target} ({data.task})"
        progress.emit("run_started", total=len(chosen), message=described)
        results = _fit_all(chosen, data, run, record)
        return _finish(results, len(chosen), as_list=not isinstance(model, str), progress=progress)


@contextlib.contextmanager
def _failures_reported(progress: Progress) -> Iterator[None]:
    try:
        yield
    except BaseException as exc:  # interrupts too: a view must not wait for "finished"
        progress.emit("failed", message=f"{type(exc).__name__}: {exc}")
        raise


def _fit_all(
    chosen: list[tuple[Family, dict[str, Any]]],
    data: Prepared,
    run: RunSettings,
    record: Recorder | None,
) -> list[TrainResult]:
    """Fit the families in turn; a stop request is honoured between them."""
    results: list[TrainResult] = []
    ref = data.source["ref"]
    for index, (family, checked) in enumerate(chosen, 1):
        result = fit_family(family, checked, data, run)
        results.append(result)
        run.progress.emit(
            "model_done", model=family.name, step=index, total=len(chosen), metrics=result.metrics
        )
        if record is not None and ref:
            record(f"dataset:{ref}", result.node, "trained_on")
        if run.stopping():
            break
    return results


def _finish(
    results: list[TrainResult], wanted: int, *, as_list: bool, progress: Progress
) -> TrainResult | Leaderboard:
    skipped = len(results) < wanted
    outcome = Leaderboard(results, stopped=skipped) if as_list else results[0]
    best = outcome.best if isinstance(outcome, Leaderboard) else outcome
    stopped = skipped or any(r.stopped for r in results)
    message = "stopped by request" if stopped else ""
    progress.emit("finished", model=best.family, metrics=best.metrics, message=message)
    return outcome
