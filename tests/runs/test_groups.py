"""Sweeps: every combination checked before any job is queued, one group, a results table."""

from __future__ import annotations

import asyncio

import pytest

from lepton_lab.errors import InvalidInput, NotFound, PermissionDenied
from lepton_lab.identity import Actor
from lepton_lab.runs.groups import MAX_COMBINATIONS, group_status
from lepton_lab.runs.runner import RunnerConfig, run_until_done
from lepton_lab.workspace import Workspace
from tests.runs.helpers import make_notebook

CODE = "import lepton_lab as ll\nll.record('score', a * 10 + b)\nll.record('note', label)"


@pytest.fixture
def template(workspace: Workspace, alice: Actor) -> str:
    content = make_notebook(CODE, parameters="a = 1\nb = 0\nlabel = 'x'\n")
    return workspace.templates.publish(alice, content, "finance/grid").name


def _jobs(workspace: Workspace, alice: Actor) -> int:
    return workspace.jobs.list(alice).total


@pytest.mark.parametrize(
    ("grid", "says"),
    [
        ({}, "grid must map parameter names"),
        ({"a": []}, "non-empty list"),
        ({"a": "123"}, "non-empty list"),
        ({"a": list(range(MAX_COMBINATIONS + 1))}, f"at most {MAX_COMBINATIONS} jobs"),
        ({"a": [1, 2], "c": [1]}, "has no parameter 'c'"),
        ({"a": [1, "two"]}, "a"),
    ],
)
def test_a_bad_grid_queues_nothing(
    workspace: Workspace, alice: Actor, template: str, grid: dict[str, list[object]], says: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        workspace.groups.sweep(alice, template, grid)
    assert says in caught.value.message
    assert _jobs(workspace, alice) == 0


def test_a_sweep_runs_one_job_per_combination_and_tabulates_them(
    workspace: Workspace, alice: Actor, template: str
) -> None:
    group = workspace.groups.sweep(alice, template, {"a": [1, 2], "b": [3, 4, 5]}, {"label": "s"})
    assert group.kind == "sweep" and group.status == "running" and len(group.jobs) == 6
    assert [job["parameters"] for job in group.jobs][:2] == [
        {"a": 1, "b": 3, "label": "s"},
        {"a": 1, "b": 4, "label": "s"},
    ]
    ids = [job["id"] for job in group.jobs]
    config = RunnerConfig(concurrency=2, pool_size=2)
    asyncio.run(run_until_done(workspace, ids, config))
    done = workspace.groups.get(alice, group.id)
    assert done.status == "succeeded" and done.counts == {"succeeded": 6}
    rows = workspace.groups.results(alice, group.id)
    assert [(r["a"], r["b"], r["score"], r["note"]) for r in rows] == [
        (1, 3, 13, "s"), (1, 4, 14, "s"), (1, 5, 15, "s"),
        (2, 3, 23, "s"), (2, 4, 24, "s"), (2, 5, 25, "s"),
    ]  # fmt: skip
    assert all(workspace.jobs.get(alice, i).group == group.id for i in ids)


def test_cancelling_a_group_cancels_its_waiting_jobs(
    workspace: Workspace, alice: Actor, template: str
) -> None:
    group = workspace.groups.sweep(alice, template, {"a": [1, 2, 3]})
    workspace.teams.add_member(alice, "finance", "victor", "viewer")
    with pytest.raises(NotFound):
        workspace.groups.get(workspace.actor("victor"), group.id)  # not shared with the team
    shared = workspace.groups.sweep(alice, template, {"a": [1]}, team="finance")
    assert workspace.groups.get(workspace.actor("victor"), shared.id).team == "finance"
    with pytest.raises(PermissionDenied):
        workspace.groups.cancel(workspace.actor("victor"), shared.id)
    cancelled = workspace.groups.cancel(alice, group.id)
    assert cancelled.status == "cancelled" and cancelled.counts == {"cancelled": 3}


def test_a_group_status_comes_from_its_jobs() -> None:
    assert group_status(["succeeded", "running"]) == "running"
    assert group_status(["succeeded", "succeeded"]) == "succeeded"
    assert group_status(["succeeded", "cancelled"]) == "cancelled"
    assert group_status(["cancelled", "failed"]) == "failed"
    assert group_status(["lost"]) == "failed"
