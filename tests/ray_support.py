"""A real Ray cluster on this machine that listens on loopback only, for tests and bench/.

    cluster = LoopbackRayCluster.start(head_gpus=2, node_gpus=1)
    ...  # RunnerConfig(executor="ray", address=cluster.address)
    cluster.stop()

Ray rewrites a loopback address to the machine's network address unless it runs in its
single-machine mode (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``), and that mode refuses a
second node.  The head starts in that mode; a second node is started by the ``ray start``
command with the two address lookups pinned to 127.0.0.1 (``_START_SCRIPT``), so that
nothing either node starts listens on, or connects to, another address.  Both wait
patiently for their raylet, as a loaded machine needs.

GPUs are simulated: Ray is told how many a node has (``--num-gpus``) and hands them out
through ``CUDA_VISIBLE_DEVICES``; ``LEPTON_LAB_GPUS`` makes the workers' GPU detection
report as many.  Each cluster has its own port and temporary folder, so clusters of
concurrent test processes never meet, and :meth:`stop` ends only this cluster's
processes (found by that folder), never another's.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psutil

__all__ = ["LoopbackRayCluster", "free_port"]

LOOPBACK = "127.0.0.1"

# `ray start`, patient: it gives its raylet 30 s to register, and the raylet waits for its
# agents, whose Python start-up takes longer than that on a loaded machine; so the look-up
# it polls keeps trying for up to 180 s.  For a second node ("multi-node" first), Ray's
# two "which address is this machine" lookups answer 127.0.0.1 (in multi-node mode Ray
# would turn 127.0.0.1 into the machine's network address).
_START_SCRIPT = """
import sys, time
import ray._private.services as services
get_node = services.get_node
def patient_get_node(*args, **kwargs):
    deadline = time.monotonic() + 180
    while True:
        try:
            return get_node(*args, **kwargs)
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
services.get_node = patient_get_node
if sys.argv[1] == "multi-node":
    services.resolve_ip_for_localhost = lambda host: host
    services.get_node_ip_address = lambda address=None: "127.0.0.1"
from ray.scripts.scripts import main
sys.argv = ["ray", *sys.argv[2:]]
main()
"""


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LoopbackRayCluster:
    """A Ray head (and maybe one more node) on 127.0.0.1, started with ``ray start``."""

    port: int
    temp_dir: Path
    env: dict[str, str]
    nodes: list[dict[str, int]] = field(default_factory=list)

    @property
    def address(self) -> str:
        """The GCS address runners connect to."""
        return f"{LOOPBACK}:{self.port}"

    @classmethod
    def start(cls, *, head_cpus: int = 2, head_gpus: int = 2, node_gpus: int | None = None,
              node_cpus: int = 1) -> LoopbackRayCluster:  # fmt: skip
        """Start a head with ``head_gpus`` simulated GPUs and, when ``node_gpus`` is given,
        a second node with that many."""
        # Short: Ray's socket paths live under it and must stay under 108 characters.
        temp_dir = Path(tempfile.mkdtemp(prefix="llray-", dir="/tmp"))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("LEPTON_LAB_", "RAY_"))},
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            "RAY_USAGE_STATS_ENABLED": "0",
            # Explicit: with a token in ~/.ray, Ray would turn token auth on for the head only.
            "RAY_AUTH_MODE": "disabled",
            # Its own metrics port: the default (44217) is the same for every cluster.
            "AUTOSCALER_METRIC_PORT": str(free_port()),
        }
        # jsonschema, which every Ray process imports, imports rfc3987_syntax when it is
        # installed, and that builds a parser for seconds at import: the raylet's agents
        # then start too late for it (it waits 15 s for them) on a loaded machine.  The
        # cluster's processes find a stand-in that declines, and do without IRI checks.
        stand_in = temp_dir / "python" / "rfc3987_syntax"
        stand_in.mkdir(parents=True)
        (stand_in / "__init__.py").write_text(
            'raise ImportError("left out of test Ray clusters (tests/ray_support.py)")\n'
        )
        inherited = os.environ.get("PYTHONPATH", "")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(stand_in.parent), inherited) if p)
        cluster = cls(free_port(), temp_dir, env)
        try:
            cluster._ray_start(["--head", "--port", str(cluster.port), "--include-dashboard",
                                "false"], head_cpus, head_gpus, multi_node=False)  # fmt: skip
            if node_gpus is not None:
                cluster._ray_start(["--address", cluster.address], node_cpus, node_gpus,
                                   multi_node=True)  # fmt: skip
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _ray_start(self, args: list[str], cpus: int, gpus: int, *, multi_node: bool) -> None:
        env = {**self.env, "LEPTON_LAB_GPUS": str(gpus)}
        command = [sys.executable, "-c", _START_SCRIPT, "single-node"]
        if multi_node:
            env["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "1"
            command[-1] = "multi-node"
        command += ["start", *args, "--node-ip-address", LOOPBACK, "--num-cpus", str(cpus),
                    "--num-gpus", str(gpus), "--temp-dir", str(self.temp_dir),
                    "--disable-usage-stats"]  # fmt: skip
        # Output to a file, not a pipe: the daemons it starts would hold a pipe open.
        log = self.temp_dir / f"ray-start-{len(self.nodes)}.log"
        with log.open("w") as out:
            done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, timeout=120, check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"ray start failed ({done.returncode}):\n{log.read_text()}")
        self.nodes.append({"cpus": cpus, "gpus": gpus})

    def processes(self) -> list[psutil.Process]:
        """Every process of this cluster: those naming its folder, and their descendants."""
        found: dict[int, psutil.Process] = {}
        marker = str(self.temp_dir)
        for process in psutil.process_iter(["cmdline"]):
            try:
                if any(marker in part for part in process.info["cmdline"] or ()):
                    found[process.pid] = process
                    found.update((c.pid, c) for c in process.children(recursive=True))
            except psutil.Error:
                continue
        return list(found.values())

    def stop(self) -> None:
        """End this cluster's processes (and the kernels of its workers)."""
        processes = self.processes()
        for process in processes:
            try:
                process.terminate()
            except psutil.Error:
                continue
        _, alive = psutil.wait_procs(processes, timeout=3)
        for process in alive:
            try:
                process.kill()
            except psutil.Error:
                continue
        psutil.wait_procs(alive, timeout=10)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
