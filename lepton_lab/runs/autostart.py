"""Start a job runner on demand, so that a job submitted anywhere does run.

The server extension calls :func:`ensure_runner` when it starts (if jobs are waiting) and
the services call it after every submit.  It looks for a live runner in the database (one
that heartbeated within three leases) and, when there is none, starts ``lepton-lab
runner`` as a detached process of its own session: it survives the notebook or server
that started it and exits after ten idle minutes.  A marker file keeps a burst of
submits from several processes from starting a runner each.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from lepton_lab.store.tables import Job, Runner, utcnow

if TYPE_CHECKING:
    from lepton_lab.workspace import Workspace

__all__ = ["IDLE_EXIT", "alive_runners", "ensure_runner"]

log = logging.getLogger("lepton_lab.runner")

#: Seconds an on-demand runner waits for work before exiting.
IDLE_EXIT = 600
# Long enough for a new runner to start and heartbeat once.
_SPAWN_GRACE = 60.0


def alive_runners(workspace: Workspace) -> int:
    """How many runners heartbeated recently (within three leases)."""
    since = utcnow() - timedelta(seconds=3 * workspace.settings.job_lease_seconds)
    with workspace.db.read() as session:
        count = session.scalar(
            select(func.count()).where(Runner.heartbeat_at > since, Runner.stopped_at.is_(None))
        )
    return int(count or 0)


def _queued(workspace: Workspace) -> bool:
    with workspace.db.read() as session:
        return session.scalar(select(Job.id).where(Job.status == "queued").limit(1)) is not None


def ensure_runner(workspace: Workspace, *, only_if_queued: bool = False) -> bool:
    """Start a runner when none is alive; True when one was started.

    ``only_if_queued``: and only when a job is waiting (a server starting up should not
    keep a runner and its warm kernels for a workspace that runs no jobs).
    """
    if alive_runners(workspace) or (only_if_queued and not _queued(workspace)):
        return False
    marker = workspace.settings.home / "runner.starting"
    try:
        if time.time() - marker.stat().st_mtime < _SPAWN_GRACE:
            return False  # another process started one a moment ago
    except FileNotFoundError:
        pass
    marker.touch()
    logs = workspace.settings.home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    from lepton_lab.runs.runner import workspace_env

    env = {**os.environ, **workspace_env(workspace)}
    env.pop("LEPTON_LAB_AUTO_RUNNER", None)
    # The server's executor traits reach the runner the way the environment would.
    env["LEPTON_LAB_EXECUTOR"] = workspace.settings.executor
    if workspace.settings.ray_address:
        env["LEPTON_LAB_RAY_ADDRESS"] = workspace.settings.ray_address
    command = [sys.executable, "-m", "lepton_lab.cli", "runner", "--idle-exit", str(IDLE_EXIT)]
    with open(logs / "runner.log", "ab") as out:
        subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workspace.settings.home,
            start_new_session=True,  # outlives the notebook or server that started it
        )
    log.info("started a job runner for %s (log: %s)", workspace.settings.home, logs)
    return True
