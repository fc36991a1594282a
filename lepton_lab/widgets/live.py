"""What changes while the train widget runs: progress, the background thread, the static copy.

* :class:`LiveView` is the run's progress callback: a bar, a line of text and the loss
  curve, updated from the training thread (ipywidgets sends updates from any thread; the
  :class:`~lepton_lab.training.Throttle` in front of it keeps them to a few a second).
* :class:`BackgroundRun` runs one training call in a daemon thread with a stop event, and
  keeps what it returned or raised.
* :class:`ResultView` shows how it ended: metrics or leaderboard, plots, the model to
  register.
* :func:`run_arguments` checks the choices before a thread starts.
* :class:`StaticCopy` leaves an HTML summary and a PNG plot in the cell's output with
  display ids, so that a notebook executed headless (papermill, nbconvert) or read without
  the widget state still shows the result.
"""

from __future__ import annotations

import base64
import html
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from lepton_lab.errors import InvalidInput
from lepton_lab.training import Leaderboard, get_family
from lepton_lab.widgets.controls import ipython_shell
from lepton_lab.widgets.train_render import (
    figure_png,
    leaderboard_html,
    loss_svg,
    metrics_html,
    result_plots,
    summary_html,
)

if TYPE_CHECKING:
    from IPython.display import DisplayHandle

    from lepton_lab.training import ProgressEvent, TrainResult

__all__ = [
    "BackgroundRun",
    "LiveView",
    "ResultView",
    "StaticCopy",
    "done_message",
    "epoch_budgets",
    "run_arguments",
]

log = logging.getLogger(__name__)


def _esc(value: object) -> str:
    return html.escape(str(value))


class LiveView:
    """Progress of a run as it happens: ``bar``, ``label`` and ``curve`` (an inline SVG).

    ``losses`` holds ``(epoch, loss, val_loss)`` per torch model, for the curve.  The
    Throttle in front passes every epoch_end, which a small network on small data ends
    hundreds of times a second: the view records each but redraws at most ``per_second``
    times a second (the first at once), and always at the end of a model.
    """

    def __init__(self, per_second: float = 4.0) -> None:
        self.interval = 1.0 / per_second
        self.bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, description="progress")
        self.label = w.HTML()
        self.curve = w.HTML()
        self.widget = w.VBox([w.HBox([self.bar, self.label]), self.curve])
        self.losses: dict[str, list[tuple[int, float | None, float | None]]] = {}
        self._budgets: dict[str, int] = {}
        self._models, self._done = 1, 0
        self._drawn: dict[str, float] = {}  # when the bar and the curve were last redrawn
        self._loss_text = ""

    def reset(self, models: Sequence[str], budgets: Mapping[str, int]) -> None:
        """Start afresh for a run of ``models`` (``budgets``: epochs of the torch ones)."""
        self.losses, self._budgets = {}, dict(budgets)
        self._models, self._done = max(len(models), 1), 0
        self._drawn, self._loss_text = {}, ""
        self.bar.value, self.bar.bar_style = 0.0, ""
        self.label.value = "<small>loading the data…</small>"
        self.curve.value = ""

    def __call__(self, event: ProgressEvent) -> None:
        """Show one event (called in the training thread)."""
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler is not None:
            handler(event)

    def _due(self, part: str) -> bool:
        """Whether ``part`` (bar, curve) may be redrawn now; if so its clock restarts."""
        now = time.monotonic()
        if now - self._drawn.get(part, -self.interval) < self.interval:
            return False
        self._drawn[part] = now
        return True

    def _fraction(self, within_model: float) -> None:
        self.bar.value = min((self._done + within_model) / self._models, 1.0)

    def _say(self, text: str) -> None:
        self.label.value = f"<small>{text}</small>"

    def _on_run_started(self, event: ProgressEvent) -> None:
        self._models = max(event.total or 1, 1)
        self._say(f"training on {_esc(event.message)}")

    def _on_step(self, event: ProgressEvent) -> None:
        if not self._due("bar"):
            return
        step, total, model = event.step or 0, event.total or 1, _esc(event.model)
        if event.epoch is None:  # a cross-validation fold of a scikit-learn model
            self._fraction(step / total)
            self._say(f"{model} · cross-validation fold {step}/{total}")
            return
        budget = self._budgets.get(event.model or "", event.epoch)
        self._fraction((event.epoch - 1 + step / total) / max(budget, 1))
        self._say(f"{model} · epoch {event.epoch}/{budget} · batch {step}/{total}{self._loss_text}")

    def _on_epoch_end(self, event: ProgressEvent) -> None:
        model, epoch, budget = event.model or "", event.epoch or 0, event.total or 1
        val_loss = event.metrics.get("val_loss")
        points = self.losses.setdefault(model, [])
        points.append((epoch, event.loss, val_loss))
        loss = f" · loss {event.loss:.4g}" if event.loss is not None else ""
        self._loss_text = loss + (f" · validation {val_loss:.4g}" if val_loss is not None else "")
        if self._due("curve") or len(points) == 1:
            self.curve.value = loss_svg(self.losses)
        if self._due("bar"):
            self._fraction(epoch / max(budget, 1))
            self._say(f"{_esc(model)} · epoch {epoch}/{budget}{self._loss_text}")

    def _on_model_done(self, event: ProgressEvent) -> None:
        self._done = event.step or self._done + 1
        self._fraction(0.0)
        if event.model in self.losses:
            self.curve.value = loss_svg(self.losses)  # every epoch, those held back too
        self._say(f"{_esc(event.model)} done ({self._done}/{self._models})")

    def _on_finished(self, event: ProgressEvent) -> None:
        self.bar.value = 1.0
        self.bar.bar_style = "warning" if event.message else "success"
        self._say(f"finished{': ' + _esc(event.message) if event.message else ''}")

    def _on_failed(self, _event: ProgressEvent) -> None:
        self.bar.bar_style = "danger"
        self._say("failed")


