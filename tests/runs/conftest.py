"""Fixtures of the template and job tests."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from lepton_lab.identity import Actor
from lepton_lab.workspace import Workspace
from tests.ray_support import LoopbackRayCluster

# queue fixtures


@pytest.fixture
def alice(workspace: Workspace) -> Actor:
    """Alice, admin of team finance (she created it)."""
    workspace.teams.create(workspace.actor("alice"), "finance")
    return workspace.actor("alice")


# ray executor fixtures


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[LoopbackRayCluster]:
    """A two-node Ray cluster on loopback: a head with 2 CPUs and 2 simulated GPUs, and a
    node with 1 CPU and 1 GPU; this test process is connected to it as a driver."""
    # Before Ray is imported here: a loopback cluster is a single-machine one (ray_support),
    # and a Ray call after the cluster is gone must fail rather than start a new one.
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    os.environ["RAY_ENABLE_AUTO_CONNECT"] = "0"
    os.environ["RAY_AUTH_MODE"] = "disabled"  # as the cluster (ray_support)
    ray = pytest.importorskip("ray", reason="the ray executor tests need 'lepton-lab[ray]'")
    cluster = LoopbackRayCluster.start(head_cpus=2, head_gpus=2, node_cpus=1, node_gpus=1)
    try:
        # One connection for the session: runners in this process share it (and leave it).
        ray.init(address=cluster.address, log_to_driver=False, logging_level=logging.WARNING)
        yield cluster
    finally:
        ray.shutdown()
        cluster.stop()
