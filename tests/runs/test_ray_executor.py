"""Jobs through a runner with the ray executor, on a real two-node Ray cluster on loopback.

The cluster (tests/ray_support.py) has a head with 2 CPUs and 2 simulated GPUs and a node
with 1 CPU and 1 GPU.  The cases are those of the local executor (test_runner.py) where
they apply, plus what only a cluster has: GPUs that Ray allots, a worker that dies, a job
no node can hold, and nothing listening beyond loopback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import nbformat
import psutil
import pytest

from lepton_lab.client import LocalClient
from lepton_lab.runs.info import JobInfo
from lepton_lab.workspace import Workspace
from tests.ray_support import LoopbackRayCluster
from tests.runner_support import RunnerThread
from tests.runs.helpers import make_notebook

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]

NOTEBOOKS = Path(__file__).parent / "notebooks"

# notebook -> (status, reason kind or None, text the output notebook must hold)
OUTCOMES: dict[str, tuple[str, str | None, str]] = {
    "raises": ("failed", "cell_error", "bad value"),
    "sys_exit_0": ("succeeded", None, "before"),
    "os_exit": ("failed", "kernel_died", "before"),  # the kernel dies; its worker does not
}


@pytest.fixture
def ray_runner(
    ray_cluster: LoopbackRayCluster, local_workspace: Workspace
) -> Iterator[RunnerThread]:
    """A runner with the ray executor on ``local_workspace``, 3 jobs at once (the CPUs)."""
    runner = RunnerThread(
        local_workspace, executor="ray", address=ray_cluster.address, concurrency=3
    ).start()
    yield runner
    # A test that failed may leave jobs running: stop them, so the runner stops at once.
    client = LocalClient(local_workspace, user="alice")
    for status in ("queued", "running"):
        for job in client.jobs.list(status=status, limit=100).items:
            client.jobs.cancel(job.id)
    runner.stop()


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def pid_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def logged(client: LocalClient, job_id: str, label: str) -> int | None:
    """The number a cell printed after ``label`` (a pid), once it is in the job's logs."""
    for chunk in client.jobs.logs(job_id):
        for line in chunk.text.splitlines():
            if line.startswith(label):
                return int(line.split()[-1])
    return None


def task_worker(job_id: str) -> int:
    """The process id of the Ray worker running ``job_id``'s task (Ray names it after it)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if f"lepton-lab job {job_id}" in " ".join(process.info["cmdline"] or ()):
            found.append(process.pid)
    assert len(found) == 1, found
    return found[0]


def pools(runner: RunnerThread) -> list[Any]:
    """The runner's kernel pool actors, one per node."""
    return list(runner.runner._executor._pools.values())  # type: ignore[attr-defined]


def pool_stats(runner: RunnerThread) -> list[dict[str, Any]]:
    import ray

    return [ray.get(actor.stats.remote(), timeout=60) for actor in pools(runner)]


def wait_warm(runner: RunnerThread) -> None:
    """Until both nodes' pools have a warm python3 kernel ready."""

    def warm() -> bool:
        stats = pool_stats(runner)
        return len(stats) == 2 and all(s["ready"].get("python3", 0) >= 1 for s in stats)

    wait_until(
        warm,
        120,
        "warm kernels on every node",
    )


def output_text(client: LocalClient, job_id: str) -> str:
    return json.dumps(nbformat.reads(client.jobs.notebook(job_id).decode(), as_version=4).cells)


def test_success_with_parameters_logs_records_and_manifest(
    ray_cluster: LoopbackRayCluster, workspace: Workspace
) -> None:
    # On SQLite and, when configured, PostgreSQL: the worker's kernel reaches the same
    # database through the workspace environment the runner passes along.
    client = LocalClient(workspace, user="alice")
    runner = RunnerThread(workspace, executor="ray", address=ray_cluster.address).start()
    try:
        job = client.jobs.submit(NOTEBOOKS / "ok.ipynb", {"x": 4}, seed=99).wait(timeout=120)
    finally:
        runner.stop()
    info = job.info
    assert info.status == "succeeded", info.reason
    assert info.cells_done == info.cells_total > 0
    assert job.outputs == {"answer": 42}
    assert "hello stdout" in job.logs() and "hello stderr" in job.logs()
    kernel = json.loads(job.logs().split("INFO ", 1)[1].splitlines()[0])
    assert kernel["cuda"] == "" and kernel["seed"] == "99" and kernel["job_id"] == info.id
    manifest = info.manifest
    assert manifest["parameters"] == {"x": 4} and manifest["seed"] == 99
    ray = manifest["ray"]
    assert ray["node_ip"] == "127.0.0.1" and ray["gpu_ids"] == [] and len(ray["node_id"]) == 56
    assert manifest["gpus"] == [] and manifest["python"] and manifest["packages"]
    assert Path(manifest["staging"]) == workspace.settings.home / "jobs" / info.id
    assert "x = 4" in output_text(client, info.id)  # papermill's injected parameters cell


