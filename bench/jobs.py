"""Jobs benchmark: a burst of short template jobs through Lepton Lab beside the same
notebooks run with the ``papermill`` command one after another, in the same run.

ARCHITECTURE.md section 8 asks for at least 10x the ``papermill`` command's throughput
on a burst of short jobs, each in a fresh kernel.  One table (ratios for a reader;
nothing passes or fails):

* **papermill command**: ``papermill short.ipynb out-i.ipynb -p x i`` for i in 1..N, one
  after another, as a person or a cron script would.  Each run starts Python, imports
  papermill, starts a kernel, runs the notebook and writes the output.
* **Lepton Lab**: the same notebook published as a template; a runner
  (``lepton-lab runner``, started before the burst and given one warm-up job, as a
  deployed runner is) takes the N jobs submitted at once through ``ll.jobs.submit``.
  Every job still gets a fresh kernel of its own (pre-started in the warm pool, used once,
  then discarded), its own staging folder, seeding, logs, records and output notebook.

Latency is submit-to-done: for the command, the burst is "submitted" when the first
run starts, so job i is done when run i ends; for Lepton Lab, ``ended_at - created_at``
of each job as the queue recorded it.

Usage::

    .venv/bin/python bench/jobs.py [--quick] [--jobs N] [--concurrency C] [--pool P]

``--quick`` (the test suite runs it) runs 4 jobs per side.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from common import fmt_ratio, machine_header, percentile, print_table

NOTEBOOK_CELLS = [
    "import random\nrandom_value = random.random()",
    "y = x * 2\nprint(f'x={x} y={y}')",
    "import lepton_lab as ll\nll.record('y', y)",
]


@dataclass
class Side:
    """What one side did: per-job latencies and the burst's wall time."""

    name: str
    latencies: list[float]
    wall: float
    failed: int

    @property
    def per_minute(self) -> float:
        return 60 * len(self.latencies) / self.wall


def write_notebook(path: Path) -> None:
    """The short template: a typed parameter, three small cells, one recorded value."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "language": "python",
        "display_name": "Python 3",
    }
    notebook.metadata["lepton"] = {"title": "Short job", "tags": ["bench"]}
    params = nbformat.v4.new_code_cell("x: int = 1  # the input")
    params.metadata["tags"] = ["parameters"]
    notebook.cells = [params, *(nbformat.v4.new_code_cell(c) for c in NOTEBOOK_CELLS)]
    nbformat.write(notebook, str(path))


def run_papermill(notebook: Path, out: Path, jobs: int) -> Side:
    """The reference: the ``papermill`` command once per job, one after another."""
    papermill = shutil.which("papermill", path=str(Path(sys.executable).parent))
    if papermill is None:
        raise SystemExit("the papermill command is not installed next to this Python")
    start = time.perf_counter()
    latencies, failed = [], 0
    for i in range(1, jobs + 1):
        done = subprocess.run(
            [papermill, str(notebook), str(out / f"out-{i}.ipynb"), "-p", "x", str(i),
             "--no-progress-bar", "--log-level", "ERROR"],
            capture_output=True,
            check=False,
        )  # fmt: skip
        failed += done.returncode != 0
        latencies.append(time.perf_counter() - start)
    return Side("papermill command, one after another", latencies, latencies[-1], failed)


def start_runner(home: Path, concurrency: int, pool: int) -> subprocess.Popen[bytes]:
    """``lepton-lab runner`` on the benchmark's workspace, as a separate process."""
    env = {**os.environ, "LEPTON_LAB_HOME": str(home), "LEPTON_LAB_AUTO_RUNNER": "0"}
    command = [sys.executable, "-m", "lepton_lab.cli", "runner",
               "--concurrency", str(concurrency), "--pool-size", str(pool)]  # fmt: skip
    return subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=open(home / "runner.log", "wb")
    )


def run_lepton(notebook: Path, home: Path, jobs: int, concurrency: int, pool: int) -> Side:
    """The same notebooks as template jobs through a warm runner."""
    import lepton_lab as ll

    ll.configure(home=home, auto_start_runner=False, user="bench")
    ll.templates.publish(notebook, "bench/short")
    runner = start_runner(home, concurrency, pool)
    try:
        warm = ll.jobs.submit("bench/short", {"x": 0})
        if warm.wait(timeout=300).info.status != "succeeded":
            raise SystemExit(f"the warm-up job failed: {warm.info.reason}")
        time.sleep(2 * pool)  # let the pool refill after the warm-up, as between bursts
        start = time.perf_counter()
        burst = [ll.jobs.submit("bench/short", {"x": i}) for i in range(1, jobs + 1)]
        infos = [job.wait(timeout=600).info for job in burst]
        wall = time.perf_counter() - start
    finally:
        runner.terminate()
        runner.wait(60)
    latencies = [(i.ended_at - i.created_at).total_seconds() for i in infos if i.ended_at]
    failed = sum(i.status != "succeeded" for i in infos)
    name = f"Lepton Lab runner ({concurrency} at once, pool of {pool})"
    return Side(name, latencies, wall, failed)


def report(sides: list[Side], reference: Side) -> None:
    """The side-by-side table."""
    headers = ["", "jobs", "failed", "wall s", "jobs/min", "p50 s", "p95 s", "throughput"]
    rows = [
        [
            side.name,
            str(len(side.latencies)),
            str(side.failed),
            f"{side.wall:.1f}",
            f"{side.per_minute:.1f}",
            f"{percentile(side.latencies, 50):.2f}",
            f"{percentile(side.latencies, 95):.2f}",
            fmt_ratio(side.per_minute, reference.per_minute),
        ]
        for side in sides
    ]
    print_table("Burst of short template jobs, each in a fresh kernel", headers, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 jobs per side")
    parser.add_argument("--jobs", type=int, default=20, help="jobs in the burst")
    parser.add_argument("--concurrency", type=int, default=4, help="jobs the runner runs at once")
    parser.add_argument("--pool", type=int, default=4, help="warm kernels kept started")
    args = parser.parse_args()
    jobs = 4 if args.quick else args.jobs
    if jobs < 1 or args.concurrency < 1 or args.pool < 0:
        parser.error("--jobs and --concurrency must be at least 1, --pool at least 0")
    mode = "quick" if args.quick else "full"
    print(machine_header("bench/jobs.py", mode, ["papermill", "nbclient", "ipykernel"]))
    with tempfile.TemporaryDirectory(prefix="lepton-bench-jobs-") as tmp:
        root = Path(tmp)
        notebook = root / "short.ipynb"
        write_notebook(notebook)
        (root / "papermill").mkdir()
        lepton = run_lepton(notebook, root / "home", jobs, args.concurrency, args.pool)
        reference = run_papermill(notebook, root / "papermill", jobs)
    report([reference, lepton], reference)


if __name__ == "__main__":
    main()
