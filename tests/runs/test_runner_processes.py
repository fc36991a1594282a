"""Runners as separate processes: killed mid-job, and racing each other over one queue.

A killed runner's jobs run again with no further submit, taken up by another live runner
or by the server extension's periodic check (which starts a runner), within the lease
time plus a few seconds: requeued while retries remain, else lost.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from lepton_lab.config import Settings
from lepton_lab.runs.info import JobInfo
from lepton_lab.server.app import LeptonLabApp
from lepton_lab.store.tables import Runner
from lepton_lab.workspace import Workspace
from tests.runner_support import RunnerThread
from tests.runs.helpers import make_notebook

LEASE = 1.5
# What a dead runner's jobs may wait past its lease before they are requeued or lost:
# one check interval (a third of the lease) and room for a loaded test machine.
RECLAIM_SLACK = 3.0


def start_runner(
    workspace: Workspace, log: Path, *options: str, lease: float = LEASE
) -> subprocess.Popen[bytes]:
    """``lepton-lab runner`` on the workspace's database, with short leases by default."""
    env = {**os.environ, "LEPTON_LAB_JOB_LEASE": str(lease), "LEPTON_LAB_AUTO_RUNNER": "0"}
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


def _sleepy_jobs(workspace: Workspace, marker: Path) -> tuple[JobInfo, JobInfo]:
    """Two jobs whose first attempt sleeps (printing its kernel's pid): retries 1 and 0."""
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
            workspace.actor(), notebook=notebook, notebook_name="sleepy.ipynb",
            retries=retries, parameters=mine,
        )  # fmt: skip

    return submit(1), submit(0)


def _kernel_pids(workspace: Workspace, jobs: tuple[JobInfo, ...]) -> list[int]:
    """Wait until every job ran its first cells; the pids of their kernels."""
    actor = workspace.actor()
    running = lambda: all(  # noqa: E731
        workspace.jobs.get(actor, j.id).cells_done >= 2 for j in jobs
    )
    wait_until(running, 120, "the jobs to run their first cells")

    def pids() -> list[int]:
        return [int(c.text.split()[-1]) for j in jobs
                for c in workspace.jobs.logs(actor, j.id) if "kernel pid" in c.text]  # fmt: skip

    # A cell's output reaches the job's log a moment after the cell counts as done.
    wait_until(lambda: len(pids()) == len(jobs), 30, "each kernel's pid in its job's log")
    return pids()


def _reclaimed_after(workspace: Workspace, retried: JobInfo, lost: JobInfo, killed: float) -> float:
    """Seconds from the kill until the retried job left its first attempt and the other
    was lost."""
    actor = workspace.actor()

    def reclaimed() -> bool:
        again = workspace.jobs.get(actor, retried.id)
        return (again.status == "queued" or again.attempt >= 2) and (
            workspace.jobs.get(actor, lost.id).status == "lost"
        )

    wait_until(reclaimed, 60, "the dead runner's jobs to be reclaimed")
    return time.monotonic() - killed


