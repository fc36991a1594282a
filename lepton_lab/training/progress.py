"""Progress events: what a training run tells its views while it runs.

A run sends :class:`ProgressEvent` values to plain callables (``callbacks=`` of
:func:`~lepton_lab.training.train`).  The kinds, in the order a run sends them::

    run_started                      once; total = number of models
      step*                          torch: one per batch (step/total within the epoch);
                                     sklearn: one per cross-validation fold
      epoch_end*                     torch only: epoch/total, loss, metrics={"val_loss": ...}
      model_done                     once per model; step/total = model index/count, metrics
    finished | failed                once; finished.metrics = the best model's metrics

Views must stay cheap: wrap one in :class:`Throttle`, which forwards at most a few
``step`` events a second but every other kind (and the last step before it), so that a
progress bar costs almost nothing even at thousands of batches a second.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["EVENT_KINDS", "Callback", "EventKind", "Progress", "ProgressEvent", "Throttle"]

log = logging.getLogger(__name__)

EventKind = Literal["run_started", "step", "epoch_end", "model_done", "finished", "failed"]
EVENT_KINDS: tuple[EventKind, ...] = (
    "run_started",
    "step",
    "epoch_end",
    "model_done",
    "finished",
    "failed",
)


@dataclass(frozen=True)
class ProgressEvent:
    """One thing that happened in a training run (plain values, safe to send as JSON)."""

    kind: EventKind
    """run_started, step, epoch_end, model_done, finished or failed."""
    model: str | None = None
    """The model family the event is about (None for run-level events)."""
    epoch: int | None = None
    """1-based epoch (torch families), for step and epoch_end."""
    step: int | None = None
    """1-based position: batch within the epoch, fold, or model index for model_done."""
    total: int | None = None
    """What ``step`` (or ``epoch`` for epoch_end, models for run_started) counts up to."""
    loss: float | None = None
    """Mean training loss of the epoch (epoch_end only: reading it per batch would stall a GPU)."""
    metrics: dict[str, float | None] = field(default_factory=dict)
    """epoch_end: validation loss; model_done: test metrics; finished: the best model's."""
    message: str = ""
    """Human-readable detail: the dataset, the error, "stopped by request"…"""
    time: float = 0.0
    """Wall-clock time (``time.time()``) when the event was made."""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


Callback = Callable[[ProgressEvent], None]


class Progress:
    """Sends events to the run's callbacks; costs nothing when there are none.

    A callback that raises is logged and skipped: a broken view must not end a long run.
    """

    def __init__(self, callbacks: Sequence[Callback] = (), *, model: str | None = None) -> None:
        self._callbacks = tuple(callbacks)
        self._model = model

    @property
    def active(self) -> bool:
        """Whether anyone listens (callers skip building per-batch events otherwise)."""
        return bool(self._callbacks)

    def bind(self, model: str) -> Progress:
        """The same callbacks, with ``model`` filled in on every event."""
        return Progress(self._callbacks, model=model)

    def emit(self, kind: EventKind, **fields: Any) -> None:
        """Make an event and hand it to every callback."""
        if not self._callbacks:
            return
        fields.setdefault("model", self._model)
        event = ProgressEvent(kind, time=time.time(), **fields)
        for callback in self._callbacks:
            try:
                callback(event)
            except Exception:
                log.exception("progress callback %r failed on a %s event", callback, kind)


class Throttle:
    """Wraps a view so that it sees at most ``per_second`` step events a second.

    Every non-step event is forwarded at once, preceded by the latest step event that was
    held back, so the view always ends on the true last step of an epoch.
    """

    def __init__(
        self,
        view: Callback,
        per_second: float = 4.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_second <= 0:
            raise ValueError(f"per_second must be above 0, not {per_second!r}")
        self.view = view
        self.interval = 1.0 / per_second
        self._clock = clock
        self._last: float | None = None
        self._pending: ProgressEvent | None = None

    def __call__(self, event: ProgressEvent) -> None:
        """Forward, hold back or drop ``event``."""
        if event.kind != "step":
            self.flush()
            self.view(event)
            return
        now = self._clock()
        if self._last is None or now - self._last >= self.interval:
            self._last, self._pending = now, None
            self.view(event)
        else:
            self._pending = event

    def flush(self) -> None:
        """Forward the step event held back, if any."""
        pending, self._pending = self._pending, None
        if pending is not None:
            self._last = self._clock()
            self.view(pending)
