"""Training benchmark: ``train`` beside the same models fitted with plain scikit-learn and
a plain PyTorch loop, in the same run; and what a progress view costs a torch run.

ARCHITECTURE.md section 8 asks that training through Lepton Lab stay within 5% of the
same model trained without it.  Two tables (ratios for a reader; nothing passes or fails):

1. **Overhead.**  Each model family on scikit-learn's bundled data sets (breast_cancer,
   digits, wine, diabetes; nothing is downloaded), same rows, hyper-parameters and seed:

   * scikit-learn families: ``make_pipeline(SimpleImputer(median), StandardScaler(),
     estimator)``, every hyper-parameter written out, beside ``train(None, frame,
     "target", model=...)``; Lepton's preprocessing does the same to numeric columns.
   * ``mlp`` and ``cnn``: the PyTorch loop written below (the family's default layers,
     AdamW, learning rate and batch size, the same epochs) on the same scaled rows.
     Early stopping is off on both sides (``patience=0``), so both run every epoch.

   "plain s" times taking the training rows out of the frame, building and fitting;
   "Lepton fit" is ``result.timings["fit"]``, the same work; "Lepton whole" is the whole
   ``train`` call, which also checks and splits the data, scores the test rows and draws
   the curves.  Overhead: the median over rounds of (Lepton / plain - 1), each round
   timing both sides back to back, in alternating order.  "same predictions" compares
   both models on the test rows: each pair is the very same model, not a similar one.

2. **Progress views.**  The ``mlp`` on digits through ``train`` with no callbacks, a
   ``Throttle``d no-op view, a view formatting a status line from every event, that view
   throttled, and, once ``lepton_lab.widgets.train`` exists, the train widget's live view
   (throttled as the widget wires it, and unthrottled).  A view costs microseconds per
   event, far below the noise of whole runs on a shared machine, so the events of one run
   are also replayed through each view alone (``Progress.emit``, best of several).

Threads: both sides run with the same thread count, by default the CPUs this process may
use less one (what Lepton's torch loop picks, see docs/training.md): an OpenMP team
spanning every CPU of a busy machine swings by whole multiples from run to run, which
would bury a 5% difference.  ``--threads`` changes it.

Usage::

    .venv/bin/python bench/training.py [--quick] [--rounds R] [--threads N]

``--quick`` (the test suite runs it) takes fewer trees, epochs, data sets and rounds, and
finishes in under 40 seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from common import machine_header, print_table, spread
from sklearn.base import BaseEstimator
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits
from torch import nn

from lepton_lab.training import ProgressEvent, Throttle, TrainResult, get_family, train
from lepton_lab.training.progress import Progress

PACKAGES = ("lepton-lab", "scikit-learn", "torch", "numpy", "pandas")
TARGET = "target"
SEED = 0
TEST_FRACTION = 0.2
REPLAYS = 20
"""Replays of one run's events through each view; the fastest counts."""
LOADERS = {
    "breast_cancer": load_breast_cancer,
    "digits": load_digits,
    "wine": load_wine,
    "diabetes": load_diabetes,
}
REGRESSION = frozenset({"diabetes"})
# The torch families' defaults, written out for the plain loop; checked against the
# registry at start-up, so that a changed default cannot make the pairs differ silently.
MLP: dict[str, Any] = {
    "hidden_units": 128,
    "layers": 2,
    "dropout": 0.1,
    "batch_size": 128,
    "lr": 1e-3,
}
CNN: dict[str, Any] = {"channels": 16, "dropout": 0.25, "batch_size": 64, "lr": 1e-3}


class BenchError(RuntimeError):
    """The two sides did not do the same thing: the figures would be meaningless."""


@dataclass(frozen=True)
class Profile:
    """How much work one run does; ``--quick`` picks the small one."""

    name: str
    rounds: int
    cases: tuple[tuple[str, str], ...]
    """(family, data set) pairs of the overhead table."""
    params: dict[str, dict[str, Any]]
    """Lepton parameters per family (the plain side is built from the same values)."""
    view_epochs: int
    """Epochs of the mlp on digits in the progress view table."""