def _check_outcomes(done: dict[str, JobInfo], retried: JobInfo, lost: JobInfo) -> None:
    assert done[retried.id].status == "succeeded" and done[retried.id].attempt == 2
    assert "lease expired" in done[retried.id].manifest["lost_attempts"][0]
    assert done[lost.id].status == "lost" and done[lost.id].reason is not None
    assert "no retries left" in done[lost.id].reason["message"]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_runner_killed_mid_job_a_live_runner_takes_over(
    workspace: Workspace, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    retried, lost = _sleepy_jobs(workspace, tmp_path / "first-attempt-started")
    processes.append(start_runner(workspace, tmp_path / "runner.log"))
    pids = _kernel_pids(workspace, (retried, lost))

    settings = Settings(home=workspace.settings.home, database_url=workspace.settings.database_url,
                        job_lease_seconds=LEASE, auto_start_runner=False)  # fmt: skip
    other = Workspace(settings)
    runner = RunnerThread(other).start()  # alive before the kill, and idle: nothing queued
    try:
        processes[0].send_signal(signal.SIGKILL)
        killed = time.monotonic()
        processes[0].wait(10)
        # Nobody submits: the live runner's periodic sweep finds the expired leases.
        assert _reclaimed_after(workspace, retried, lost, killed) < LEASE + RECLAIM_SLACK
        done = {j.id: _wait(workspace, j.id) for j in (retried, lost)}
    finally:
        runner.stop()
        other.close()
    _check_outcomes(done, retried, lost)
    assert done[retried.id].runner == runner.runner.id
    # The dead runner's kernels do not linger: they notice their parent is gone.
    assert len(pids) == 2
    wait_until(lambda: not any(_pid_alive(p) for p in pids), 30, "orphaned kernels to exit")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_runner_killed_mid_job_the_server_starts_another(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEPTON_LAB_JOB_LEASE", str(LEASE))
    monkeypatch.setenv("LEPTON_LAB_AUTO_RUNNER", "1")
    retried, lost = _sleepy_jobs(workspace, tmp_path / "first-attempt-started")
    url = workspace.db.url.render_as_string(hide_password=False)
    app = LeptonLabApp(home=str(workspace.settings.home), database_url=url, start_runner=True)
    # The extension's periodic check, in its own thread: it starts a runner for the queued
    # jobs (python -m lepton_lab.runs, detached), as no submit started one here.
    app.initialize_settings()
    try:
        _kernel_pids(workspace, (retried, lost))
        first = _runner_pids(workspace)
        assert len(first) == 1
        dead = workspace.jobs.get(workspace.actor(), retried.id).runner
        os.kill(first[0], signal.SIGKILL)
        killed = time.monotonic()
        # Nobody submits: the server reclaims the expired leases and starts a runner.
        assert _reclaimed_after(workspace, retried, lost, killed) < LEASE + RECLAIM_SLACK
        done = {j.id: _wait(workspace, j.id) for j in (retried, lost)}
    finally:
        asyncio.run(app.stop_extension())
        for pid in _runner_pids(workspace):
            os.kill(pid, signal.SIGKILL)
    _check_outcomes(done, retried, lost)
    assert done[retried.id].runner not in ("", dead)


def _runner_pids(workspace: Workspace) -> list[int]:
    """The processes of the runners registered and not stopped, that are still there."""
    with workspace.db.read() as session:
        pids = session.scalars(select(Runner.pid).where(Runner.stopped_at.is_(None))).all()
    return [pid for pid in pids if _pid_alive(pid)]


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
    # A lease of the default length: this race is about claims, not recovery, and a 1.5 s
    # lease can expire under a loaded test machine's stalls (the job is then run again,
    # as a lease promises, which this test would count as a second run).
    for n in range(2):
        log = tmp_path / f"runner-{n}.log"
        processes.append(start_runner(workspace, log, "--idle-exit", "3", lease=30))
    for process in processes:
        process.wait(800)
    infos = [workspace.jobs.get(actor, j.id) for j in jobs]
    assert [i.status for i in infos] == ["succeeded"] * 200
    assert {i.attempt for i in infos} == {1}
    assert sorted(int(line) for line in ledger.read_text().split()) == list(range(200))
    assert len({i.runner for i in infos}) == 2  # both runners took jobs


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("fork", [True, False], ids=["forked", "exec"])
def test_a_runners_warm_kernels_are_forked_unless_told_not_to(
    workspace: Workspace, tmp_path: Path, processes: list[subprocess.Popen[bytes]], fork: bool
) -> None:
    notebook = make_notebook(
        "import json, os\n"
        "parent = open(f'/proc/{os.getppid()}/cmdline').read().replace(chr(0), ' ')\n"
        "print('PARENT', json.dumps([os.getppid(), parent]), flush=True)"
    )
    option = "--fork-kernels" if fork else "--no-fork-kernels"
    runner = start_runner(workspace, tmp_path / "runner.log", option, "--max-jobs", "1")
    processes.append(runner)
    actor = workspace.actor()
    job = workspace.jobs.submit(actor, notebook=notebook, notebook_name="parent.ipynb")
    assert _wait(workspace, job.id).status == "succeeded"
    said = "".join(c.text for c in workspace.jobs.logs(actor, job.id))
    parent, command = json.loads(said.split("PARENT", 1)[1].splitlines()[0])
    if fork:  # the runner's fork server, not the runner
        assert parent != runner.pid and "lepton-lab kernel fork server" in command
    else:
        assert parent == runner.pid and "lepton_lab.cli" in command
