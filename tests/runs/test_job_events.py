"""A job's events reach the database before its outcome: nothing is written after it."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, cast

from lepton_lab.runs.job_events import JobEvents
from lepton_lab.runs.leases import Lease, Leases


class _SlowLeases:
    """Stands in for :class:`Leases`: the first log write takes ``seconds`` (a busy
    database), the later ones none."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.writes: list[tuple[str, float]] = []
        self.lock = threading.Lock()
        self.calls = 0

    def write_logs(self, lease: Any, chunks: list[tuple[str, str]]) -> bool:
        self.calls += 1
        time.sleep(self.seconds if self.calls == 1 else 0)
        with self.lock:
            self.writes.extend((text, time.monotonic()) for _, text in chunks)
        return True

    def progress(self, lease: Any, done: int, total: int, current: str) -> bool:
        return True


def test_close_waits_for_a_write_in_flight_and_flushes_the_rest() -> None:
    leases = _SlowLeases(seconds=0.5)

    async def run() -> float:
        events = JobEvents(cast(Leases, leases), cast(Lease, None))
        events.log("stdout", "first\n")
        await asyncio.sleep(0.4)  # the flush loop has taken "first" and is writing it
        events.log("stdout", "second\n")
        await events.close()
        return time.monotonic()  # when the runner would record the outcome

    closed = asyncio.run(run())

    assert [text for text, _ in leases.writes] == ["first\n", "second\n"]
    assert all(at <= closed for _, at in leases.writes)


def test_a_failed_write_does_not_stop_the_later_ones() -> None:
    class _Flaky(_SlowLeases):
        failed = False

        def write_logs(self, lease: Any, chunks: list[tuple[str, str]]) -> bool:
            if not self.failed:
                self.failed = True
                raise ConnectionError("database restarting")
            return super().write_logs(lease, chunks)

    leases = _Flaky(seconds=0)

    async def run() -> None:
        events = JobEvents(cast(Leases, leases), cast(Lease, _LEASE))
        events.log("stdout", "lost in the blip\n")
        await asyncio.sleep(0.45)
        events.log("stdout", "written\n")
        await events.close()

    asyncio.run(run())

    assert leases.failed
    assert [text for text, _ in leases.writes] == ["written\n"]


class _Job:
    id = "job-1"


class _Lease:
    job = _Job()


_LEASE = _Lease()
