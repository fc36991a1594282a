"""Ray executor benchmark: the jobs burst of ``bench/jobs.py`` through a runner with the ray
executor beside the same burst through a runner with the local executor, in the same run.

What it measures is the cost of going through Ray for a job that fits on one machine:
a Ray task per job, a warm kernel borrowed from the node's pool actor (``--pool-size C``
per node, as the local executor's pool), events through the runner's mailbox actor.  One
table (figures for a reader; nothing passes or fails):

* **local executor**: ``lepton-lab runner --concurrency C --pool-size C``, as in
  ``bench/jobs.py`` (fresh kernels pre-started in the warm pool);
* **ray executor**: ``lepton-lab runner --executor ray --address … --pool-size C`` on a
  Ray cluster this script starts on loopback (a head with C CPUs; ``tests/ray_support.py``).

Both runners get a warm-up job first, as deployed runners have.  *Run s/job* is the mean
of ``ended_at - started_at`` (claimed to recorded, as the queue has it); *overhead* is
the ray executor's mean minus the local executor's, per job.

Usage::

    .venv/bin/python bench/ray_jobs.py [--quick] [--jobs N] [--concurrency C]

``--quick`` (the test suite runs it) runs 4 jobs per side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common import fmt_ratio, machine_header, percentile, print_table
from jobs import write_notebook

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Side:
    """One executor's burst: per-job latency and run time, and the burst's wall time."""

    name: str
    latencies: list[float]
    runs: list[float]
    wall: float
    failed: int

    @property
    def per_minute(self) -> float:
        return 60 * len(self.latencies) / self.wall


def start_runner(home: Path, concurrency: int, *executor: str) -> subprocess.Popen[bytes]:
    """``lepton-lab runner`` on the benchmark's workspace, as a separate process."""
    env = {**os.environ, "LEPTON_LAB_HOME": str(home), "LEPTON_LAB_AUTO_RUNNER": "0",
           "RAY_AUTH_MODE": "disabled"}  # fmt: skip
    command = [sys.executable, "-m", "lepton_lab.cli", "runner", "--concurrency",
               str(concurrency), "--pool-size", str(concurrency), *executor]  # fmt: skip
    log = (home / f"runner-{executor[1] if executor else 'local'}.log").open("wb")
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)


def run_side(name: str, home: Path, jobs: int, concurrency: int, *executor: str) -> Side:
    """A warm-up job, then a burst of ``jobs`` submitted at once, through one runner."""
    import lepton_lab as ll

    runner = start_runner(home, concurrency, *executor)
    try:
        warm = ll.jobs.submit("bench/short", {"x": 0})
        if warm.wait(timeout=300).info.status != "succeeded":
            raise SystemExit(f"the {name} warm-up job failed: {warm.info.reason}")
        time.sleep(2 * concurrency)  # the local pool refills after the warm-up
        start = time.perf_counter()
        burst = [ll.jobs.submit("bench/short", {"x": i}) for i in range(1, jobs + 1)]
        infos = [job.wait(timeout=600).info for job in burst]
        wall = time.perf_counter() - start
    finally:
        runner.terminate()
        runner.wait(60)
    ended = [i for i in infos if i.ended_at and i.started_at]
    latencies = [(i.ended_at - i.created_at).total_seconds() for i in ended]  # type: ignore[operator]
    runs = [(i.ended_at - i.started_at).total_seconds() for i in ended]  # type: ignore[operator]
    failed = sum(i.status != "succeeded" for i in infos)
    return Side(name, latencies, runs, wall, failed)


def report(local: Side, ray: Side) -> None:
    """The side-by-side table."""
    base = statistics.mean(local.runs)
    headers = ["", "jobs", "failed", "wall s", "jobs/min", "p50 s", "p95 s", "run s/job",
               "overhead ms/job", "throughput"]  # fmt: skip
    rows = [
        [
            side.name,
            str(len(side.latencies)),
            str(side.failed),
            f"{side.wall:.1f}",
            f"{side.per_minute:.1f}",
            f"{percentile(side.latencies, 50):.2f}",
            f"{percentile(side.latencies, 95):.2f}",
            f"{statistics.mean(side.runs):.2f}",
            f"{1000 * (statistics.mean(side.runs) - base):+.0f}",
            fmt_ratio(side.per_minute, local.per_minute),
        ]
        for side in (local, ray)
    ]
    print_table("Burst of short template jobs: local executor vs ray executor", headers, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="4 jobs per side")
    parser.add_argument("--jobs", type=int, default=20, help="jobs in the burst")
    parser.add_argument("--concurrency", type=int, default=4, help="jobs run at once")
    args = parser.parse_args()
    jobs = 4 if args.quick else args.jobs
    if jobs < 1 or args.concurrency < 1:
        parser.error("--jobs and --concurrency must be at least 1")
    sys.path.insert(0, str(ROOT))  # the loopback cluster the tests use
    from tests.ray_support import LoopbackRayCluster

    mode = "quick" if args.quick else "full"
    print(machine_header("bench/ray_jobs.py", mode, ["ray", "papermill", "ipykernel"]))
    import lepton_lab as ll

    cluster = LoopbackRayCluster.start(head_cpus=args.concurrency, head_gpus=0)
    try:
        with tempfile.TemporaryDirectory(prefix="lepton-bench-ray-") as tmp:
            root = Path(tmp)
            write_notebook(root / "short.ipynb")
            ll.configure(home=root / "home", auto_start_runner=False, user="bench")
            ll.templates.publish(root / "short.ipynb", "bench/short")
            c = args.concurrency
            local = run_side(f"local executor ({c} at once, pool of {c})", root / "home", jobs, c)
            ray = run_side(f"ray executor ({c} at once, 1 node)", root / "home", jobs, c,
                           "--executor", "ray", "--address", cluster.address)  # fmt: skip
    finally:
        cluster.stop()
    report(local, ray)


if __name__ == "__main__":
    main()
