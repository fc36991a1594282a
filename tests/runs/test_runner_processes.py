"""Runners as separate processes: killed mid-job, and racing each other over one queue."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lepton_lab.config import Settings
from lepton_lab.runs.info import JobInfo
from lepton_lab.workspace import Workspace
from tests.runner_support import RunnerThread
from tests.runs.helpers import make_notebook

LEASE = 1.5


def start_runner(workspace: Workspace, log: Path, *options: str) -> subprocess.Popen[bytes]:
    """``lepton-lab runner`` on the workspace's database, with short leases."""
    env = {**os.environ, "LEPTON_LAB_JOB_LEASE": str(LEASE), "LEPTON_LAB_AUTO_RUNNER": "0"}
    url = workspace.db.url.render_as_string(hide_password=False)
    command = [sys.executable, "-m", "lepton_lab.cli", "--home", str(workspace.settings.home),
               "--database-url", url, "runner", "--concurrency", "2", *options]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Runner processes to kill if a test leaves them running."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def wait_until(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_runner_killed_mid_job(
    workspace: Workspace, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    actor = workspace.actor()
    marker = tmp_path / "first-attempt-started"
    notebook = make_notebook(
        "import os, pathlib, time\nprint('kernel pid', os.getpid(), flush=True)",
        "first = not pathlib.Path(marker).exists()\npathlib.Path(marker).touch()\n"
        "if first:\n    time.sleep(120)",
        parameters=f"marker = {str(marker)!r}",
    )

    def submit(retries: int) -> JobInfo:
        # A marker of its own: only each job's first attempt sleeps.
        mine = {"marker": f"{marker}-{retries}"}
        return workspace.jobs.submit(
            actor, notebook=notebook, notebook_name="sleepy.ipynb", retries=retries, parameters=mine
        )

    retried, lost = submit(1), submit(0)
    processes.append(start_runner(workspace, tmp_path / "runner.log"))
    running = lambda: all(  # noqa: E731
        workspace.jobs.get(actor, j.id).cells_done >= 2 for j in (retried, lost)
    )
    wait_until(running, 120, "both jobs to run their first cells")
    pids = [int(c.text.split()[-1]) for j in (retried, lost)
            for c in workspace.jobs.logs(actor, j.id) if "kernel pid" in c.text]  # fmt: skip
    processes[0].send_signal(signal.SIGKILL)
    processes[0].wait(10)

    settings = Settings(home=workspace.settings.home, database_url=workspace.settings.database_url,
                        job_lease_seconds=LEASE, auto_start_runner=False)  # fmt: skip
    other = Workspace(settings)
    runner = RunnerThread(other).start()
    try:
        done = {j.id: _wait(workspace, j.id) for j in (retried, lost)}
    finally:
        runner.stop()
        other.close()
    assert done[retried.id].status == "succeeded" and done[retried.id].attempt == 2
    assert "lease expired" in done[retried.id].manifest["lost_attempts"][0]
    assert done[lost.id].status == "lost" and done[lost.id].reason is not None
    assert "no retries left" in done[lost.id].reason["message"]
    # The dead runner's kernels do not linger: they notice their parent is gone.
    assert len(pids) == 2
    wait_until(lambda: not any(_pid_alive(p) for p in pids), 30, "orphaned kernels to exit")


def _wait(workspace: Workspace, job_id: str) -> JobInfo:
    actor = workspace.actor()
    wait_until(lambda: workspace.jobs.get(actor, job_id).done, 120, f"job {job_id}")
    return workspace.jobs.get(actor, job_id)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_two_runners_race_over_200_jobs_each_runs_once(
    workspace: Workspace, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    actor = workspace.actor()
    ledger = tmp_path / "ran.txt"
    notebook = make_notebook(
        "import os\nfd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT)\n"
        "os.write(fd, f'{i}\\n'.encode())\nos.close(fd)",
        parameters=f"i = 0\nledger = {str(ledger)!r}",
    )
    jobs = [
        workspace.jobs.submit(
            actor, notebook=notebook, notebook_name="r.ipynb", parameters={"i": i}
        )
        for i in range(200)
    ]
    for n in range(2):
        processes.append(start_runner(workspace, tmp_path / f"runner-{n}.log", "--idle-exit", "3"))
    for process in processes:
        process.wait(800)
    infos = [workspace.jobs.get(actor, j.id) for j in jobs]
    assert [i.status for i in infos] == ["succeeded"] * 200
    assert {i.attempt for i in infos} == {1}
    assert sorted(int(line) for line in ledger.read_text().split()) == list(range(200))
    assert len({i.runner for i in infos}) == 2  # both runners took jobs
