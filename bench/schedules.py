"""Schedules benchmark: how late a due schedule fires on an idle runner, and what the
runners' scheduling loop costs with many schedules.

The issue's figures: a schedule fires within a second of its due time on an idle runner;
1,000 schedules cost the scheduling loop less than 5% of a core.  Two tables (nothing
passes or fails):

* **firing delay**: a real runner (``Runner``, the local executor, idle) in this process;
  a schedule made due a moment ahead (``next_due`` set directly, so the run does not wait
  for a cron minute); the delay is ``fired_at - due_at`` of the run it records, and the
  job it queued must then succeed.  Repeated ``--fires`` times.
* **loop cost**: ``fire_due()`` called every ``SCHEDULE_POLL`` seconds (as each runner's
  loop does) with 0, 100 and 1,000 schedules that are not due, on SQLite; the CPU time of
  this process per second of loop, as a share of one core.  The reference row is the same
  loop with no schedule at all: what any runner pays to look.

Usage::

    .venv/bin/python bench/schedules.py [--quick] [--fires N] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nbformat
from common import fmt_ratio, machine_header, print_table

from lepton_lab.config import Settings
from lepton_lab.runs.runner import SCHEDULE_POLL, Runner, RunnerConfig
from lepton_lab.store.tables import Schedule
from lepton_lab.workspace import Workspace

NEVER_DUE = "0 0 1 1 *"  # once a year: never due while the benchmark runs


def _notebook() -> bytes:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                       "display_name": "Python 3"}  # fmt: skip
    cell = nbformat.v4.new_code_cell("n = 1")
    cell.metadata["tags"] = ["parameters"]
    notebook.cells = [cell, nbformat.v4.new_code_cell("print(n)")]
    return nbformat.writes(notebook).encode()


def _workspace(root: Path) -> Workspace:
    workspace = Workspace(Settings(home=root, user="bench", auto_start_runner=False))
    workspace.teams.create(workspace.actor("bench"), "bench")
    actor = workspace.actor("bench")
    workspace.templates.publish(actor, _notebook(), "bench/tick")
    return workspace


def _make_due(workspace: Workspace, schedule_id: str, seconds: float) -> datetime:
    due = datetime.now(UTC) + timedelta(seconds=seconds)
    with workspace.db.write() as session:
        row = session.get(Schedule, schedule_id)
        assert row is not None
        row.next_due = due
    return due


async def _fire_delays(workspace: Workspace, fires: int) -> tuple[list[float], int]:
    """Delays (seconds) of ``fires`` due times on an idle runner; how many jobs succeeded."""
    actor = workspace.actor("bench")
    schedule = workspace.schedules.create(
        actor, "bench/tick", {}, cron=NEVER_DUE, name="tick", overlap=True
    )
    runner = Runner(workspace, RunnerConfig(concurrency=1, pool_size=1))
    task = asyncio.create_task(runner.run())
    await asyncio.sleep(3)  # the runner is up and idle, its pool warm
    delays: list[float] = []
    for _ in range(fires):
        due = _make_due(workspace, schedule.id, 1.0)
        while True:
            await asyncio.sleep(0.05)
            runs = workspace.schedules.runs(actor, schedule.id, limit=1)
            if runs and runs[0].due_at == due:
                delays.append((runs[0].fired_at - due).total_seconds())
                break
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = workspace.schedules.runs(actor, schedule.id, limit=fires)
        if all(r.job_status in ("succeeded", "failed") for r in runs):
            break
        await asyncio.sleep(0.2)
    runner.stop()
    await task
    succeeded = sum(1 for r in workspace.schedules.runs(actor, schedule.id, limit=fires)
                    if r.job_status == "succeeded")  # fmt: skip
    return delays, succeeded


def _loop_share(workspace: Workspace, seconds: float) -> float:
    """CPU share of one core that ``fire_due`` every SCHEDULE_POLL seconds costs."""
    calls = max(1, int(seconds / SCHEDULE_POLL))
    start = time.process_time()
    for _ in range(calls):
        workspace.schedules.fire_due()
    used = time.process_time() - start
    return used / (calls * SCHEDULE_POLL)


def _add_schedules(workspace: Workspace, count: int) -> None:
    actor = workspace.actor("bench")
    existing = len(workspace.schedules.list(actor))
    for i in range(existing, count):
        workspace.schedules.create(actor, "bench/tick", {}, cron=NEVER_DUE, name=f"s{i}")


def main() -> None:
    """Run both measurements and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 fires, 3 s loops.")
    parser.add_argument("--fires", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0, help="Length of each loop.")
    args = parser.parse_args()
    fires, seconds = (2, 3.0) if args.quick else (args.fires, args.seconds)
    mode = "quick" if args.quick else f"{fires} fires, {seconds:g} s loops"
    print(machine_header("bench/schedules.py", mode, ["lepton-lab", "sqlalchemy", "cronsim"]))
    with tempfile.TemporaryDirectory() as root:
        workspace = _workspace(Path(root) / "ws")
        try:
            delays, succeeded = asyncio.run(_fire_delays(workspace, fires))
            print_table(
                "Firing delay on an idle runner (target: under 1 s)",
                ["due times", "jobs succeeded", "median delay s", "max delay s"],
                [[str(len(delays)), str(succeeded), f"{statistics.median(delays):.3f}",
                  f"{max(delays):.3f}"]],
            )  # fmt: skip
            rows = []
            base = None
            for count in (0, 100, 1000):
                _add_schedules(workspace, count)
                share = _loop_share(workspace, seconds)
                base = share if base is None else base
                rows.append([f"{count:,} schedules", f"{share * 100:.2f}%",
                             fmt_ratio(share, base)])  # fmt: skip
            print_table(
                f"Scheduling loop, one look every {SCHEDULE_POLL} s (target: 1,000 under 5%)",
                ["schedules", "share of one core", "vs none"],
                rows,
            )
        finally:
            workspace.close()


if __name__ == "__main__":
    main()
