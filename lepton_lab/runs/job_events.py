"""A running job's progress, logs and recorded values, written to the database in batches.

The executor calls :class:`JobEvents` on the runner's event loop for every cell, every
chunk of output and every recorded value; the writes run in worker threads, few and
batched, so a notebook of 500 tiny cells does not turn into 500 transactions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from lepton_lab.runs.info import RecordInfo
from lepton_lab.runs.leases import Lease

if TYPE_CHECKING:
    from lepton_lab.runs.link import RunnerLink

__all__ = ["JobEvents"]

log = logging.getLogger("lepton_lab.runner")

# Progress is written at most this often per job; logs are flushed this often.
_PROGRESS_EVERY = 0.25
_LOGS_EVERY = 0.3


class JobEvents:
    """The executor's callbacks, batched into few database writes off the event loop."""

    def __init__(self, leases: RunnerLink, lease: Lease) -> None:
        self._leases, self._lease = leases, lease
        self._logs: list[tuple[str, str]] = []
        self._positions: dict[str, int] = {}
        self._records: list[tuple[RecordInfo, int]] = []
        self._record_lock = asyncio.Lock()
        self._progress: tuple[int, int, str] | None = None
        self._last_progress = 0.0
        self._pending: set[asyncio.Task[Any]] = set()
        self._closing = asyncio.Event()
        self._flusher = asyncio.create_task(self._flush_loop())

    def progress(self, cells_done: int, cells_total: int, current: str) -> None:
        """Keep the latest; written now if the last write is old enough."""
        self._progress = (cells_done, cells_total, current)
        if time.monotonic() - self._last_progress > _PROGRESS_EVERY:
            self._write_progress()

    def log(self, stream: str, text: str) -> None:
        """Buffer; the flush loop writes in batches."""
        if self._logs and self._logs[-1][0] == stream:
            self._logs[-1] = (stream, self._logs[-1][1] + text)  # fewer, larger chunks
        else:
            self._logs.append((stream, text))

    def record(self, record: RecordInfo) -> None:
        """Write soon (records are few and the job view shows them at once).

        Writes go one at a time, in the order the kernel recorded: a name recorded twice
        keeps its last value, at the place it was first recorded.
        """
        position = self._positions.setdefault(record.name, len(self._positions))
        self._records.append((record, position))
        self._spawn(self._flush_records())

    async def _flush_records(self) -> None:
        async with self._record_lock:
            pending, self._records = self._records, []
            for record, position in pending:
                await asyncio.to_thread(self._leases.write_record, self._lease, record, position)

    def _write_progress(self) -> None:
        if self._progress is not None:
            done, total, current = self._progress
            self._last_progress = time.monotonic()
            self._progress = None
            self._spawn(asyncio.to_thread(self._leases.progress, self._lease, done, total, current))

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _flush_loop(self) -> None:
        """Flush every few tenths of a second until closing (waking at once for it)."""
        while not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), _LOGS_EVERY)
            try:
                await self._flush()
            except Exception:  # a database blip loses this batch, not the job's later logs
                log.exception("job %s: writing logs failed", self._lease.job.id)

    async def _flush(self) -> None:
        chunks, self._logs = self._logs, []
        if chunks:
            await asyncio.to_thread(self._leases.write_logs, self._lease, chunks)
        self._write_progress()

    async def close(self) -> None:
        """Write everything still buffered, before the job's outcome is recorded.

        The flush loop is let finish, not cancelled: cancelling it mid-write would leave
        that write running in its thread, to land after the outcome, refused by the fence.
        """
        self._closing.set()
        await self._flusher
        await self._flush()  # what came while the loop's last write was in flight
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
