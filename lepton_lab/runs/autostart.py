"""Start a job runner when one is needed, so that every queued job does run.

Two callers: the services after every submit (:meth:`Workspace.runner_hook`), and the
server extension every few seconds (:func:`recover`, off its event loop), so that jobs
whose runner died run again without anyone submitting.  A runner is alive while its last
heartbeat is younger than one lease (:func:`~lepton_lab.runs.leases.alive_runner`).  When
none is, :func:`recover` reclaims the expired leases (requeued while retries remain, else
lost) and :func:`ensure_runner` starts ``python -m lepton_lab.runs`` as a detached process
of its own session: it survives the notebook or server that started it and exits after
ten idle minutes.  A marker file keeps a burst of submits from several processes from
starting a runner each.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from lepton_lab.runs.leases import Leases, alive_runner, check_interval
from lepton_lab.store.tables import Job, Runner

if TYPE_CHECKING:
    from lepton_lab.config import Settings
    from lepton_lab.workspace import Workspace

__all__ = ["IDLE_EXIT", "alive_runners", "ensure_runner", "recover", "recover_interval"]

log = logging.getLogger("lepton_lab.runner")

#: Seconds an on-demand runner waits for work before exiting.
IDLE_EXIT = 600
# Long enough for a new runner to start and heartbeat once.
_SPAWN_GRACE = 60.0
# Who reclaims expired leases when no runner is alive (the job events name it).
_SWEEPER = "lepton-lab-server"


def recover_interval(settings: Settings) -> float:
    """Seconds between the server's checks: as between a runner's sweeps (a third of the
    lease, at most five)."""
    return check_interval(settings.job_lease_seconds)


def alive_runners(workspace: Workspace) -> int:
    """How many runners heartbeated within the last lease."""
    lease = timedelta(seconds=workspace.settings.job_lease_seconds)
    with workspace.db.read() as session:
        count = session.scalar(select(func.count()).where(alive_runner(lease)))
    return int(count or 0)


def recover(workspace: Workspace, *, start: bool = True) -> bool:
    """With no runner alive: reclaim expired leases, then (``start``) start a runner if
    jobs wait.

    True when a runner was started.  The server extension calls this periodically; a
    live runner reclaims expired leases itself.
    """
    if alive_runners(workspace):
        return False
    lease = workspace.settings.job_lease_seconds
    changed = Leases(workspace.db, _SWEEPER, lease_seconds=lease).sweep()
    if changed:
        log.info("reclaimed the expired leases of job(s) %s", ", ".join(changed))
    return start and ensure_runner(workspace, only_if_queued=True)


def _queued(workspace: Workspace) -> bool:
    with workspace.db.read() as session:
        return session.scalar(select(Job.id).where(Job.status == "queued").limit(1)) is not None


def _starting(workspace: Workspace, marker: Path) -> bool:
    """Whether a runner was started a moment ago and has not registered yet."""
    try:
        started = marker.stat().st_mtime
    except FileNotFoundError:
        return False
    if time.time() - started >= _SPAWN_GRACE:
        return False
    # One that registered since, and is not alive now, died: its grace is over.
    since = datetime.fromtimestamp(started, UTC)
    with workspace.db.read() as session:
        registered = session.scalar(select(Runner.id).where(Runner.started_at >= since).limit(1))
    return registered is None


def ensure_runner(workspace: Workspace, *, only_if_queued: bool = False) -> bool:
    """Start a runner when none is alive; True when one was started.

    ``only_if_queued``: and only when a job is waiting (a server starting up should not
    keep a runner and its warm kernels for a workspace that runs no jobs).
    """
    if alive_runners(workspace) or (only_if_queued and not _queued(workspace)):
        return False
    marker = workspace.settings.home / "runner.starting"
    if _starting(workspace, marker):
        return False  # another process started one a moment ago
    marker.touch()
    logs = workspace.settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "lepton_lab.runs", "--idle-exit", str(IDLE_EXIT)]
    with open(logs / "runner.log", "ab") as out:
        subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_runner_env(workspace),
            cwd=workspace.settings.home,
            start_new_session=True,  # outlives the notebook or server that started it
        )
    log.info("started a job runner for %s (log: %s)", workspace.settings.home, logs)
    return True


def _runner_env(workspace: Workspace) -> dict[str, str]:
    """The environment that names this workspace and its runner settings to the runner."""
    from lepton_lab.runs.link import workspace_env

    settings = workspace.settings
    env = {**os.environ, **workspace_env(workspace)}
    env.pop("LEPTON_LAB_AUTO_RUNNER", None)
    # Settings given by the server's traits or in code reach the runner as the
    # environment would: its leases as long as those the server judges by.
    env["LEPTON_LAB_EXECUTOR"] = settings.executor
    env["LEPTON_LAB_JOB_LEASE"] = str(settings.job_lease_seconds)
    if settings.ray_address:
        env["LEPTON_LAB_RAY_ADDRESS"] = settings.ray_address
    return env
