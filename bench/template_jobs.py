"""Template jobs benchmark: the ``diagnosis`` template through the ``papermill`` command
and through a warm Lepton Lab runner with pre-imported kernels off and on, same run.

ARCHITECTURE.md section 8 asks that a real template (training models) run at least 3x
faster than the ``papermill`` command on it, through kernels that pre-imported what the
template imports (still one fresh kernel per job); the issue "Fast paths" asks for at
most half of the submit-to-done of a runner without them.  Sides, one job at a time:

* *papermill command*: ``papermill diagnosis.ipynb out-i.ipynb`` (the template's
  defaults, on the same workspace), as a person or a cron script would; submit-to-done is
  the command's own run, from start to exit.
* *runner, preload off*: ``lepton-lab runner --preload off`` (its default concurrency
  and pool, 2 and 2), started before the jobs and given one warm-up job, as a deployed
  runner is;
  each job is submitted once the runner and its kernels are idle (a warm runner), and its
  submit-to-done is ``ended_at - created_at`` as the queue recorded them.
* *runner, preload auto*: the same with ``--preload auto`` (its default): the warm-up job
  teaches the pool what the template imports, and the next kernels import it before
  their jobs.

A second table splits each runner job by the times the queue and the output notebook
recorded: queued (submit to claimed: the runner's poll), to the first cell (the job's
start in the database, its notebook, a kernel from the pool, the bootstrap), the cells
(papermill's own per-cell times), and the finish (the last save, the records and the
output notebook written, the job's end).  ``--profile`` also runs the preload-on runner
under cProfile and prints what its own process spent time on.

Usage::

    .venv/bin/python bench/template_jobs.py [--quick] [--jobs N] [--concurrency C]
        [--pool P] [--profile]

``--quick`` (the test suite can run it) runs 2 jobs per side.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
from common import fmt_ratio, machine_header, print_table

TEMPLATE = Path(__file__).resolve().parents[1] / "notebook_templates" / "diagnosis.ipynb"
USER = "bench"
#: CPU use (percent of one core, the runner and its kernels together) counted as idle.
_IDLE_CPU = 15.0
#: The runners' options besides --preload (set from the command line).
RUNNER: list[str] = []


@dataclass
class Side:
    """One side's submit-to-done per job, and for runner jobs the phases."""

    name: str
    latencies: list[float] = field(default_factory=list)
    failed: int = 0
    phases: list[dict[str, float]] = field(default_factory=list)


def run_papermill(home: Path, out: Path, jobs: int) -> Side:
    """The reference: the ``papermill`` command on the template, one run per job."""
    papermill = shutil.which("papermill", path=str(Path(sys.executable).parent))
    if papermill is None:
        raise SystemExit("the papermill command is not installed next to this Python")
    env = {**_clean_env(), "LEPTON_LAB_HOME": str(home), "LEPTON_LAB_USER": USER}
    side = Side("papermill command")
    for i in range(jobs):
        start = time.perf_counter()
        done = subprocess.run(
            [papermill, str(TEMPLATE), str(out / f"out-{i}.ipynb"), "--cwd", str(out),
             "--no-progress-bar", "--log-level", "ERROR"],
            capture_output=True, env=env, check=False,
        )  # fmt: skip
        side.latencies.append(time.perf_counter() - start)
        side.failed += done.returncode != 0
    return side


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEPTON_LAB_", "JUPYTER"))}
    return {**env, "LEPTON_LAB_AUTO_RUNNER": "0"}