_SKLEARN = ("hist_gradient_boosting", "random_forest", "logistic_regression")
_CLASSIFIERS_ONLY = frozenset({"logistic_regression"})
FULL = Profile(
    "full",
    rounds=7,
    cases=(
        *(
            (family, data)
            for family in _SKLEARN
            for data in LOADERS
            if not (family in _CLASSIFIERS_ONLY and data in REGRESSION)
        ),
        *(("mlp", data) for data in LOADERS),
        ("cnn", "digits"),
    ),
    params={
        "hist_gradient_boosting": {"max_iter": 100},
        "random_forest": {"n_estimators": 100},
        "logistic_regression": {"max_iter": 1000},
        "mlp": {"epochs": 50, "patience": 0},
        "cnn": {"epochs": 15, "patience": 0},
    },
    view_epochs=30,
)
QUICK = Profile(
    "quick",
    rounds=2,
    cases=(
        *((family, "wine") for family in _SKLEARN),
        ("mlp", "breast_cancer"),
        ("cnn", "digits"),
    ),
    params={
        "hist_gradient_boosting": {"max_iter": 10},
        "random_forest": {"n_estimators": 10},
        "logistic_regression": {"max_iter": 1000},
        "mlp": {"epochs": 3, "patience": 0},
        "cnn": {"epochs": 1, "patience": 0},
    },
    view_epochs=2,
)


# -- the data -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Data:
    """One bundled data set and the rows ``train`` trains and tests on (same seed)."""

    name: str
    frame: pd.DataFrame
    train_rows: np.ndarray
    x_test: pd.DataFrame
    classes: bool

    @property
    def features(self) -> list[str]:
        """Every column but the target."""
        return [c for c in self.frame.columns if c != TARGET]

    def training(self) -> tuple[pd.DataFrame, pd.Series]:
        """(features, target) of the training rows: taken out anew, as ``train`` does."""
        rows = self.frame.iloc[self.train_rows]
        return rows[self.features], rows[TARGET]


def load(name: str) -> Data:
    """A bundled data set as a frame with a ``target`` column, split as ``train`` splits."""
    frame = LOADERS[name](as_frame=True).frame
    classes = name not in REGRESSION
    train_rows, test_rows = train_test_split(
        np.arange(len(frame)),
        test_size=TEST_FRACTION,
        random_state=SEED,
        stratify=frame[TARGET] if classes else None,
    )
    x_test = frame.drop(columns=TARGET).iloc[np.sort(test_rows)]
    return Data(name, frame, np.sort(train_rows), x_test, classes)


# -- the plain side -------------------------------------------------------------------------

Predict = Callable[[pd.DataFrame], np.ndarray]


def sklearn_estimator(family: str, params: dict[str, Any], classes: bool) -> BaseEstimator:
    """The scikit-learn estimator ``family`` builds, every hyper-parameter written out."""
    if family == "hist_gradient_boosting":
        boosting = HistGradientBoostingClassifier if classes else HistGradientBoostingRegressor
        return boosting(
            learning_rate=0.1,
            max_iter=params["max_iter"],
            max_leaf_nodes=31,
            max_depth=None,
            l2_regularization=0.0,
            early_stopping="auto",
            random_state=SEED,
        )
    if family == "random_forest":
        forest = RandomForestClassifier if classes else RandomForestRegressor
        return forest(
            n_estimators=params["n_estimators"],
            max_depth=None,
            min_samples_leaf=1,
            max_features="sqrt" if classes else 1.0,
            random_state=SEED,
        )
    if family == "logistic_regression":
        return LogisticRegression(C=1.0, max_iter=params["max_iter"], random_state=SEED)
    raise BenchError(f"no plain scikit-learn twin for {family!r}")


def scaler() -> Pipeline:
    """The plain preprocessing: what Lepton does to numeric columns."""
    return make_pipeline(SimpleImputer(strategy="median"), StandardScaler())


def plain_sklearn(family: str, params: dict[str, Any], data: Data) -> tuple[float, Predict]:
    """(seconds, predict) of the plain pipeline fitted on the training rows."""
    started = time.perf_counter()
    x, y = data.training()
    model = make_pipeline(scaler(), sklearn_estimator(family, params, data.classes))
    model.fit(x, y)
    return time.perf_counter() - started, model.predict


