"""Jobs benchmark: a burst of short template jobs through Lepton Lab beside the same
notebooks run with the ``papermill`` command one after another, then the same kind of
burst in shared mode beside personal mode, in the same run.

ARCHITECTURE.md section 8 asks for at least 10x the ``papermill`` command's throughput
on a burst of short jobs, each in a fresh kernel.  The issue "The trust boundary" asks
that a job token and the staging of a pinned dataset cost a job well under a tenth of a
second.  Three tables (figures for a reader; nothing passes or fails):

1. **Burst of short template jobs**:

   * *papermill command*: ``papermill short.ipynb out-i.ipynb -p x i`` for i in 1..N,
     one after another, as a person or a cron script would.  Each run starts Python,
     imports papermill, starts a kernel, runs the notebook and writes the output.
   * *Lepton Lab*: the same notebook published as a template; a runner (``lepton-lab
     runner``, started before the burst and given one warm-up job, as a deployed runner
     is) takes the N jobs submitted at once through ``ll.jobs.submit``.  Every job still
     gets a fresh kernel of its own (pre-started in the warm pool, used once, then
     discarded), its own staging folder, seeding, logs, records and output notebook.
     The runner's defaults (2 at once, a pool of 2) unless ``--concurrency``/``--pool``
     say otherwise; its warm kernels forked from a fork server (the default), and the
     same burst again with ``--no-fork-kernels`` (each kernel started by exec), to show
     what forking gives.

2. **Shared mode beside personal mode**: a template with one dataset parameter (the
   kernel loads the pinned version and records its row count), a small dataset
   registered first, the same burst through each:

   * *personal mode*: ``lepton-lab runner`` on the workspace's database (its kernels
     read the pinned version from the workspace's blobs);
   * *shared mode*: ``lepton-lab serve`` on a second workspace (a user token in its
     ``--tokens-file``, a runner token in ``LEPTON_LAB_RUNNER_TOKENS_FILE``) and
     ``lepton-lab runner --server URL --token-file F --staging DIR`` holding no database
     or blob settings; jobs submitted through ``ll.connect(url, token)``.  Each claim
     issues a job token, the executor downloads the pinned version into the job's folder
     with it (sha256 checked) before the cells run, and the finish revokes it; the
     kernel reaches the server with the job token.  The shared runner is given
     ``--kernel-users off`` unless ``--kernel-users`` says otherwise, so that both runners
     start their kernels alike and the difference is the token's and the staging's.

   *Run* is ``ended_at - started_at`` (claimed to recorded, as the queue has it), the
   part a job token and staging add to; the table prints the shared-minus-personal
   difference of the medians per job.

3. **The parts, measured directly**: ``job_tokens.issue``, ``resolve`` and ``revoke`` on
   the personal workspace's SQLite database, each in a transaction of its own (in a
   runner, issue and revoke ride on the claim's and the finish's transactions, so this
   is an upper bound), for jobs claimed for the purpose; and ``staging.stage_datasets``
   of the one pinned version into a fresh folder, against the shared server, with the
   valid job token of a job claimed over HTTP (``HttpLink``) for the purpose.

Latency is submit-to-done: for the command, the burst is "submitted" when the first
run starts, so job i is done when run i ends; for Lepton Lab, ``ended_at - created_at``
of each job as the queue recorded it.

Usage::

    .venv/bin/python bench/jobs.py [--quick] [--jobs N] [--concurrency C] [--pool P]
        [--rows R] [--repeats K] [--kernel-users off|auto|N]

``--quick`` (the test suite runs it) runs 4 jobs per side and 5 repeats of each part.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import requests
from common import fmt_ratio, machine_header, percentile, print_table

NOTEBOOK_CELLS = [
    "import random\nrandom_value = random.random()",
    "y = x * 2\nprint(f'x={x} y={y}')",
    "import lepton_lab as ll\nll.record('y', y)",
]
DATASET = "bench/rows"
DATASET_CELLS = [
    "import lepton_lab as ll\nframe = ll.datasets.load(dataset)",
    "ll.record('rows', len(frame))\nll.record('x', x)",
]
USER = "bench"
USER_TOKEN = f"{USER}-token-{secrets.token_hex(12)}"
_STARTUP_SECONDS = 120

Submit = Callable[[str, dict[str, Any]], Any]


@dataclass
class Side:
    """What one side did: per-job latencies (and run times) and the burst's wall time."""

    name: str
    latencies: list[float]
    wall: float
    failed: int
    runs: list[float] = field(default_factory=list)
    #: Why jobs failed, one line per distinct reason.
    reasons: list[str] = field(default_factory=list)

    @property
    def per_minute(self) -> float:
        return 60 * len(self.latencies) / self.wall