@contextlib.contextmanager
def runner(home: Path, preload: str, profile: Path | None) -> Iterator[subprocess.Popen[bytes]]:
    """``lepton-lab runner`` on the workspace (:data:`RUNNER` options) until the block ends."""
    python = [sys.executable] + (["-m", "cProfile", "-o", str(profile)] if profile else [])
    command = [*python, "-m", "lepton_lab.cli", "runner", *RUNNER, "--preload", preload]
    env = {**_clean_env(), "LEPTON_LAB_HOME": str(home)}
    with open(home / f"runner-{preload}.log", "ab") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()  # the first SIGTERM lets it end cleanly (cProfile writes then)
        try:
            process.wait(120)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_idle(process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Until the runner and its kernels use under :data:`_IDLE_CPU` percent twice running."""
    parent = psutil.Process(process.pid)
    deadline, calm = time.monotonic() + timeout, 0
    while calm < 2 and time.monotonic() < deadline:
        procs = [parent, *parent.children(recursive=True)]
        with contextlib.suppress(psutil.Error):
            for p in procs:
                p.cpu_percent(None)
        time.sleep(0.5)
        used = 0.0
        for p in procs:
            with contextlib.suppress(psutil.Error):
                used += p.cpu_percent(None)
        calm = calm + 1 if used < _IDLE_CPU else 0


def run_runner(home: Path, preload: str, jobs: int, profile: Path | None = None) -> Side:
    """A warm-up job, then ``jobs`` jobs one at a time, each on an idle warm runner."""
    import lepton_lab as ll

    side = Side(f"runner, preload {preload}")
    with runner(home, preload, profile) as process:
        warm = ll.jobs.submit("diagnosis", {}).wait(timeout=600)
        if warm.info.status != "succeeded":
            raise SystemExit(f"the warm-up job failed: {warm.info.reason}")
        for _ in range(jobs):
            wait_idle(process)
            info = ll.jobs.submit("diagnosis", {}).wait(timeout=600).info
            side.failed += info.status != "succeeded"
            if info.ended_at is not None:
                side.latencies.append((info.ended_at - info.created_at).total_seconds())
                side.phases.append(phases(info, ll.jobs.notebook(info.id)))
    return side


def phases(info: Any, notebook: bytes) -> dict[str, float]:
    """Seconds of a job's parts, from the queue's times and papermill's per-cell times."""
    cells = json.loads(notebook)["cells"]
    times = [c["metadata"].get("papermill", {}) for c in cells if c["cell_type"] == "code"]
    first = _when(times[0]["start_time"])
    last = _when(times[-1]["end_time"])
    return {
        "queued": (info.started_at - info.created_at).total_seconds(),
        "to first cell": (first - info.started_at).total_seconds(),
        "cells": (last - first).total_seconds(),
        "finish": (info.ended_at - last).total_seconds(),
    }


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def report(sides: list[Side]) -> None:
    """Submit-to-done side by side, with ratios to the command and to preload off."""
    reference, off = sides[0], sides[1]
    ref, base = statistics.median(reference.latencies), statistics.median(off.latencies)
    rows = []
    for side in sides:
        median = statistics.median(side.latencies)
        rows.append([
            side.name, str(len(side.latencies)), str(side.failed), f"{median:.2f}",
            f"{min(side.latencies):.2f}", f"{max(side.latencies):.2f}",
            fmt_ratio(ref, median), fmt_ratio(median, base),
        ])  # fmt: skip
    headers = ["diagnosis template", "jobs", "failed", "median s", "min s", "max s",
               "speed-up vs papermill", "time vs preload off"]  # fmt: skip
    title = f"Submit-to-done, one job at a time (warm runner: {' '.join(RUNNER)})"
    print_table(title, headers, rows)
    parts = ["queued", "to first cell", "cells", "finish"]
    rows = [
        [side.name, *(f"{statistics.median(p[k] for p in side.phases):.2f}" for k in parts)]
        for side in sides
        if side.phases
    ]
    print_table("Where a runner job's time goes (medians, s)", ["", *parts], rows)


def report_profile(path: Path, top: int = 25) -> None:
    """The runner process's functions by cumulative time (its event-loop thread)."""
    if not path.exists():
        print(f"\n(no profile at {path}: the runner did not exit cleanly)")
        return
    print("\nThe preload-on runner's own process under cProfile (its event-loop thread;")
    print("database calls run in worker threads, outside it), Lepton Lab's functions first:")
    stats = pstats.Stats(str(path))
    stats.sort_stats("cumulative").print_stats(r"lepton_lab|nbclient|papermill|json", top)
    stats.sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 jobs per side")
    parser.add_argument("--jobs", type=int, default=5, help="jobs per side")
    parser.add_argument("--concurrency", type=int, default=2, help="the runner's --concurrency")
    parser.add_argument("--pool", type=int, default=2, help="the runner's --pool-size")
    parser.add_argument("--profile", action="store_true",
                        help="also profile the preload-on runner (cProfile)")  # fmt: skip
    args = parser.parse_args()
    jobs = 2 if args.quick else args.jobs
    if jobs < 1:
        parser.error("--jobs must be at least 1")
    RUNNER[:] = ["--concurrency", str(args.concurrency), "--pool-size", str(args.pool)]
    mode = "quick" if args.quick else "full"
    print(machine_header("bench/template_jobs.py", mode, ["papermill", "nbclient", "torch"]))
    with tempfile.TemporaryDirectory(prefix="lepton-bench-templates-") as tmp:
        run(Path(tmp), jobs, args.profile)


def run(root: Path, jobs: int, profile: bool) -> None:
    """Every side, then the tables."""
    from sklearn.datasets import load_breast_cancer

    import lepton_lab as ll

    home = root / "home"
    ll.configure(home=home, auto_start_runner=False, user=USER)
    ll.datasets.register(load_breast_cancer(as_frame=True).frame, "medical/breast-cancer")
    (root / "papermill").mkdir()
    off = run_runner(home, "off", jobs)
    on = run_runner(home, "auto", jobs)
    reference = run_papermill(home, root / "papermill", jobs)
    report([reference, off, on])
    if profile:
        run_runner(home, "auto", jobs, root / "runner.prof")
        report_profile(root / "runner.prof")


if __name__ == "__main__":
    main()