def test_failures_end_as_with_the_local_executor(
    client: LocalClient, ray_runner: RunnerThread
) -> None:
    ids = {name: client.jobs.submit(NOTEBOOKS / f"{name}.ipynb").id for name in OUTCOMES}
    timed_out = client.jobs.submit(NOTEBOOKS / "infinite_loop.ipynb", timeout=3).id
    for name, job_id in ids.items():
        info = client.jobs.wait(job_id, timeout=120)
        status, kind, text = OUTCOMES[name]
        assert (info.status, (info.reason or {}).get("kind")) == (status, kind), (name, info.reason)
        assert text in output_text(client, job_id), name
    marked = nbformat.reads(client.jobs.notebook(ids["raises"]).decode(), as_version=4)
    failed = [c for c in marked.cells if c.metadata.get("papermill", {}).get("status") == "failed"]
    assert len(failed) == 1 and "An Exception was encountered" in json.dumps(marked.cells)
    info = client.jobs.wait(timed_out, timeout=120)
    assert info.status == "failed" and info.reason is not None
    assert info.reason["kind"] == "timeout" and "start" in output_text(client, timed_out)


def test_cancel_stops_the_task_and_its_kernel(
    client: LocalClient, ray_runner: RunnerThread, tmp_path: Path
) -> None:
    notebook = tmp_path / "sleepy.ipynb"
    notebook.write_bytes(
        make_notebook("import os\nprint('kernel pid', os.getpid())", "import time\ntime.sleep(600)")
    )
    job = client.jobs.submit(notebook)
    wait_until(lambda: logged(client, job.id, "kernel pid") is not None, 120, "the kernel")
    kernel = logged(client, job.id, "kernel pid")
    assert kernel is not None and pid_alive(kernel)
    started = time.monotonic()
    client.jobs.cancel(job.id)
    info = client.jobs.wait(job.id, timeout=60)
    assert info.status == "cancelled" and info.reason is not None, info.reason
    assert info.reason["kind"] == "cancelled" and "cell 1" in info.reason["message"]
    assert time.monotonic() - started < 15  # the task stopped its kernel, no forced kill
    assert info.output_sha256 and "kernel pid" in output_text(client, job.id)
    wait_until(lambda: not pid_alive(kernel), 10, "the cancelled job's kernel to be gone")


def test_gpus_come_from_ray_across_both_nodes(
    client: LocalClient, ray_runner: RunnerThread
) -> None:
    cell = (
        "import os, time\nprint('CUDA', os.environ['CUDA_VISIBLE_DEVICES'], flush=True)\n"
        "time.sleep(3)  # overlap, so that the three jobs need every GPU of the cluster"
    )
    notebook = Path(client.workspace.settings.home) / "gpu.ipynb"
    notebook.write_bytes(make_notebook(cell))
    jobs = [client.jobs.submit(notebook, gpus=1) for _ in range(3)]
    infos = [client.jobs.wait(job.id, timeout=120) for job in jobs]
    assert [i.status for i in infos] == ["succeeded"] * 3, [i.reason for i in infos]
    placed = set()
    for info in infos:
        ray = info.manifest["ray"]
        seen = next(c.text for c in client.jobs.logs(info.id) if c.text.startswith("CUDA"))
        assert seen.split()[1] == ray["cuda_visible_devices"] == str(ray["gpu_ids"][0])
        assert info.devices == ray["gpu_ids"] == info.manifest["devices"]
        assert [g["name"] for g in info.manifest["gpus"]] == ["simulated GPU"]
        placed.add((ray["node_id"], ray["gpu_ids"][0]))
    assert len(placed) == 3  # three distinct GPUs ...
    assert len({node for node, _ in placed}) == 2  # ... on both nodes


def test_more_gpus_than_any_node_fails_at_once(
    client: LocalClient, ray_cluster: LoopbackRayCluster, ray_runner: RunnerThread
) -> None:
    started = time.monotonic()
    two = client.jobs.submit(NOTEBOOKS / "sys_exit_0.ipynb", gpus=2)  # only the head fits
    three = client.jobs.submit(NOTEBOOKS / "ok.ipynb", gpus=3)  # 3 in all, but 2 per node
    info = client.jobs.wait(three.id, timeout=60)
    assert time.monotonic() - started < 30
    assert info.status == "failed" and info.reason is not None
    assert info.reason["kind"] == "unschedulable"
    assert info.reason["message"].startswith(
        f"job asks for 3 GPUs; the largest node of the Ray cluster at {ray_cluster.address} has 2"
    )
    assert info.output_sha256  # the unexecuted snapshot is kept as its notebook
    placed = client.jobs.wait(two.id, timeout=120)
    assert placed.status == "succeeded" and sorted(placed.manifest["ray"]["gpu_ids"]) == [0, 1]