class BackgroundRun:
    """One call of ``work(stop_event)`` in a daemon thread; ``outcome`` or ``error`` after.

    ``on_end(run)`` is called in the thread once the work returned or raised.  Daemon: a
    script that ends does not wait for a training nobody will read.
    """

    def __init__(
        self,
        work: Callable[[threading.Event], Any],
        on_end: Callable[[BackgroundRun], None],
    ) -> None:
        self.stop_event = threading.Event()
        self.outcome: Any = None
        self.error: Exception | None = None
        self._work, self._on_end = work, on_end
        self._thread = threading.Thread(target=self._main, name="lepton-lab-train", daemon=True)

    @property
    def alive(self) -> bool:
        """Whether the thread is still working."""
        return self._thread.is_alive()

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self) -> None:
        """Ask the work to stop (the training loop reads the event between epochs)."""
        self.stop_event.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the end; True when it came.  An interrupt (Ctrl-C, the kernel's
        Interrupt) stops the run like the Stop button, then waits for it to wind down."""
        try:
            self._thread.join(timeout)
        except KeyboardInterrupt:
            self.stop()
            self._thread.join()
        return not self._thread.is_alive()

    def _main(self) -> None:
        try:
            self.outcome = self._work(self.stop_event)
        except Exception as exc:  # handed to on_end: the widget shows it
            self.error = exc
        try:
            self._on_end(self)
        except Exception:  # pragma: no cover - a broken view must not kill silently
            log.exception("the end of a training run could not be shown")


class StaticCopy:
    """An HTML summary and a PNG plot in the notebook's output, updated through display ids.

    :meth:`show` adds the two outputs to the current cell (IPython only); :meth:`set`
    changes their content wherever they were shown.  An executed notebook keeps them as
    ordinary ``text/html`` and ``image/png`` outputs, readable without any widget state.
    """

    def __init__(self) -> None:
        self.html, self.text = "", ""
        self.png: bytes | None = None
        self._handles: tuple[DisplayHandle, DisplayHandle] | None = None

    @property
    def has_content(self) -> bool:
        """Whether there is a summary to show."""
        return bool(self.html)

    @property
    def shown(self) -> bool:
        """Whether the outputs were added to a cell."""
        return self._handles is not None

    def set(self, html: str, png: bytes | None = None, text: str = "") -> None:
        """New content (``text``: for plain-text readers), pushed to the outputs shown."""
        self.html, self.png, self.text = html, png, text
        self.push()

    def summarise(self, outcome: TrainResult | Leaderboard | None, error: str = "") -> None:
        """Set the content to a run's summary and the best model's plots, or its error."""
        if error or outcome is None:
            error = error or "the run gave no result"
            self.set(summary_html(None, error), text=error)
            return
        best = outcome.best if isinstance(outcome, Leaderboard) else outcome
        self.set(summary_html(outcome), figure_png(best.plot("auto")), done_message(outcome))

    def clear(self) -> None:
        """Empty the outputs (a live frontend shows the widget itself)."""
        if self.has_content or self.png is not None:
            self.set("")

    def show(self, placeholder: str = "") -> None:
        """Add the two outputs to the cell being run (nothing outside IPython).

        ``placeholder`` is the HTML shown until there is content (it is not kept: the run's
        thread may set the content at any moment).
        """
        if ipython_shell() is None:
            return
        from IPython.display import DisplayHandle

        if self._handles is None:
            self._handles = (DisplayHandle(), DisplayHandle())  # type: ignore[no-untyped-call]
        summary, plot = self._bundles(placeholder)
        self._handles[0].display(summary, raw=True)  # type: ignore[no-untyped-call]
        self._handles[1].display(plot, raw=True)  # type: ignore[no-untyped-call]

    def flush(self) -> None:
        """From the notebook's main thread, once a run ended: show the content in the cell
        being run when no output holds it yet, else send it again.  (A kernel tags output
        from a background thread with whichever cell runs then; nbclient keeps only those
        of the cell it waits on, so a headless run's summary is sent again from here.)"""
        if self.has_content and not self.shown:
            self.show()
        self.push()

    def push(self) -> None:
        """Send the content to the outputs shown (an update; safe from any thread)."""
        if self._handles is None or ipython_shell() is None:
            return
        summary, plot = self._bundles()
        self._handles[0].update(summary, raw=True)  # type: ignore[no-untyped-call]
        self._handles[1].update(plot, raw=True)  # type: ignore[no-untyped-call]

    def _bundles(self, placeholder: str = "") -> tuple[dict[str, str], dict[str, str]]:
        text = self.html or placeholder
        summary = {"text/html": text, "text/plain": self.text} if text else {"text/plain": ""}
        if self.png is None:
            return summary, {"text/plain": ""}
        image = base64.b64encode(self.png).decode("ascii")
        return summary, {"image/png": image, "text/plain": "<training plots>"}


def done_message(outcome: TrainResult | Leaderboard) -> str:
    """The status line after a run: the best model and its headline metric."""
    board = outcome if isinstance(outcome, Leaderboard) else None
    best = outcome.best if isinstance(outcome, Leaderboard) else outcome
    score = f"{best.headline} {best.score:.4g}" if best.score is not None else best.headline
    lead = f"best of {len(board)}: " if board is not None else ""
    stopped = best.stopped or (board is not None and board.stopped)
    return f"Done: {lead}{best.family}, {score}" + (" (stopped by request)" if stopped else "")


class ResultView:
    """The end of a run: the metrics table (a leaderboard when comparing), the plots of the
    best model as PNG images, and which model Register model hands to the gallery."""

    def __init__(self) -> None:
        self.metrics_pane = w.HTML()
        self.plots_box = w.HBox(layout=w.Layout(flex_flow="row wrap"))
        self.register_box = w.Dropdown(options=[], description="model")
        self.register_box.layout.display = "none"  # shown for leaderboards only
        self.register_button = w.Button(description="Register model", icon="archive")
        self.register_button.disabled = True
        self.plots: dict[str, bytes] = {}
        """The PNG bytes shown, by kind: confusion, roc, residuals, history."""

    def clear(self) -> None:
        """Nothing to show (a run starts)."""
        self.plots = {}
        self.metrics_pane.value = ""
        self.plots_box.children = ()
        self.register_box.options = []
        self.register_box.layout.display = "none"
        self.register_button.disabled = True

    def show(self, outcome: TrainResult | Leaderboard) -> None:
        """Draw a run's outcome (in the training thread: figures are made without pyplot)."""
        if isinstance(outcome, Leaderboard):
            best, results = outcome.best, list(outcome)
            self.metrics_pane.value = leaderboard_html(outcome)
            self.register_box.layout.display = ""
        else:
            best, results = outcome, [outcome]
            self.metrics_pane.value = metrics_html(outcome.metrics)
        self.plots = result_plots(best)
        self.plots_box.children = [w.Image(value=png, format="png") for png in self.plots.values()]
        self.register_box.options = [(r.family, r.family) for r in results]
        self.register_box.value = best.family
        self.register_button.disabled = False

    def chosen(self, outcome: TrainResult | Leaderboard) -> TrainResult:
        """The result Register model hands over: the one picked, the best by default."""
        if isinstance(outcome, Leaderboard):
            return outcome[self.register_box.value or 0]
        return outcome


def epoch_budgets(arguments: Mapping[str, Any]) -> dict[str, int]:
    """Epochs each torch family of a run's ``arguments`` runs at most (for the bar)."""
    model, params = arguments["model"], arguments["params"]
    per_family = {model: params} if isinstance(model, str) else params
    return {
        name: arguments["epochs"] or int(values["epochs"])
        for name, values in per_family.items()
        if "epochs" in values
    }


def run_arguments(
    dataset: str, target: str, models: Sequence[str], params: Mapping[str, Any], **settings: Any
) -> dict[str, Any]:
    """The keyword arguments of :func:`~lepton_lab.training.train` for the widget's choices,
    checked as far as they can be before a thread starts (``settings``: task, split, …)."""
    if not dataset:
        raise InvalidInput("choose a dataset to train on")
    if not target:
        raise InvalidInput("choose the column to predict (target)")
    if not models:
        raise InvalidInput("choose at least one model family")
    checked = {m: get_family(m).validate(params.get(m, {})) for m in models}
    single = len(models) == 1
    return {
        "dataset": dataset,
        "target": target,
        "model": models[0] if single else list(models),
        "params": checked[models[0]] if single else checked,
        **settings,
    }
