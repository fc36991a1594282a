"""Runners started when needed: liveness by heartbeat, the server's check, the spawn grace.

The runners here are ``Leases`` of the real queue (a runner is its rows); a runner process
killed mid-job is in test_runner_processes.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

import lepton_lab.runs.autostart
from lepton_lab.config import Settings
from lepton_lab.runs.autostart import alive_runners, ensure_runner, recover, recover_interval
from lepton_lab.runs.leases import Leases, check_interval, new_runner_id
from lepton_lab.workspace import Workspace
from tests.runs.helpers import submit_code

LEASE = 1.0


@pytest.fixture
def short(settings: Settings) -> Iterator[Workspace]:
    """The workspace with short leases."""
    workspace = Workspace(settings.replace(job_lease_seconds=LEASE))
    yield workspace
    workspace.close()


@pytest.fixture
def launched(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The runner commands started (no process is)."""
    commands: list[list[str]] = []
    monkeypatch.setattr(
        lepton_lab.runs.autostart.subprocess,
        "Popen",
        lambda command, **kwargs: commands.append(command),
    )
    return commands


def _runner(workspace: Workspace) -> Leases:
    leases = Leases(workspace.db, new_runner_id(), lease_seconds=LEASE)
    leases.register(gpus=0, capacity=1)
    return leases


def test_a_runner_is_dead_one_lease_after_its_last_heartbeat(short: Workspace) -> None:
    runner = _runner(short)
    assert alive_runners(short) == 1
    time.sleep(LEASE / 2)
    runner.heartbeat([])
    time.sleep(LEASE * 0.6)  # past one lease since it registered, not since its heartbeat
    assert alive_runners(short) == 1
    time.sleep(LEASE * 0.5)
    assert alive_runners(short) == 0
    runner.heartbeat([])
    runner.unregister()  # a runner that stopped is not alive, however recent its heartbeat
    assert alive_runners(short) == 0


def test_the_check_runs_a_third_of_a_lease_apart_at_most_five_seconds(
    settings: Settings,
) -> None:
    assert recover_interval(settings.replace(job_lease_seconds=1.5)) == pytest.approx(0.5)
    assert recover_interval(settings.replace(job_lease_seconds=30)) == 5.0
    # Runners heartbeat and sweep at the same pace: a dead one's jobs wait L + 5 s at most.
    assert check_interval(30) == 5.0 and check_interval(3600) == 5.0


def test_recover_reclaims_a_dead_runners_jobs_and_starts_a_runner(
    short: Workspace, launched: list[list[str]]
) -> None:
    actor = short.actor()
    retried = submit_code(short, actor, "1", retries=1)
    lost = submit_code(short, actor, "1", retries=0)
    dead = _runner(short)
    assert dead.claim(0) is not None and dead.claim(0) is not None
    assert recover(short) is False  # its leases are current: nothing to do
    assert launched == []
    time.sleep(LEASE * 1.2)
    assert recover(short) is True  # no submit: the check alone
    assert short.jobs.get(actor, retried.id).status == "queued"
    gone = short.jobs.get(actor, lost.id)
    assert gone.status == "lost" and gone.reason is not None
    assert "no retries left" in gone.reason["message"]
    assert launched[0][1:] == ["-m", "lepton_lab.runs", "--idle-exit", "600"]


def test_recover_leaves_a_live_runners_expired_leases_to_it(short: Workspace) -> None:
    actor = short.actor()
    job = submit_code(short, actor, "1", retries=0)
    busy = _runner(short)
    assert busy.claim(0) is not None
    time.sleep(LEASE * 1.2)
    busy.heartbeat([])  # alive, though it let this lease lapse: its own sweep decides
    assert recover(short) is False
    assert short.jobs.get(actor, job.id).status == "running"


def test_with_nothing_queued_no_runner_is_started(
    short: Workspace, launched: list[list[str]]
) -> None:
    actor = short.actor()
    submit_code(short, actor, "1", retries=0)
    dead = _runner(short)
    assert dead.claim(0) is not None
    time.sleep(LEASE * 1.2)
    assert recover(short) is False  # the job is lost, none waits
    assert launched == []


def test_a_runner_that_died_after_starting_ends_the_spawn_grace(
    short: Workspace, launched: list[Any]
) -> None:
    submit_code(short, short.actor(), "1")
    assert ensure_runner(short) is True
    assert ensure_runner(short) is False  # started a moment ago, not registered yet
    started = _runner(short)  # it registers...
    assert ensure_runner(short) is False  # ...and is alive
    started.unregister()  # ...and is gone: start another at once, not a minute later
    assert ensure_runner(short) is True
    assert len(launched) == 2