def first_attempt_hangs(path: Path) -> Path:
    """A notebook that prints its kernel's pid, then sleeps two minutes on the first attempt
    only (the ``marker`` parameter names the file that tells attempts apart)."""
    path.write_bytes(
        make_notebook(
            "import os\nprint('kernel pid', os.getpid(), flush=True)",
            "import pathlib, time\nfirst = not pathlib.Path(marker).exists()\n"
            "pathlib.Path(marker).touch()\nif first:\n    time.sleep(120)",
            parameters="marker = ''",
        )
    )
    return path


def test_worker_killed_mid_job_is_retried_or_lost(
    client: LocalClient, ray_runner: RunnerThread, tmp_path: Path
) -> None:
    marker = tmp_path / "first-attempt"
    notebook = first_attempt_hangs(tmp_path / "dies.ipynb")

    def submit(retries: int) -> str:
        mine = {"marker": f"{marker}-{retries}"}  # only each job's first attempt sleeps
        return client.jobs.submit(notebook, mine, retries=retries).id

    retried, lost = submit(1), submit(0)
    pids: dict[str, tuple[int, int]] = {}
    for job_id in (retried, lost):
        wait_until(lambda j=job_id: logged(client, j, "kernel pid") is not None, 120, "the pids")
        kernel = logged(client, job_id, "kernel pid")
        worker = task_worker(job_id)
        assert kernel is not None and psutil.Process(worker).name().startswith("ray::")
        pids[job_id] = (worker, kernel)
        os.kill(worker, signal.SIGKILL)
    done = {j: client.jobs.wait(j, timeout=120) for j in (retried, lost)}
    assert done[retried].status == "succeeded" and done[retried].attempt == 2
    assert "Ray worker died (WorkerCrashedError)" in done[retried].manifest["lost_attempts"][0]
    assert done[lost].status == "lost" and done[lost].reason is not None
    assert "Ray worker died" in done[lost].reason["message"]
    assert "no retries left" in done[lost].reason["message"]
    # The dead workers' kernels do not linger: their node's pool actor sees the task gone.
    kernels = [kernel for _, kernel in pids.values()]
    wait_until(lambda: not any(pid_alive(p) for p in kernels), 30, "orphaned kernels to exit")


def test_nothing_listens_or_connects_beyond_loopback(
    ray_cluster: LoopbackRayCluster, client: LocalClient, ray_runner: RunnerThread
) -> None:
    # A job first, so that workers and the runner's mailbox are up too.
    assert client.jobs.submit(NOTEBOOKS / "sys_exit_0.ipynb").wait(timeout=120).info.status == (
        "succeeded"
    )
    processes = ray_cluster.processes()
    names = {p.name() for p in processes}
    assert {"gcs_server", "raylet"} <= names and len(processes) >= 8, names
    sockets = []
    for process in [*processes, psutil.Process()]:
        try:
            sockets += process.net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
    listening = [s for s in sockets if s.status == psutil.CONN_LISTEN]
    assert listening and all(_loopback(s.laddr.ip) for s in listening), listening
    peers = [s.raddr.ip for s in sockets if s.raddr]
    assert peers and all(_loopback(ip) for ip in peers), peers


def _loopback(ip: str) -> bool:
    address = ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)  # [::ffff:127.0.0.1], as gRPC binds
    return bool((mapped or address).is_loopback)


def test_cli_runner_with_the_ray_executor(
    ray_cluster: LoopbackRayCluster, local_workspace: Workspace, tmp_path: Path
) -> None:
    client = LocalClient(local_workspace, user="alice")
    job = client.jobs.submit(NOTEBOOKS / "ok.ipynb", {"x": 2})
    command = [sys.executable, "-m", "lepton_lab.cli", "--home", str(local_workspace.settings.home),
               "runner", "--executor", "ray", "--address", ray_cluster.address,
               "--max-jobs", "1"]  # fmt: skip
    # Without the variables the runner sets itself for a loopback address.
    unset = ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_ENABLE_AUTO_CONNECT")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ray executor" in done.stderr
    info: JobInfo = client.jobs.get(job.id)
    assert info.status == "succeeded" and info.manifest["ray"]["node_ip"] == "127.0.0.1"
    assert info.manifest["attempt"] == 1


# -- warm kernels: each node's pool actor ----------------------------------------------

