"""What a job's cells write, on its way to the notebook and to the runner.

:class:`JobClient` is papermill's notebook client with its ``output`` hook routed
through an :class:`OutputCapture`: stream text goes to the job's log, recorded values
(``ll.record``) to its events, and text past the cap is dropped from both, with one note
saying how much, so that a runaway ``print`` cannot fill the disk or the database.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import nbformat
from nbformat import NotebookNode
from papermill.clientwrap import PapermillNotebookClient

from lepton_lab.runs.record import parse_record

if TYPE_CHECKING:
    from lepton_lab.runs.executor import RunEvents
    from lepton_lab.runs.pool import Kernel

__all__ = ["IOPUB_TIMEOUT", "JobClient", "OutputCapture", "dropped_note"]

log = logging.getLogger("lepton_lab.runs.executor")

#: How long a cell's output may trail its reply before the job fails.
IOPUB_TIMEOUT = 30


def dropped_note(n: int) -> str:
    """The line that stands for ``n`` bytes of output left out."""
    return f"[Lepton Lab: {n} more bytes of output dropped]\n"


class OutputCapture:
    """Passes a job's outputs to its events; keeps huge stream text out of notebook and log."""

    def __init__(self, events: RunEvents, limit: int) -> None:
        self.events = events
        self.limit = limit
        self.logged = self.log_dropped = 0  # for the whole job
        self.cell = -1
        self.kept = self.dropped = 0  # for the current cell
        self.marker: NotebookNode | None = None

    def stream(self, cell: int, name: str, text: str) -> str:
        """Log ``text``; return the part of it the cell keeps ("" for none)."""
        data = text.encode()
        room = max(self.limit - self.logged, 0)
        if room and data:
            self.events.log(name, data[:room].decode(errors="ignore"))
        self.logged += min(room, len(data))
        self.log_dropped += max(len(data) - room, 0)
        if cell != self.cell:
            self.cell, self.kept, self.dropped, self.marker = cell, 0, 0, None
        kept = data[: max(self.limit - self.kept, 0)]
        self.kept += len(kept)
        self.dropped += len(data) - len(kept)
        return kept.decode(errors="ignore")

    def mark(self, outs: list[NotebookNode]) -> None:
        """Put (or update) the one output that says how much of the cell's text was dropped."""
        if not self.dropped:
            return
        if self.marker is None or not any(out is self.marker for out in outs):
            self.marker = nbformat.v4.new_output("stream", name="stderr", text="")  # type: ignore[no-untyped-call]
            outs.append(self.marker)
        self.marker["text"] = dropped_note(self.dropped)

    def record(self, output: NotebookNode, cell: int) -> None:
        """Send a recorded value on; the output stays in the notebook."""
        found = parse_record(output, cell=cell)
        if found is not None:
            self.events.record(found)

    def finish(self) -> None:
        """Say in the log how much of it was dropped, if any."""
        if self.log_dropped:
            self.events.log("stderr", dropped_note(self.log_dropped))


class JobClient(PapermillNotebookClient):  # type: ignore[misc]
    """papermill's notebook client, its outputs also going to the job's events."""

    def __init__(self, nb_man: Any, kernel: Kernel, capture: OutputCapture) -> None:
        # iopub_timeout: how long output may trail the cell's reply.  nbclient's 4 s fails
        # jobs that print a lot on a busy host; the kernel's death is watched separately.
        super().__init__(
            nb_man, km=kernel.km, kernel_name=kernel.name, log=log, iopub_timeout=IOPUB_TIMEOUT
        )
        self.capture = capture

    def output(
        self, outs: list[NotebookNode], msg: dict[str, Any], display_id: str | None, cell: int
    ) -> NotebookNode | None:
        """Cap and log stream text, pick out recorded values, then do what nbclient does."""
        if msg["msg_type"] != "stream":
            out: NotebookNode | None = super().output(outs, msg, display_id, cell)
            if out is not None:
                self.capture.record(out, cell)
            return out
        content = msg["content"]
        kept = self.capture.stream(cell, content["name"], content["text"])
        out = None
        if kept:
            trimmed = {**msg, "content": {**content, "text": kept}}
            out = super().output(outs, trimmed, display_id, cell)
        self.capture.mark(outs)
        return out