def write_notebook(
    path: Path,
    params: str = "x: int = 1  # the input",
    cells: list[str] = NOTEBOOK_CELLS,
    kinds: dict[str, Any] | None = None,
) -> None:
    """The short template: typed parameters, small cells, recorded values; ``kinds``
    declares parameters' kinds (``{"dataset": {"kind": "dataset"}}``)."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "language": "python",
        "display_name": "Python 3",
    }
    notebook.metadata["lepton"] = {"title": "Short job", "tags": ["bench"]}
    if kinds:
        notebook.metadata["lepton"]["parameters"] = kinds
    parameters = nbformat.v4.new_code_cell(params)
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters, *(nbformat.v4.new_code_cell(c) for c in cells)]
    nbformat.write(notebook, str(path))


def write_dataset_notebook(path: Path) -> None:
    """The short template with one dataset parameter, pinned at submit."""
    params = f'dataset = "{DATASET}"  # the dataset to load\nx: int = 1  # the input'
    write_notebook(path, params, DATASET_CELLS, {"dataset": {"kind": "dataset"}})


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


def _clean_env(*prefixes: str, **extra: str) -> dict[str, str]:
    """This environment without any Lepton Lab setting (nor those of ``prefixes``), no
    runner started on its own, and ``extra``."""
    dropped = ("LEPTON_LAB_", *prefixes)
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    return {**env, "LEPTON_LAB_AUTO_RUNNER": "0", **extra}


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


@contextlib.contextmanager
def running(process: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """``process`` until the block ends, then terminated (killed if it lingers)."""
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_runner(
    home: Path, concurrency: int, pool: int, *shared: str, fork: bool = True
) -> subprocess.Popen[bytes]:
    """``lepton-lab runner`` as a separate process: on the workspace at ``home``, or with
    ``shared`` (``--server URL --token-file F --staging DIR``) on a shared server, its
    environment then naming no workspace; ``fork=False``: ``--no-fork-kernels``."""
    env = _clean_env() if shared else _clean_env(LEPTON_LAB_HOME=str(home))
    command = [sys.executable, "-m", "lepton_lab.cli", "runner", *shared,
               "--concurrency", str(concurrency), "--pool-size", str(pool),
               "--fork-kernels" if fork else "--no-fork-kernels"]  # fmt: skip
    return _spawn(command, env, home / f"runner-{'shared' if shared else 'personal'}.log")


def run_burst(submit: Submit, template: str, values: dict[str, Any], jobs: int, pool: int) -> Side:
    """One warm-up job, then ``jobs`` submitted at once; each job's figures as recorded."""
    warm = submit(template, {**values, "x": 0})
    if warm.wait(timeout=300).info.status != "succeeded":
        raise SystemExit(f"the warm-up job of {template} failed: {warm.info.reason}")
    time.sleep(2 * pool)  # let the pool refill after the warm-up, as between bursts
    start = time.perf_counter()
    burst = [submit(template, {**values, "x": i}) for i in range(1, jobs + 1)]
    infos = [job.wait(timeout=600).info for job in burst]
    wall = time.perf_counter() - start
    ended = [i for i in infos if i.ended_at and i.started_at]
    latencies = [(i.ended_at - i.created_at).total_seconds() for i in ended]
    runs = [(i.ended_at - i.started_at).total_seconds() for i in ended]
    failed = [i for i in infos if i.status != "succeeded"]
    reasons = sorted({f"{i.status}: {(i.reason or {}).get('message', '')}" for i in failed})
    return Side("", latencies, wall, len(failed), runs, reasons)