PROBE = (
    "import os, psutil\n"
    "print('kernel pid', os.getpid(), flush=True)\n"
    "print('kernel started', psutil.Process().create_time(), flush=True)\n"
    "print('leftover', 'secret' in globals() or 'LEFTOVER' in os.environ, flush=True)\n"
    "launch = open(f'/proc/{os.getpid()}/environ', 'rb').read().split(b'\\0')\n"
    "print('launched with job id', any(v.startswith(b'LEPTON_LAB_JOB_ID=') for v in launch))",
    "secret = 'job data'\nos.environ['LEFTOVER'] = 'job data'",
)


def probed(client: LocalClient, job_id: str) -> dict[str, str]:
    """What the PROBE notebook printed, by label."""
    text = "".join(c.text for c in client.jobs.logs(job_id))
    labels = ("kernel pid", "kernel started", "leftover", "launched with job id")
    return {
        label: line.removeprefix(label).strip()
        for line in text.splitlines()
        for label in labels
        if line.startswith(label + " ")
    }


def test_jobs_take_warm_kernels_each_its_own(
    client: LocalClient, ray_runner: RunnerThread, tmp_path: Path
) -> None:
    notebook = tmp_path / "probe.ipynb"
    notebook.write_bytes(make_notebook(*PROBE))
    seen: list[dict[str, str]] = []
    for _ in range(3):  # one at a time: each finds its node's pool filled again
        wait_warm(ray_runner)
        info = client.jobs.submit(notebook).wait(timeout=120).info
        assert info.status == "succeeded", info.reason
        assert info.manifest["ray"]["warm_kernel"] is True
        printed = probed(client, info.id)
        assert isinstance(info.started_at, datetime)
        # Started before the runner claimed the job: a pre-started kernel.
        assert float(printed["kernel started"]) < info.started_at.timestamp()
        seen.append(printed)
    burst = [client.jobs.submit(notebook) for _ in range(3)]  # more than the pools hold
    for job in burst:
        info = job.wait(timeout=120).info
        assert info.status == "succeeded", info.reason
        seen.append(probed(client, info.id))
    assert len({p["kernel pid"] for p in seen}) == len(seen) == 6  # never one kernel twice
    # Nothing of an earlier job's reached a later one, nor the job's id the launch.
    assert {p["leftover"] for p in seen} == {"False"}
    assert {p["launched with job id"] for p in seen} == {"False"}
    stats = pool_stats(ray_runner)
    assert sum(s["warm"] for s in stats) >= 3 and all(s["lent"] == [] for s in stats)


def test_runner_stop_ends_the_pools_and_their_kernels(
    ray_cluster: LoopbackRayCluster, local_workspace: Workspace
) -> None:
    runner = RunnerThread(local_workspace, executor="ray", address=ray_cluster.address).start()
    try:
        wait_warm(runner)
        actors = [psutil.Process(s["node_pid"]) for s in pool_stats(runner)]
        kernels = [k for actor in actors for k in actor.children(recursive=True)]
        assert len(actors) == 2 and len(kernels) >= 2
    finally:
        runner.stop()
    gone = [*actors, *kernels]
    wait_until(lambda: not any(pid_alive(p.pid) for p in gone), 30, "the pools to be gone")


def test_a_job_whose_pool_actor_dies_is_retried_and_the_pool_comes_back(
    client: LocalClient, ray_runner: RunnerThread, tmp_path: Path
) -> None:
    notebook = first_attempt_hangs(tmp_path / "sleepy.ipynb")
    wait_warm(ray_runner)
    job = client.jobs.submit(notebook, {"marker": str(tmp_path / "first")}, retries=1)
    wait_until(lambda: logged(client, job.id, "kernel pid") is not None, 120, "the kernel")
    kernel = logged(client, job.id, "kernel pid")
    assert kernel is not None
    actor = psutil.Process(kernel).parent()
    if actor is not None and "fork server" in " ".join(actor.cmdline()):
        actor = actor.parent()  # a warm kernel is forked from the actor's fork server
    assert actor is not None and "NodePool" in " ".join(actor.cmdline()), actor.cmdline()
    actor.kill()
    info = client.jobs.wait(job.id, timeout=180)
    assert info.status == "succeeded" and info.attempt == 2, info.reason
    assert "kernel pool actor" in info.manifest["lost_attempts"][0]
    wait_until(lambda: not pid_alive(kernel), 30, "the first attempt's kernel to be gone")
    again = client.jobs.submit(NOTEBOOKS / "sys_exit_0.ipynb").wait(timeout=120).info
    assert again.status == "succeeded", again.reason
    wait_warm(ray_runner)  # Ray restarted the actor, and the runner had its pool filled
    assert actor.pid not in {s["node_pid"] for s in pool_stats(ray_runner)}
