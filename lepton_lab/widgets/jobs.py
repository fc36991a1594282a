"""The job monitor: ``ll.jobs.monitor(job_id)`` or ``job.monitor()``.

One job, live: its id, template and status, a progress bar over its cells with the cell
running now, why it failed, the tail of what its cells printed, the values it recorded
(tables drawn, figures shown), and three buttons: Cancel, Rerun (a second monitor follows
the rerun, then the reproduction report) and Open output notebook.

A daemon thread calls :meth:`JobMonitor.refresh` every ``poll`` seconds until the job ends
(or :meth:`~JobMonitor.close`); the thread sets widget values directly, as the train
panel's does (:mod:`.live`): ipywidgets sends updates from any thread.  ``refresh`` is
public and synchronous, so that code and tests can drive the monitor without a thread
(``autostart=False``).  The monitor only calls the jobs API and draws what comes back
(:mod:`.jobs_render`).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w
from traitlets import Float, Int, Unicode

from lepton_lab.errors import LeptonLabError
from lepton_lab.runs.info import FINAL_STATES
from lepton_lab.widgets import jobs_render as draw
from lepton_lab.widgets.controls import shows_errors
from lepton_lab.widgets.layout import StaticHTML, responsive
from lepton_lab.widgets.train_render import status_html

if TYPE_CHECKING:
    from lepton_lab.client.api import JobsAPI
    from lepton_lab.runs.info import JobInfo, RecordInfo, Reproduction

__all__ = ["JobMonitor", "close_all"]

log = logging.getLogger(__name__)

#: Characters of log text kept on the monitor (the oldest are dropped beyond).
MAX_LOG_CHARS = 200_000
#: Log chunks asked for per call; a refresh keeps asking while pages come back full.
LOG_PAGE = 1000
#: How the message line starts after Cancel, until the job has ended.
_CANCEL_REQUESTED = "Cancel requested"
_BAR_STYLES = {"succeeded": "success", "failed": "danger", "lost": "danger", "cancelled": "warning"}


class JobMonitor(StaticHTML, w.VBox):  # type: ignore[misc]
    """Follow one job: state, progress, logs, values; cancel, rerun, open its notebook.

    ``JobMonitor(ll.jobs, job_id, poll=1.0, autostart=True)``; usually made by
    ``ll.jobs.monitor(job_id)`` or ``job.monitor()``.  The controls are public attributes
    (``header``, ``progress_bar``, ``progress_label``, ``reason_pane``, ``logs_pane``,
    ``values_pane``, ``cancel_button``, ``rerun_button``, ``notebook_button``,
    ``notebook_link``, ``rerun_box``, ``reproduction_pane``, ``message_line``).  After a
    refresh: :attr:`info`, :attr:`logs`, :attr:`records`; after Rerun: :attr:`rerun_monitor`
    and, once the rerun ended, :attr:`reproduction`.
    """

    job_id = Unicode("", read_only=True, help="The job followed.")
    status = Unicode(
        "", read_only=True, help="The job's status: queued, running, succeeded, failed, …"
    )
    cells_done = Int(0, read_only=True, help="Cells of the notebook executed so far.")
    cells_total = Int(0, read_only=True, help="Cells of the notebook in all (0 until it starts).")
    current_cell = Unicode("", read_only=True, help="The cell running now, as the runner names it.")
    poll = Float(1.0, min=0.05, help="Seconds between two refreshes while the job runs.")
    message = Unicode(
        "", read_only=True, help="The last message: what a button did or what failed."
    )

    def __init__(
        self, jobs_api: JobsAPI, job_id: str, *, poll: float = 1.0, autostart: bool = True
    ) -> None:
        super().__init__()
        self.api = jobs_api
        self.set_trait("job_id", job_id)
        self.poll = poll
        self.autostart = autostart
        self.info: JobInfo | None = None
        self.logs = ""
        self.records: list[RecordInfo] = []
        self.rerun_monitor: JobMonitor | None = None
        self.reproduction: Reproduction | None = None
        self._last_seq = 0
        self._records_at: tuple[str, int] | None = None  # (status, cells_done) last fetched at
        self._lock = threading.RLock()  # one refresh at a time: the thread's or the caller's
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._refresh_failed = False
        self._build()
        responsive(self, "lepton-job-monitor")  # its CSS class: a hook for the browser test
        self._connect()
        self.refresh()
        if autostart:
            self.start()

    # -- building ------------------------------------------------------------------------

    def _build(self) -> None:
        """Create the controls; no API call and no handler yet."""
        self.header = w.HTML()
        self.progress_bar = w.IntProgress(value=0, min=0, max=1, description="cells")
        self.progress_label = w.HTML()
        self.reason_pane = w.HTML()
        self.logs_pane = w.HTML()
        self.values_pane = w.HTML()
        self.cancel_button = w.Button(description="Cancel", icon="stop", disabled=True)
        self.rerun_button = w.Button(description="Rerun", icon="redo", disabled=True)
        self.notebook_button = w.Button(
            description="Open output notebook", icon="book", disabled=True
        )
        self.notebook_button.layout.width = "auto"
        self.notebook_link = w.HTML()
        self.message_line = w.HTML()
        self.reproduction_pane = w.HTML()
        self.rerun_label = w.HTML("<b>Rerun</b>")
        self.rerun_box = w.VBox()
        tabs = w.Tab(children=[self.logs_pane, self.values_pane], titles=("Logs", "Values"))
        self.children = [
            self.header,
            w.HBox([self.progress_bar, self.progress_label]),
            self.reason_pane,
            tabs,
            w.HBox([self.cancel_button, self.rerun_button, self.notebook_button]),
            self.notebook_link,
            self.message_line,
            self.rerun_box,
        ]

    def _connect(self) -> None:
        """Wire the buttons to the API, in one place."""
        self.cancel_button.on_click(lambda _: self.cancel())
        self.rerun_button.on_click(lambda _: self.rerun())
        self.notebook_button.on_click(lambda _: self.open_notebook())

    # -- polling -------------------------------------------------------------------------

    @property
    def polling(self) -> bool:
        """Whether the background thread is refreshing the monitor."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Refresh every :attr:`poll` seconds in a daemon thread until the job ends."""
        if self.polling or self.status in FINAL_STATES:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name="lepton-job-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background refreshes (the monitor stays; :meth:`refresh` still works)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=max(self.poll * 2, 5.0))
        self._thread = None

    def _poll(self) -> None:
        while not self._stop.wait(self.poll):
            self.refresh()
            if self.status in FINAL_STATES:
                return

    def close(self) -> None:
        """Stop polling (this monitor's and its rerun's) and close the widget and its parts."""
        self.stop()
        for child in self.children:
            close_all(child)  # the rerun's monitor among them
        super().close()

    # -- refreshing ----------------------------------------------------------------------

    def refresh(self) -> JobInfo | None:
        """Fetch the job's state, new log lines and (when they may have changed) its values.

        Errors become the message line (the thread keeps polling: a server may come back).
        Returns the job's state, or None when it could not be read.
        """
        with self._lock:
            try:
                info = self.api.get(self.job_id)
                self._fetch_logs()
                self._fetch_records(info)
            except LeptonLabError as exc:
                self._refresh_failed = True
                self._say(exc.message, error=True)
                return None
            except Exception as exc:  # shown, and logged: the thread must not die silently
                log.exception("job monitor: refreshing %s failed", self.job_id)
                self._refresh_failed = True
                self._say(f"{type(exc).__name__}: {exc}", error=True)
                return None
            if self._refresh_failed:
                self._refresh_failed = False
                self._say("")
            self._show(info)
            if self.rerun_monitor is not None and not self.rerun_monitor.polling:
                self.rerun_monitor.refresh()
            return info

    def _fetch_logs(self) -> None:
        while True:
            chunks = self.api.logs(self.job_id, after=self._last_seq, limit=LOG_PAGE)
            if chunks:
                self._last_seq = chunks[-1].seq
                self.logs = (self.logs + "".join(c.text for c in chunks))[-MAX_LOG_CHARS:]
            if len(chunks) < LOG_PAGE:
                return

    def _fetch_records(self, info: JobInfo) -> None:
        """Ask for the values again only when a cell ended or the status changed."""
        at = (info.status, info.cells_done)
        if at != self._records_at:
            self.records = self.api.records(self.job_id)
            self._records_at = at

    def _show(self, info: JobInfo) -> None:
        """Draw a state fetched by :meth:`refresh` (in whichever thread fetched it)."""
        settled = info.done and self.status not in FINAL_STATES
        self.info = info
        self.set_trait("status", info.status)
        self.set_trait("cells_done", info.cells_done)
        self.set_trait("cells_total", info.cells_total)
        self.set_trait("current_cell", info.current_cell)
        self.header.value = draw.job_header_html(info)
        self.progress_bar.max = max(info.cells_total, 1)
        self.progress_bar.value = min(info.cells_done, self.progress_bar.max)
        self.progress_bar.bar_style = _BAR_STYLES.get(info.status, "info")
        self.progress_label.value = draw.progress_text(info)
        self.reason_pane.value = draw.reason_html(info.reason)
        self.logs_pane.value = draw.logs_html(self.logs, done=info.done)
        self.values_pane.value = draw.values_html(self.records)
        self.cancel_button.disabled = info.done
        self.rerun_button.disabled = not info.done
        self.notebook_button.disabled = not info.output_sha256
        if info.done and self.message.startswith(_CANCEL_REQUESTED):
            self._say("")  # the request was carried out: the header says cancelled
        if settled:
            self.resend()  # the saved output keeps how the job ended

    # -- buttons -------------------------------------------------------------------------

    @shows_errors
    def cancel(self) -> None:
        """Cancel the job (Cancel): a queued job at once, a running one's kernel is stopped."""
        info = self.api.cancel(self.job_id)
        self.refresh()
        if not info.done:  # a running job: its runner stops the kernel, a refresh later
            self._say(f"{_CANCEL_REQUESTED}: the job is {info.status}")

    @shows_errors
    def rerun(self) -> JobMonitor | None:
        """Queue the job's manifest again (Rerun) and follow the rerun in a second monitor;
        once it ends, :attr:`reproduction` says value by value whether it reproduced."""
        started = self.api.rerun(self.job_id, wait=False)
        if self.rerun_monitor is not None:
            close_all(self.rerun_monitor)
        self.reproduction = None
        self.reproduction_pane.value = ""
        monitor = JobMonitor(self.api, started.rerun.id, poll=self.poll, autostart=self.autostart)
        self.rerun_monitor = monitor
        monitor.observe(self._on_rerun_status, names="status")
        self.rerun_box.children = [self.rerun_label, monitor, self.reproduction_pane]
        self._say(f"Rerunning as job {started.rerun.id}")
        self._on_rerun_status({"new": monitor.status, "owner": monitor})
        return monitor

    def _on_rerun_status(self, change: dict[str, Any]) -> None:
        """Once the rerun ended, fetch and show the reproduction report."""
        if change["new"] in FINAL_STATES:
            self._show_reproduction(change["owner"].job_id)

    @shows_errors
    def _show_reproduction(self, rerun_id: str) -> None:
        self.reproduction = self.api.reproduction(rerun_id)
        self.reproduction_pane.value = draw.reproduction_html(self.reproduction)

    @shows_errors
    def open_notebook(self) -> Path:
        """Save the output notebook as ``lepton-jobs/<id>.ipynb`` under the kernel's working
        folder (Open output notebook) and show a link to it."""
        path = Path(self.api.notebook_path(self.job_id)).resolve()
        env = os.environ
        self.notebook_link.value = draw.notebook_link_html(
            self.job_id,
            str(path),
            base_url=draw.server_base_url(env),
            tree_path=draw.server_path(str(path), os.getcwd(), env),
        )
        return path  # the link line says where it was saved: no second message

    def _say(self, message: str, *, error: bool = False) -> None:
        """Show ``message`` on the message line (escaped: errors quote user input)."""
        self.set_trait("message", message)
        self.message_line.value = status_html(message, error=error)

    def __repr__(self) -> str:
        return f"<JobMonitor {self.job_id} {self.status}>"


def close_all(widget: w.Widget) -> None:
    """Close ``widget`` and every widget inside it, innermost first.

    A box left open around a closed widget breaks ``ipywidgets.embed`` (it serialises every
    open widget), and an unclosed one stays in ipywidgets' registry for the kernel's life.
    """
    for child in getattr(widget, "children", ()):
        close_all(child)
    widget.close()