def network(family: str, n_in: int, n_out: int) -> nn.Sequential:
    """The family's default network, as plain ``nn.Sequential`` layers."""
    if family == "mlp":
        layers: list[nn.Module] = []
        width, hidden = n_in, MLP["hidden_units"]
        for _ in range(MLP["layers"]):
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(MLP["dropout"])]
            width = hidden
        return nn.Sequential(*layers, nn.Linear(width, n_out))
    side, c = int(n_in**0.5), CNN["channels"]
    return nn.Sequential(
        nn.Unflatten(1, (1, side, side)),
        nn.Conv2d(1, c, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(c, 2 * c, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(CNN["dropout"]),
        nn.Linear(2 * c * (side // 2) ** 2, 64),
        nn.ReLU(),
        nn.Linear(64, n_out),
    )


def fit_loop(
    net: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: nn.Module,
    *,
    epochs: int,
    batch: int,
    lr: float,
) -> list[float]:
    """A plain training loop: AdamW, shuffled mini-batches; the mean loss of each epoch."""
    generator = torch.Generator().manual_seed(SEED)
    # Lepton's loop shuffles the rows once when it sets validation rows aside (none here):
    # the same draw keeps both sides on the very same batches, hence the same model.
    order = torch.randperm(len(x), generator=generator)
    x, y = x[order], y[order]
    optimizer = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
    losses = []
    for _ in range(epochs):
        net.train()
        total = torch.zeros(())
        shuffled = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch):
            index = shuffled[start : start + batch]
            loss = loss_fn(net(x[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(index)
        losses.append(float(total) / len(x))
    return losses


def torch_target(y: pd.Series, classes: bool) -> tuple[torch.Tensor, nn.Module, Any]:
    """(target tensor, loss, decode): class codes and cross-entropy, or the standardised
    number and squared error; ``decode`` turns network outputs back into predictions."""
    values = np.asarray(y)
    if classes:
        labels, codes = np.unique(values, return_inverse=True)
        target = torch.from_numpy(codes.astype(np.int64))
        return target, nn.CrossEntropyLoss(), lambda out: labels[out.argmax(axis=1)]
    mean, scale = float(values.mean()), float(values.std()) or 1.0
    target = torch.from_numpy(((values - mean) / scale).astype(np.float32)[:, None])
    return target, nn.MSELoss(), lambda out: out[:, 0] * scale + mean


def plain_torch(family: str, params: dict[str, Any], data: Data) -> tuple[float, Predict]:
    """(seconds, predict) of the plain loop: rows, scaling, tensors, network, every epoch."""
    started = time.perf_counter()
    x_train, y_train = data.training()
    prep = scaler()
    x = torch.from_numpy(np.ascontiguousarray(prep.fit_transform(x_train), np.float32))
    target, loss_fn, decode = torch_target(y_train, data.classes)
    torch.manual_seed(SEED)
    n_out = len(np.unique(y_train)) if data.classes else 1
    net = network(family, x.shape[1], n_out)
    defaults = MLP if family == "mlp" else CNN
    batch = min(int(defaults["batch_size"]), len(x))
    fit_loop(net, x, target, loss_fn, epochs=params["epochs"], batch=batch, lr=defaults["lr"])
    seconds = time.perf_counter() - started

    def predict(rows: pd.DataFrame) -> np.ndarray:
        net.eval()
        with torch.no_grad():
            out = net(torch.from_numpy(np.asarray(prep.transform(rows), np.float32)))
        return np.asarray(decode(out.numpy()))

    return seconds, predict


def plain(family: str, params: dict[str, Any], data: Data) -> tuple[float, Predict]:
    """The plain twin of ``train(..., model=family)``."""
    twin = plain_torch if family in ("mlp", "cnn") else plain_sklearn
    return twin(family, params, data)


def check_defaults() -> None:
    """The plain loop's constants are still the torch families' defaults."""
    for name, written in (("mlp", MLP), ("cnn", CNN)):
        defaults = get_family(name).validate({})
        stale = {k: (v, defaults[k]) for k, v in written.items() if defaults[k] != v}
        if stale:
            raise BenchError(f"{name} defaults changed (bench value, family value): {stale}")


# -- the Lepton side ------------------------------------------------------------------------


def lepton(
    family: str, params: dict[str, Any], data: Data, callbacks: Sequence[View] = ()
) -> tuple[float, TrainResult]:
    """(seconds of the whole call, result) of ``train`` on the data set's frame."""
    started = time.perf_counter()
    result = train(
        None,
        data.frame,
        TARGET,
        model=family,
        params=params,
        seed=SEED,
        split=TEST_FRACTION,
        device="cpu",
        callbacks=callbacks,
    )
    seconds = time.perf_counter() - started
    if not isinstance(result, TrainResult):
        raise BenchError(f"train returned a {type(result).__name__}, not a TrainResult")
    if (result.task == "regression") == data.classes:
        raise BenchError(f"{data.name}: Lepton inferred {result.task}, the plain side did not")
    return seconds, result


def agreement(expected: np.ndarray, got: np.ndarray, classes: bool) -> str:
    """Whether two models' test predictions agree: ``yes``, or how far they differ."""
    if classes:
        same = float(np.mean(expected == got))
        return "yes" if same == 1.0 else f"no ({same:.0%} equal)"
    if np.allclose(expected, got, rtol=1e-4, atol=1e-6):
        return "yes"
    return f"no (max gap {float(np.max(np.abs(expected - got))):.3g})"


# -- table 1: overhead ----------------------------------------------------------------------


@dataclass
class Pair:
    """One (family, data set) row: seconds per round on each side."""

    family: str
    data: str
    plain: list[float] = dataclasses.field(default_factory=list)
    fit: list[float] = dataclasses.field(default_factory=list)
    whole: list[float] = dataclasses.field(default_factory=list)
    same: str = "-"
    threads: int | None = None

    def overhead(self, side: list[float]) -> float:
        """Median over rounds of (Lepton / plain - 1), as a percentage."""
        return statistics.median(s / p - 1 for s, p in zip(side, self.plain, strict=True)) * 100

    def extra_ms(self) -> float:
        """Median over rounds of Lepton's fit less the plain fit, in milliseconds."""
        return statistics.median(f - p for f, p in zip(self.fit, self.plain, strict=True)) * 1e3


def time_pair(pair: Pair, params: dict[str, Any], data: Data, lepton_first: bool) -> None:
    """One round of one pair: both sides back to back, in the order given."""
    if lepton_first:
        gc.collect()
        whole, result = lepton(pair.family, params, data)
    gc.collect()
    plain_s, predict = plain(pair.family, params, data)
    if not lepton_first:
        gc.collect()
        whole, result = lepton(pair.family, params, data)
    pair.plain.append(plain_s)
    pair.fit.append(result.timings["fit"])
    pair.whole.append(whole)
    if pair.same == "-":
        pair.same = agreement(predict(data.x_test), result.predict(data.x_test), data.classes)
        pair.threads = result.spec.get("threads")


def run_overhead(profile: Profile, datasets: dict[str, Data]) -> list[Pair]:
    """Warm every family up once, then every pair once per round."""
    first: dict[str, str] = {}
    for family, data in profile.cases:
        first.setdefault(family, data)
    for family, data in first.items():
        lepton(family, profile.params[family], datasets[data])
        plain(family, profile.params[family], datasets[data])
    pairs = [Pair(family, data) for family, data in profile.cases]
    for round_no in range(profile.rounds):
        for pair in pairs:
            time_pair(pair, profile.params[pair.family], datasets[pair.data], round_no % 2 == 1)
    return pairs


def overhead_rows(pairs: list[Pair]) -> list[list[str]]:
    """The overhead table's cells."""
    return [
        [
            p.family,
            p.data,
            f"{statistics.median(p.plain):.3f}",
            f"{statistics.median(p.fit):.3f}",
            f"{statistics.median(p.whole):.3f}",
            f"{p.overhead(p.fit):+.1f}%",
            f"{p.overhead(p.whole):+.1f}%",
            f"{p.extra_ms():+.1f}",
            spread([f / q for f, q in zip(p.fit, p.plain, strict=True)]),
            p.same,
        ]
        for p in pairs
    ]


OVERHEAD_HEADERS = [
    "model",
    "dataset",
    "plain s",
    "Lepton fit s",
    "Lepton whole s",
    "overhead % (fit)",
    "overhead % (whole)",
    "fit - plain ms",
    "fit/plain spread",
    "same predictions",
]


# -- table 2: progress views ----------------------------------------------------------------

View = Callable[[ProgressEvent], None]


class Count:
    """A no-op view: it only counts the events it is handed."""

    def __init__(self) -> None:
        self.seen = 0

    def __call__(self, event: ProgressEvent) -> None:
        """Count ``event``."""
        self.seen += 1


class StatusLine(Count):
    """A view doing real work per event: the event as a dict and a formatted status line."""

    def __init__(self) -> None:
        super().__init__()
        self.line = ""
        self.losses: list[float] = []

    def __call__(self, event: ProgressEvent) -> None:
        """Format ``event`` into the line a progress bar would show."""
        self.seen += 1
        fields = event.to_dict()
        loss = fields["loss"] if fields["loss"] is not None else float("nan")
        self.line = (
            f"{fields['model']} epoch {fields['epoch']}/{fields['total']} "
            f"step {fields['step']} loss {loss:.4f} {fields['kind']}"
        )
        if event.kind == "epoch_end" and event.loss is not None:
            self.losses.append(event.loss)


class Recorder(Count):
    """Keeps every event, to replay them through the views without training."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[ProgressEvent] = []

    def __call__(self, event: ProgressEvent) -> None:
        """Keep ``event``."""
        self.seen += 1
        self.events.append(event)


@dataclass
class ViewRow:
    """One view: whole-run seconds per round, events delivered, replayed cost per event."""

    label: str
    make: Callable[[], View | None]
    seconds: list[float] = dataclasses.field(default_factory=list)
    delivered: str = "0"
    replay_us: float | None = None


def widget_rows(epochs: int) -> tuple[list[ViewRow], str]:
    """The train widget's progress view, wired as ``TrainWidget`` wires it, when it exists."""
    if importlib.util.find_spec("lepton_lab.widgets.train") is None:
        return [], "train widget not measured: lepton_lab.widgets.train does not exist yet"
    try:
        from lepton_lab.widgets.live import LiveView
    except ImportError as exc:
        return [], f"train widget not measured: {exc}"

    def live() -> LiveView:
        view = LiveView()
        view.reset(("mlp",), {"mlp": epochs})
        return view

    try:  # the widget is young: a changed interface must not end the benchmark
        live()(ProgressEvent("run_started", total=1, message="probe"))
    except Exception as exc:
        return [], f"train widget not measured: LiveView failed: {type(exc).__name__}: {exc}"
    rows = [
        ViewRow("TrainWidget LiveView, Throttle 4/s", lambda: Throttle(live(), per_second=4)),
        ViewRow("TrainWidget LiveView, every event", live),
    ]
    return rows, (
        "TrainWidget's LiveView (bar, label, SVG loss curve), driven headless:\n"
        "  ipywidgets builds every update message, but no kernel sends it"
    )


def view_rows(epochs: int) -> tuple[list[ViewRow], str]:
    """The views to time, and a note on the train widget."""
    rows = [
        ViewRow("no callbacks", lambda: None),
        ViewRow("Throttle(no-op)", lambda: Throttle(Count())),
        ViewRow("status line, every event", StatusLine),
        ViewRow("Throttle(status line)", lambda: Throttle(StatusLine())),
    ]
    widgets, note = widget_rows(epochs)
    return rows + widgets, note


def delivered(view: View | None) -> str:
    """How many events reached the innermost view (``-`` when it does not count them)."""
    if view is None:
        return "0"
    inner = view.view if isinstance(view, Throttle) else view
    return f"{inner.seen:,}" if isinstance(inner, Count) else "-"


def replay_us(make: Callable[[], View | None], events: list[ProgressEvent]) -> float | None:
    """Microseconds per event of emitting ``events`` to a fresh view (best of REPLAYS):
    what ``Progress.emit`` (building the event) and the view cost, without training."""
    if make() is None:
        return None
    skip = ("kind", "time")
    calls = [(e.kind, {k: v for k, v in e.to_dict().items() if k not in skip}) for e in events]
    best = float("inf")
    for _ in range(REPLAYS):
        view = make()
        progress = Progress([view] if view is not None else [])
        started = time.perf_counter()
        for kind, fields in calls:
            progress.emit(kind, **fields)
        best = min(best, time.perf_counter() - started)
    return best / len(calls) * 1e6


def run_views(profile: Profile, digits: Data) -> tuple[list[ViewRow], int, str]:
    """The mlp on digits once per view per round (the order rotating each round), then
    every view's cost per event, replayed; also the events one run emits."""
    rows, note = view_rows(profile.view_epochs)
    params = {"epochs": profile.view_epochs, "patience": 0}
    recorder = Recorder()
    lepton("mlp", params, digits, [recorder])  # warm-up, and the events to replay
    for round_no in range(profile.rounds):
        shift = round_no % len(rows)
        for row in rows[shift:] + rows[:shift]:
            view = row.make()
            gc.collect()
            seconds, _ = lepton("mlp", params, digits, [view] if view is not None else [])
            row.seconds.append(seconds)
            row.delivered = delivered(view)
    for row in rows:
        row.replay_us = replay_us(row.make, recorder.events)
    return rows, len(recorder.events), note


def views_table(rows: list[ViewRow], emitted: int) -> list[list[str]]:
    """The progress table's cells; overhead against the same round's run without views."""
    base = rows[0].seconds
    cells = []
    for row in rows:
        ratios = [s / b - 1 for s, b in zip(row.seconds, base, strict=True)]
        share = (row.replay_us or 0) * emitted / 1e6 / statistics.median(base)
        cells.append(
            [
                row.label,
                f"{statistics.median(row.seconds):.3f}",
                f"{statistics.median(ratios) * 100:+.1f}%",
                row.delivered,
                f"{row.replay_us:.1f}" if row.replay_us is not None else "0",
                f"{share * 100:.2f}%",
                spread(row.seconds),
            ]
        )
    return cells


VIEW_HEADERS = [
    "view",
    "seconds",
    "overhead %",
    "events delivered",
    "us/event (replay)",
    "replay cost % of run",
    "spread",
]


# -- the run --------------------------------------------------------------------------------


def report(
    profile: Profile,
    pairs: list[Pair],
    views: tuple[list[ViewRow], int, str],
    digits: Data,
    threads: int,
) -> None:
    """Both tables and the notes a reader needs to trust them."""
    print_table(
        "1. Training overhead: Lepton's train() beside plain scikit-learn / PyTorch "
        f"(median of {profile.rounds} rounds)",
        OVERHEAD_HEADERS,
        overhead_rows(pairs),
    )
    lepton_threads = sorted({p.threads for p in pairs if p.threads is not None})
    print(
        f"\n  Threads: {threads} (OpenMP, BLAS and plain torch); Lepton's torch loop chose "
        f"{', '.join(map(str, lepton_threads)) or '-'} (its spec)."
    )
    print("  plain s: rows taken out of the frame, pipeline or loop built and fitted; Lepton")
    print("  fit: result.timings['fit'], the same work; whole: the whole train() call, which")
    print("  also checks and splits the data, scores the test rows and draws the curves.")
    for family, values in profile.params.items():
        print(f"  {family}: {values}, other hyper-parameters at the family defaults.")
    over = [
        f"{p.family}/{p.data} {p.overhead(p.fit):+.1f}%" for p in pairs if p.overhead(p.fit) > 5
    ]
    print(f"  Fit overhead above 5%: {', '.join(over) or 'none'}.")
    rows, emitted, note = views
    steps = -(-len(digits.train_rows) // int(MLP["batch_size"])) * profile.view_epochs
    print_table(
        f"2. Progress view cost: mlp on digits, {profile.view_epochs} epochs, {steps:,} "
        f"batches, {emitted:,} events (median of {profile.rounds} rounds)",
        VIEW_HEADERS,
        views_table(rows, emitted),
    )
    print("\n  overhead %: the median over rounds of (seconds / the same round's seconds with")
    print("  no callbacks - 1), whole train() calls.  us/event: the run's events replayed")
    print(f"  through Progress.emit to the view alone, best of {REPLAYS}; replay cost % of run:")
    print("  us/event x events / the run's seconds without callbacks.  Throttle: 4 steps/s.")
    print(f"  {note}.")


def parse_args(argv: Sequence[str] | None) -> tuple[Profile, int]:
    """The command line, as the profile to run and the thread count."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small models, 2 rounds (< 40 s)")
    parser.add_argument("--rounds", type=int, help="rounds per row (default: 7, quick: 2)")
    parser.add_argument("--threads", type=int, help="threads on both sides (default: CPUs - 1)")
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else FULL
    if args.rounds is not None:
        if args.rounds < 1:
            parser.error("--rounds must be at least 1")
        profile = dataclasses.replace(profile, rounds=args.rounds)
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be at least 1")
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return profile, args.threads or max(1, (usable or 1) - 1)


def main(argv: Sequence[str] | None = None) -> int:
    """Load the data, time both tables, print them."""
    profile, threads = parse_args(argv)
    print(machine_header("bench/training.py", profile.name, PACKAGES), flush=True)
    try:
        check_defaults()
        names = {data for _, data in profile.cases} | {"digits"}
        datasets = {name: load(name) for name in sorted(names)}
        torch.set_num_threads(threads)
        with threadpool_limits(threads):
            pairs = run_overhead(profile, datasets)
            views = run_views(profile, datasets["digits"])
    except BenchError as exc:
        print(f"\nbench/training.py: {exc}", file=sys.stderr)
        return 1
    report(profile, pairs, views, datasets["digits"], threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
