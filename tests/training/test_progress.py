"""Progress events: their order, throttled views, broken views, and stopping a run."""

from __future__ import annotations

import json
import threading

import pandas as pd
import pytest

from lepton_lab.errors import InvalidInput
from lepton_lab.training import Leaderboard, ProgressEvent, Throttle, TrainResult, train

TINY_MLP = {"epochs": 2, "hidden_units": 16, "batch_size": 32, "patience": 0}


def _kinds(events: list[ProgressEvent]) -> list[str]:
    """Event kinds with runs of steps collapsed to one 'step*'."""
    kinds: list[str] = []
    for event in events:
        kind = "step*" if event.kind == "step" else event.kind
        if not (kinds and kinds[-1] == kind == "step*"):
            kinds.append(kind)
    return kinds


def test_events_in_order(iris: pd.DataFrame) -> None:
    events: list[ProgressEvent] = []
    train(
        None, iris, "species", model=["knn", "mlp"], params={"mlp": TINY_MLP},
        callbacks=[events.append],
    )  # fmt: skip
    assert _kinds(events) == [
        "run_started",
        "model_done",
        "step*",
        "epoch_end",
        "step*",
        "epoch_end",
        "model_done",
        "finished",
    ]
    started, *_, finished = events
    assert started.total == 2 and "DataFrame -> species (multiclass)" in started.message
    steps = [e for e in events if e.kind == "step"]
    assert {(e.model, e.total) for e in steps} == {("mlp", 4)}  # 120 rows - 12 held out, by 32
    assert [e.step for e in steps] == [1, 2, 3, 4, 1, 2, 3, 4]
    epochs = [e for e in events if e.kind == "epoch_end"]
    assert [(e.epoch, e.total) for e in epochs] == [(1, 2), (2, 2)]
    assert all(e.loss is not None and e.loss > 0 for e in epochs)
    done = [e for e in events if e.kind == "model_done"]
    assert [(e.model, e.step, e.total) for e in done] == [("knn", 1, 2), ("mlp", 2, 2)]
    assert finished.metrics and finished.message == ""
    json.dumps([e.to_dict() for e in events])  # events travel as JSON to the widget


def test_folds_are_steps(breast_cancer: pd.DataFrame) -> None:
    events: list[ProgressEvent] = []
    train(None, breast_cancer, "target", model="knn", cv=3, callbacks=[events.append])
    steps = [(e.step, e.total, e.message) for e in events if e.kind == "step"]
    assert steps == [
        (1, 3, "cross-validation"),
        (2, 3, "cross-validation"),
        (3, 3, "cross-validation"),
    ]


def test_failures_are_events_too(iris: pd.DataFrame) -> None:
    events: list[ProgressEvent] = []
    with pytest.raises(InvalidInput):
        train(None, iris, "species", model="knn", params={"k": 3}, callbacks=[events.append])
    (failed,) = events
    assert failed.kind == "failed" and "unknown parameter 'k'" in failed.message


def test_a_broken_view_does_not_end_the_run(
    iris: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: ProgressEvent) -> None:
        raise RuntimeError("widget closed")

    result = train(None, iris, "species", model="knn", callbacks=[broken])
    assert isinstance(result, TrainResult)
    assert "progress callback" in caplog.text


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_throttle_forwards_a_few_steps_a_second_and_every_other_event() -> None:
    clock, seen = FakeClock(), []
    view = Throttle(seen.append, per_second=4, clock=clock)
    view(ProgressEvent("run_started"))
    for step in range(1, 17):  # 8 steps a second for two seconds
        clock.now = step * 0.125
        view(ProgressEvent("step", epoch=1, step=step, total=16))
    view(ProgressEvent("epoch_end", epoch=1))
    forwarded = [(e.kind, e.step) for e in seen]
    assert forwarded[0] == ("run_started", None)
    assert [s for k, s in forwarded if k == "step"] == [1, 3, 5, 7, 9, 11, 13, 15, 16]
    assert forwarded[-1] == ("epoch_end", None)


def test_throttle_flushes_the_last_step_before_other_events() -> None:
    clock, seen = FakeClock(), []
    view = Throttle(seen.append, per_second=2, clock=clock)
    view(ProgressEvent("step", step=1))
    clock.now = 0.1
    view(ProgressEvent("step", step=2))  # held back
    view(ProgressEvent("finished"))
    assert [(e.kind, e.step) for e in seen] == [("step", 1), ("step", 2), ("finished", None)]
    with pytest.raises(ValueError, match="per_second"):
        Throttle(seen.append, per_second=0)


def test_stop_ends_a_torch_run_after_the_current_epoch(iris: pd.DataFrame) -> None:
    stop, events = threading.Event(), []

    def stop_after_first_epoch(event: ProgressEvent) -> None:
        events.append(event)
        if event.kind == "epoch_end":
            stop.set()

    params = TINY_MLP | {"epochs": 50}
    result = train(
        None, iris, "species", model="mlp", params=params, stop_event=stop,
        callbacks=[stop_after_first_epoch],
    )  # fmt: skip
    assert isinstance(result, TrainResult)
    assert len(result.history) == 1 and result.stopped
    assert events[-1].kind == "finished" and events[-1].message == "stopped by request"
    assert result.metrics["accuracy"] is not None  # a usable model, one epoch in


def test_stop_skips_the_remaining_models(breast_cancer: pd.DataFrame) -> None:
    stop = threading.Event()

    def stop_after_first_model(event: ProgressEvent) -> None:
        if event.kind == "model_done":
            stop.set()

    board = train(
        None, breast_cancer, "target", model=["knn", "logistic_regression", "random_forest"],
        stop_event=stop, callbacks=[stop_after_first_model],
    )  # fmt: skip
    assert isinstance(board, Leaderboard)
    assert [r.family for r in board] == ["knn"] and board.stopped


def test_stop_skips_the_remaining_folds(breast_cancer: pd.DataFrame) -> None:
    stop = threading.Event()

    def stop_after_first_fold(event: ProgressEvent) -> None:
        if event.kind == "step":
            stop.set()

    result = train(
        None, breast_cancer, "target", model="knn", cv=5, stop_event=stop,
        callbacks=[stop_after_first_fold],
    )  # fmt: skip
    assert isinstance(result, TrainResult)
    assert result.cv is not None and len(result.cv["folds"]) == 1 and result.stopped