def run_lepton(
    notebook: Path, home: Path, jobs: int, concurrency: int, pool: int, *, fork: bool = True
) -> Side:
    """The same notebooks as template jobs through a warm runner (its warm kernels forked
    from a fork server, or with ``fork=False`` each started by exec)."""
    import lepton_lab as ll

    ll.templates.publish(notebook, "bench/short")
    with running(start_runner(home, concurrency, pool, fork=fork)):
        side = run_burst(ll.jobs.submit, "bench/short", {}, jobs, pool)
    started = "forked kernels" if fork else "kernels by exec, --no-fork-kernels"
    side.name = f"Lepton Lab runner ({concurrency} at once, pool of {pool}; {started})"
    return side


def run_personal(notebook: Path, home: Path, jobs: int, concurrency: int, pool: int) -> Side:
    """The dataset template's burst through a database runner (personal mode)."""
    import lepton_lab as ll

    ll.templates.publish(notebook, "bench/rows-report")
    with running(start_runner(home, concurrency, pool)):
        side = run_burst(ll.jobs.submit, "bench/rows-report", {"dataset": DATASET}, jobs, pool)
    side.name = "personal mode (database runner)"
    return side


# -- shared mode ----------------------------------------------------------------------------


@dataclass
class Shared:
    """A running ``lepton-lab serve``: its URL, its workspace, the runner token's file."""

    url: str
    root: Path
    runner_token_file: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def shared_server(root: Path) -> Iterator[Shared]:
    """``lepton-lab serve`` on a fresh workspace, on a free loopback port, until the block
    ends: ``USER_TOKEN`` acts as ``USER``; a new runner token is accepted."""
    root.mkdir()
    (root / "tokens.json").write_text(json.dumps({USER_TOKEN: USER}))
    runner_token = "llr_" + secrets.token_urlsafe(32)
    (root / "runner-tokens").write_text(runner_token + "\n")
    (root / "runner-token").write_text(runner_token + "\n")
    port = _free_port()
    env = _clean_env(
        "JUPYTER",
        LEPTON_LAB_RUNNER_TOKENS_FILE=str(root / "runner-tokens"),
        JUPYTER_CONFIG_DIR=str(root / "jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(root / "jupyter-runtime"),
        JUPYTER_DATA_DIR=str(root / "jupyter-data"),
    )
    command = [str(Path(sys.executable).parent / "lepton-lab"), "--home", str(root / "home"),
               "serve", "--port", str(port), "--tokens-file", str(root / "tokens.json"),
               "--allow-root"]  # fmt: skip
    with running(_spawn(command, env, root / "server.log")) as process:
        server = Shared(f"http://127.0.0.1:{port}", root, root / "runner-token")
        _wait_until_up(server, process)
        yield server


def _wait_until_up(server: Shared, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _STARTUP_SECONDS
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(requests.ConnectionError):
            answer = requests.get(
                f"{server.url}/lepton/api/v1/whoami",
                headers={"Authorization": f"token {USER_TOKEN}"},
                timeout=2,
            )
            if answer.status_code == 200:
                return
        time.sleep(0.2)
    log = (server.root / "server.log").read_text()[-4000:]
    raise SystemExit(f"lepton-lab serve did not start:\n{log}")


def run_shared(
    server: Shared, client: Any, notebook: Path, jobs: int, burst: tuple[int, int], users: str
) -> Side:
    """The dataset template's burst through an HTTP runner (shared mode)."""
    client.templates.publish(notebook, "bench/rows-report")
    shared = ["--server", server.url, "--token-file", str(server.runner_token_file),
              "--staging", str(server.root / "runner-jobs"),
              "--kernel-users", users]  # fmt: skip
    with running(start_runner(server.root, *burst, *shared)):
        values = {"dataset": DATASET}
        side = run_burst(client.jobs.submit, "bench/rows-report", values, jobs, burst[1])
    side.name = "shared mode (HTTP runner, job token, one pinned dataset staged)"
    return side


# -- the parts, measured directly ---------------------------------------------------------


def time_tokens(local: Any, repeats: int) -> dict[str, list[float]]:
    """Seconds of ``job_tokens.issue`` / ``resolve`` / ``revoke`` on the workspace's SQLite
    database, each in its own transaction, for ``repeats`` jobs claimed for it."""
    from lepton_lab.runs import job_tokens
    from lepton_lab.runs.leases import Leases
    from lepton_lab.store.tables import Job

    workspace = local.workspace
    leases = Leases(workspace.db, "bench-tokens", lease_seconds=300)
    times: dict[str, list[float]] = {"issue": [], "resolve": [], "revoke": []}
    for i in range(repeats):
        local.jobs.submit("bench/short", {"x": i})
        lease = leases.claim(0)
        assert lease is not None, "the job just queued was not claimed"
        start = time.perf_counter()
        token = workspace.db.transact(lambda s: job_tokens.issue(s, s.get(Job, lease.job_id)))  # noqa: B023
        issued = time.perf_counter()
        identity = job_tokens.resolve(workspace.db, token)
        resolved = time.perf_counter()
        workspace.db.transact(lambda s: job_tokens.revoke(s, lease.job_id))  # noqa: B023
        revoked = time.perf_counter()
        assert identity is not None and identity.job_id == lease.job_id, identity
        assert job_tokens.resolve(workspace.db, token) is None, "a revoked token resolved"
        leases.finish(lease, "cancelled", {"kind": "bench", "message": "token timing"},
                      output_sha256="", manifest={})  # fmt: skip
        times["issue"].append(issued - start)
        times["resolve"].append(resolved - issued)
        times["revoke"].append(revoked - resolved)
    return times


def time_staging(server: Shared, client: Any, repeats: int) -> list[float]:
    """Seconds of ``stage_datasets`` of the pinned version into a fresh folder, with the
    valid token of a job claimed over HTTP for it (then finished as cancelled)."""
    from lepton_lab.client.runners import HttpLink
    from lepton_lab.runs.link import Ending
    from lepton_lab.runs.staging import stage_datasets

    link = HttpLink(server.url, server.runner_token_file.read_text().strip(),
                    staging_root=server.root / "timing")  # fmt: skip
    link.register(gpus=0, capacity=1)
    try:
        client.jobs.submit("bench/rows-report", {"dataset": DATASET, "x": 0})
        lease = link.claim(0)
        assert lease is not None and lease.token, "the job just queued was not claimed"
        pins = link.stage(lease)
        times = []
        for i in range(repeats):
            folder = server.root / "timing" / str(i)
            folder.mkdir(parents=True)
            start = time.perf_counter()
            stage_datasets(folder, pins, lease.token)
            times.append(time.perf_counter() - start)
            link.heartbeat([lease.job_id])
        reason = {"kind": "bench", "message": "staging timing"}
        link.complete(lease, Ending("cancelled", reason, link.notebook(lease), {}))
    finally:
        link.unregister()
        link.close()
    return times


# -- report ---------------------------------------------------------------------------------


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


def report_modes(personal: Side, shared: Side) -> None:
    """Shared mode beside personal mode, and the difference per job."""
    headers = ["", "jobs", "failed", "jobs/min", "p50 s", "p90 s", "run p50 s", "run p90 s"]
    rows = [
        [side.name, str(len(side.latencies)), str(side.failed), f"{side.per_minute:.1f}",
         f"{statistics.median(side.latencies):.2f}", f"{percentile(side.latencies, 90):.2f}",
         f"{statistics.median(side.runs):.2f}", f"{percentile(side.runs, 90):.2f}"]
        for side in (personal, shared)
    ]  # fmt: skip
    print_table("Shared mode beside personal mode: the dataset template's burst", headers, rows)
    for side in (personal, shared):
        for reason in side.reasons:
            print(f"  {side.name}: {reason}")
    print("\n(p50, p90: submit to done; run: claimed to recorded, as the queue has them)")
    run = statistics.median(shared.runs) - statistics.median(personal.runs)
    latency = statistics.median(shared.latencies) - statistics.median(personal.latencies)
    throughput = fmt_ratio(shared.per_minute, personal.per_minute)
    print(
        f"per job, shared minus personal: run median {run * 1000:+,.0f} ms, "
        f"submit-to-done median {latency * 1000:+,.0f} ms; throughput {throughput} of "
        "personal mode's"
    )


def report_parts(
    tokens: dict[str, list[float]], staging: list[float], rows: int, personal: Side
) -> None:
    """The job token's and the staging's own cost, in milliseconds."""
    token = [sum(parts) for parts in zip(*tokens.values(), strict=True)]
    measured = [*((f"job token: {name}", times) for name, times in tokens.items()),
                ("job token: issue + resolve + revoke", token),
                (f"staging one pinned dataset ({rows:,} rows)", staging)]  # fmt: skip
    run = statistics.median(personal.runs)
    table = [
        [name, str(len(times)), f"{statistics.median(times) * 1000:.1f}",
         f"{percentile(times, 90) * 1000:.1f}", f"{statistics.median(times) / run:.2%}"]
        for name, times in measured
    ]  # fmt: skip
    headers = ["part", "times", "median ms", "p90 ms", "of a personal job's run p50"]
    print_table("The parts, measured directly (per job)", headers, table)
    both = statistics.median(token) + statistics.median(staging)
    print(
        f"\njob token + staging: {both * 1000:.1f} ms per job (medians summed), "
        f"{both / 0.1:.0%} of a tenth of a second"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="4 jobs per side, 5 repeats of each part")  # fmt: skip
    parser.add_argument("--jobs", type=int, default=20, help="jobs in the burst")
    parser.add_argument("--concurrency", type=int, default=2,
                        help="jobs the runner runs at once (the runner's default: 2)")  # fmt: skip
    parser.add_argument("--pool", type=int, default=2,
                        help="warm kernels kept started (the runner's default: 2)")  # fmt: skip
    parser.add_argument("--rows", type=int, default=5000, help="rows of the pinned dataset")
    parser.add_argument("--repeats", type=int, default=20, help="times each part is measured")
    parser.add_argument("--kernel-users", default="off", metavar="off|auto|N",
                        help="the shared runner's --kernel-users (off: its kernels run as "
                        "its own user, as the personal runner's do) [default: off]")  # fmt: skip
    args = parser.parse_args()
    jobs = 4 if args.quick else args.jobs
    repeats = 5 if args.quick else args.repeats
    if jobs < 1 or args.concurrency < 1 or args.pool < 0:
        parser.error("--jobs and --concurrency must be at least 1, --pool at least 0")
    if args.rows < 1 or repeats < 1:
        parser.error("--rows and --repeats must be at least 1")
    mode = "quick" if args.quick else "full"
    print(machine_header("bench/jobs.py", mode, ["papermill", "nbclient", "ipykernel"]))
    with tempfile.TemporaryDirectory(prefix="lepton-bench-jobs-") as tmp:
        root = Path(tmp)
        # With --kernel-users, kernels run as other OS users: they pass through this folder
        # to their own below it.
        root.chmod(0o711)
        run(root, args, jobs, repeats)


def run(root: Path, args: argparse.Namespace, jobs: int, repeats: int) -> None:
    """Every burst and part, then the three tables."""
    import pandas as pd

    import lepton_lab as ll

    notebook, rows_notebook = root / "short.ipynb", root / "rows.ipynb"
    write_notebook(notebook)
    write_dataset_notebook(rows_notebook)
    frame = pd.DataFrame({"i": range(args.rows), "value": [i * 0.5 for i in range(args.rows)],
                          "label": [f"row-{i % 97}" for i in range(args.rows)]})  # fmt: skip
    (root / "papermill").mkdir()
    home = root / "home"
    local = ll.configure(home=home, auto_start_runner=False, user=USER)
    ll.datasets.register(frame, DATASET)
    burst = args.concurrency, args.pool
    lepton = run_lepton(notebook, home, jobs, *burst)
    execd = run_lepton(notebook, home, jobs, *burst, fork=False)
    reference = run_papermill(notebook, root / "papermill", jobs)
    personal = run_personal(rows_notebook, home, jobs, *burst)
    tokens = time_tokens(local, repeats)
    with shared_server(root / "shared") as server:
        client = ll.connect(server.url, USER_TOKEN)
        client.datasets.register(frame, DATASET)
        shared = run_shared(server, client, rows_notebook, jobs, burst, args.kernel_users)
        staging = time_staging(server, client, repeats)
        client.close()
    report([reference, lepton, execd], reference)
    report_modes(personal, shared)
    report_parts(tokens, staging, args.rows, personal)


if __name__ == "__main__":
    main()
