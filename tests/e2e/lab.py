"""The real things the browser test drives: a seeded workspace, a job runner, JupyterLab.

The runner and JupyterLab are started as ``lepton-lab`` processes, each in a session of
its own, and stopped by :func:`stop` (gracefully, then by force), so that nothing they
started outlives the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import requests

from lepton_lab.client import LocalClient
from lepton_lab.config import Settings
from lepton_lab.demo import seed
from lepton_lab.training import train
from lepton_lab.workspace import Workspace

__all__ = [
    "MODEL",
    "USER",
    "Lab",
    "client_for",
    "free_port",
    "lab_environment",
    "seed_workspace",
    "start",
    "start_lab",
    "stop",
    "tail",
    "wait_until",
]

#: Who the workspace, the kernels and the runner act as.
USER = "alice"
#: The model the welcome notebook loads at ``@production``.
MODEL = "medical/diagnosis"
#: JupyterLab settings that keep the page deterministic: the notebook's kernel starts
#: without a "Select Kernel" dialog, every cell is attached to the DOM (the default
#: windowing leaves off-screen cells unrendered, so their text reads empty), and no "fetch
#: Jupyter news?" toast covers the screenshots.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "autoStartDefaultKernel": True,
        "windowingMode": "none",
    },
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: where to point the browser, and the workspace it serves."""

    url: str
    token: str
    home: Path
    log: Path

    def notebook_url(self, name: str) -> str:
        """The URL that opens notebook ``name`` (in the served folder) in JupyterLab."""
        return f"{self.url}/lab/tree/{name}?token={self.token}&reset"

    def kernel_idle(self, name: str) -> bool:
        """Whether notebook ``name`` has a kernel, started and idle."""
        sessions = requests.get(f"{self.url}/api/sessions", params={"token": self.token}, timeout=5)
        sessions.raise_for_status()
        return any(
            s["path"] == name and s["kernel"]["execution_state"] == "idle" for s in sessions.json()
        )


def client_for(home: Path) -> tuple[Workspace, LocalClient]:
    """Alice's client on workspace ``home`` (close the workspace when done)."""
    workspace = Workspace(Settings(home=home, user=USER, auto_start_runner=False))
    return workspace, LocalClient(workspace)


def seed_workspace(home: Path) -> str:
    """The demo's teams and datasets, a model in two versions, the first in ``production``,
    and one queued job; its id.

    The welcome notebook loads ``medical/diagnosis@production`` and monitors the latest
    job: both must exist before it runs.  Two quick families make two versions, so that
    the model gallery has a history to draw.
    """
    workspace, client = client_for(home)
    try:
        seed(client)
        for family in ("logistic_regression", "hist_gradient_boosting"):
            result = train(client.datasets, "medical/breast-cancer", "target", model=family)
            client.models.register(result, MODEL)
        client.models.promote(f"{MODEL}@1", "production")
        return client.jobs.submit("dataset-report", {"dataset": "agri/wine"}).id
    finally:
        workspace.close()


def lab_environment(home: Path, scratch: Path, token: str) -> dict[str, str]:
    """The environment of the runner, JupyterLab and its kernels: this workspace only.

    Jupyter's runtime files and JupyterLab's settings and workspaces go to ``scratch``, so
    that neither the developer's own settings nor another run's state reach the page.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEPTON_LAB_", "JUPYTERHUB_"))}
    settings_dir = scratch / "lab-settings"
    for name, values in LAB_SETTINGS.items():
        path = settings_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    # The REST API's user is Jupyter Server's: with the default identity provider that is an
    # anonymous name, not the workspace's user, so the server's token is mapped to USER (as
    # `lepton-lab serve --tokens-file` does), for the JupyterLab extension's requests.
    config_dir = scratch / "jupyter-config"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "ServerApp": {
                    "identity_provider_class": "lepton_lab.server.auth.StaticTokenIdentityProvider"
                },
                "StaticTokenIdentityProvider": {"tokens": {token: USER}},
            }
        )
    )
    env.update(
        JUPYTER_CONFIG_DIR=str(config_dir),
        LEPTON_LAB_HOME=str(home),
        LEPTON_LAB_USER=USER,
        LEPTON_LAB_AUTO_RUNNER="0",  # the test's own runner runs the jobs
        JUPYTER_TOKEN=token,
        JUPYTER_RUNTIME_DIR=str(scratch / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(settings_dir),
        JUPYTERLAB_WORKSPACES_DIR=str(scratch / "lab-workspaces"),
    )
    return env


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``lepton-lab ARGS`` in a session of its own, its output in ``log``."""
    out: IO[bytes] = log.open("wb")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "lepton_lab.cli", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() can end what it started
        )
    finally:
        out.close()  # the child holds its own copy


def stop(process: subprocess.Popen[bytes], grace: float = 30) -> None:
    """SIGTERM (the runner lets its jobs end, JupyterLab shuts its kernels down), then, for
    whatever is left of the process group, SIGKILL."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)
    with contextlib.suppress(ProcessLookupError):  # the group is gone: nothing left behind
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_lab(home: Path, env: dict[str, str], log: Path) -> tuple[Lab, subprocess.Popen[bytes]]:
    """``lepton-lab lab`` on a free port; returns once its REST API answers."""
    port = free_port()
    process = start(
        ["--home", str(home), "lab", "--no-browser", "--port", str(port), "--allow-root"],
        env,
        log,
    )
    lab = Lab(url=f"http://127.0.0.1:{port}", token=env["JUPYTER_TOKEN"], home=home, log=log)

    def answers() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited ({process.returncode}):\n{tail(log)}")
        try:
            status = requests.get(f"{lab.url}/api/status", params={"token": lab.token}, timeout=2)
        except requests.ConnectionError:
            return False
        return status.ok

    try:
        wait_until(answers, 90, lambda: f"JupyterLab answering on {lab.url}:\n{tail(log)}")
    except BaseException:
        stop(process)
        raise
    return lab, process


def wait_until(
    condition: Callable[[], bool], timeout: float, what: Callable[[], str], every: float = 0.25
) -> None:
    """Poll ``condition`` until true; after ``timeout`` seconds fail, saying ``what()``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what()}")
        time.sleep(every)


def tail(log: Path, lines: int = 40) -> str:
    """The end of a process's log, for failure messages."""
    if not log.exists():
        return "(no log)"
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
