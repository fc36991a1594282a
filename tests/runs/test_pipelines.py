"""Pipelines: definitions checked before anything is stored, versions, and real runs on a
runner: references, conditions, parallel steps, failures, cancel, rerun."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from lepton_lab.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from lepton_lab.identity import Actor
from lepton_lab.runs.pipeline_info import PipelineRun
from lepton_lab.runs.runner import Runner, RunnerConfig
from lepton_lab.workspace import Workspace
from tests.runs.helpers import make_notebook

PRODUCE = "import lepton_lab as ll\nll.record('value', x * 2)\nll.record('big', x > 1)"
CONSUME = "import lepton_lab as ll\nll.record('got', v + 1)"


@pytest.fixture
def templates(workspace: Workspace, alice: Actor) -> None:
    """finance/produce (x -> value, big), finance/consume (v -> got), finance/fail."""
    publish = workspace.templates.publish
    publish(alice, make_notebook(PRODUCE, parameters="x = 1\n"), "finance/produce")
    publish(alice, make_notebook(CONSUME, parameters="v: int = 0\n"), "finance/consume")
    publish(alice, make_notebook("raise ValueError('no')"), "finance/fail")


def _step(template: str, **parameters: Any) -> dict[str, Any]:
    return {"template": template, "parameters": parameters}


FLOW = {
    "description": "two producers in parallel, a consumer, a condition each way",
    "parameters": {"x": 2},
    "steps": {
        "a": _step("finance/produce", x="${parameters.x}"),
        "b": _step("finance/produce", x=5),
        "c": _step("finance/consume", v="${a.value}"),
        "d": {**_step("finance/consume", v=1), "when": "a.big"},
        "e": {**_step("finance/consume", v=2), "when": "not a.big"},
    },
}


def _until_ended(workspace: Workspace, actor: Actor, run_id: str) -> PipelineRun:
    """Run a runner in this process (it advances pipelines as every runner does) until
    the run has ended."""

    async def main() -> None:
        runner = Runner(workspace, RunnerConfig(concurrency=2, pool_size=2))
        task = asyncio.create_task(runner.run())
        deadline = time.monotonic() + 180
        while not task.done() and time.monotonic() < deadline:
            if (await asyncio.to_thread(workspace.pipelines.get_run, actor, run_id)).done:
                break
            await asyncio.sleep(0.1)
        runner.stop()
        await task

    asyncio.run(main())
    return workspace.pipelines.get_run(actor, run_id)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"steps": {}}, "at least one step"),
        ({"steps": {"a": {"template": "finance/produce", "bogus": 1}}}, "steps.a.bogus"),
        ({"steps": {"A b": _step("finance/produce")}}, "step 'A b': name steps"),
        ({"steps": {"parameters": _step("finance/produce")}}, "and not 'parameters'"),
        ({"steps": {"a": _step("finance/nope")}}, "step a: no template finance/nope"),
        ({"steps": {"a": _step("finance/produce", y=1)}}, "step a: finance/produce has no"),
        ({"steps": {"a": _step("finance/produce", x="two")}}, "step a: parameter x"),
        ({"steps": {"a": _step("finance/consume", v="${z.value}")}}, "step a: a reference"),
        ({"steps": {"a": _step("finance/consume", v="${a.value}")}}, "names the step itself"),
        ({"steps": {"a": _step("finance/consume", v="${parameters.n}")}}, "no pipeline input"),
        ({"steps": {"a": {"template": "finance/fail", "when": "b is true"}}}, "step a: when"),
        ({"steps": {"a": {"template": "finance/fail", "after": ["c"]}}}, "after names no step"),
        (
            {
                "steps": {
                    "a": _step("finance/consume", v="${b.got}"),
                    "b": _step("finance/consume", v="${a.got}"),
                }
            },
            "in a cycle: a -> b -> a",
        ),
    ],
)
def test_a_bad_definition_is_refused_naming_the_step(
    workspace: Workspace, alice: Actor, templates: None, change: dict[str, Any], says: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        workspace.pipelines.publish(alice, change, "finance/flow")
    assert says in caught.value.message
    assert workspace.pipelines.list(alice, team="finance") == []


def test_publishing_versions_a_definition_and_keeps_it_to_its_team(
    workspace: Workspace, alice: Actor, templates: None
) -> None:
    first = workspace.pipelines.publish(alice, FLOW, "finance/flow")
    assert (first.name, first.version, first.steps) == ("finance/flow", 1, list("abcde"))
    assert workspace.pipelines.publish(alice, FLOW, "finance/flow").version == 1
    text = "steps:\n  only:\n    template: finance/produce\n    parameters: {x: 3}\n"
    second = workspace.pipelines.publish(alice, text, "finance/flow")
    assert second.version == 2 and second.steps == ["only"]
    assert workspace.pipelines.get(alice, "finance/flow@1").definition == first.definition
    assert workspace.pipelines.get(alice, "finance/flow").version == 2
    outsider = workspace.actor("mallory")
    with pytest.raises(NotFound):
        workspace.pipelines.get(outsider, "finance/flow")
    report = {"steps": {"r": _step("dataset-report", dataset="agri/wine")}}
    with pytest.raises(PermissionDenied):  # a shipped template: only the team is missing
        workspace.pipelines.publish(outsider, report, "finance/report")


def test_a_run_passes_values_on_runs_independent_steps_together_and_follows_conditions(
    workspace: Workspace, alice: Actor, templates: None
) -> None:
    workspace.pipelines.publish(alice, FLOW, "finance/flow")
    with pytest.raises(InvalidInput, match="no input"):
        workspace.pipelines.run(alice, "finance/flow", {"y": 1})
    run = workspace.pipelines.run(alice, "finance/flow", {"x": 3})
    assert run.group.kind == "pipeline" and run.status == "running"
    # a and b wait for nothing: both queued at once, to run side by side.
    assert {s.name: s.status for s in run.steps} == {
        "a": "queued", "b": "queued", "c": "waiting", "d": "waiting", "e": "waiting"
    }  # fmt: skip
    assert run.step("c").after == ["a"]
    done = _until_ended(workspace, alice, run.id)
    states = {s.name: s.status for s in done.steps}
    assert states == {"a": "succeeded", "b": "succeeded", "c": "succeeded",
                      "d": "succeeded", "e": "skipped"}  # fmt: skip
    assert done.status == "succeeded" and done.group.ended_at is not None
    got = {r.name: r.value for r in workspace.jobs.records(alice, done.step("c").job)}
    assert got == {"got": 7}  # a recorded 3 * 2; c was given it, typed
    job = workspace.jobs.get(alice, done.step("c").job)
    assert (job.group, job.step, job.parameters) == (run.id, "c", {"v": 6})
    assert workspace.groups.get(alice, run.id).status == "succeeded"

    # The whole run again: the same steps, seeds and values, step by step.
    again = workspace.pipelines.rerun(alice, run.id)
    assert again.group.rerun_of == run.id
    report = workspace.pipelines.reproduction(alice, again.id)
    assert report.reproduced is None  # not ended yet
    _until_ended(workspace, alice, again.id)
    report = workspace.pipelines.reproduction(alice, again.id)
    assert report.reproduced is True
    assert [(s.name, s.rerun_status, s.reproduced) for s in report.steps][-1] == (
        "e",
        "skipped",
        True,
    )
    assert [c.name for c in report.steps[2].checks] == ["got"]
    seeds = [workspace.jobs.get(alice, s.job).seed for s in (done.step("a"), again.step("a"))]
    assert seeds[0] == seeds[1]


def test_a_false_condition_skips_the_step_and_those_after_it(
    workspace: Workspace, alice: Actor, templates: None
) -> None:
    definition = {
        "steps": {
            "a": _step("finance/produce", x=0),
            "b": {**_step("finance/consume", v=1), "when": "a.big"},
            "c": {**_step("finance/consume", v=2), "after": ["b"]},
        }
    }
    workspace.pipelines.publish(alice, definition, "finance/small")
    run = _until_ended(workspace, alice, workspace.pipelines.run(alice, "finance/small").id)
    assert [s.status for s in run.steps] == ["succeeded", "skipped", "skipped"]
    assert run.status == "succeeded"


def test_a_failed_step_blocks_what_depends_on_it_and_fails_the_run(
    workspace: Workspace, alice: Actor, templates: None
) -> None:
    definition = {
        "steps": {
            "broken": _step("finance/fail"),
            "next": {**_step("finance/consume", v=1), "after": ["broken"]},
        }
    }
    workspace.pipelines.publish(alice, definition, "finance/broken")
    run = _until_ended(workspace, alice, workspace.pipelines.run(alice, "finance/broken").id)
    assert [(s.name, s.status) for s in run.steps] == [("broken", "failed"), ("next", "blocked")]
    assert "ValueError" in run.step("broken").reason
    assert run.status == "failed" and run.step("next").job == ""


def test_cancel_stops_queued_steps_and_those_not_yet_queued(
    workspace: Workspace, alice: Actor, templates: None
) -> None:
    workspace.pipelines.publish(alice, FLOW, "finance/flow")
    run = workspace.pipelines.run(alice, "finance/flow")
    workspace.teams.add_member(alice, "finance", "victor", "viewer")
    shared = workspace.pipelines.run(alice, "finance/flow", team="finance")
    with pytest.raises(PermissionDenied):
        workspace.pipelines.cancel(workspace.actor("victor"), shared.id)
    with pytest.raises(NotFound):
        workspace.pipelines.get_run(workspace.actor("victor"), run.id)
    cancelled = workspace.pipelines.cancel(alice, run.id)
    assert cancelled.status == "cancelled" and cancelled.group.ended_at is not None
    assert {s.status for s in cancelled.steps} == {"cancelled"}
    assert workspace.pipelines.advance() == []  # a cancelled run stays as it is
    with pytest.raises(Conflict):
        workspace.pipelines.cancel(alice, run.id)
    with pytest.raises(InvalidInput, match="not a rerun"):
        workspace.pipelines.reproduction(alice, run.id)


def test_advancing_from_many_threads_at_once_queues_each_step_once(
    workspace: Workspace, alice: Actor, templates: None
) -> None:
    workspace.pipelines.publish(alice, FLOW, "finance/flow")
    run = workspace.pipelines.run(alice, "finance/flow")
    threads = [threading.Thread(target=workspace.pipelines.advance) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(workspace.groups.get(alice, run.id).jobs) == 2
    assert [r.id for r in workspace.pipelines.runs(alice, pipeline="finance/flow")] == [run.id]


def test_an_outsider_cannot_tell_a_hidden_pipeline_name_from_a_free_one(
    workspace: Workspace, alice: Actor, templates: None
) -> None:
    workspace.pipelines.publish(alice, FLOW, "finance/secret", visibility="private")
    bob = workspace.actor("bob")
    answers = []
    for name in ("finance/secret", "finance/free"):
        with pytest.raises(PermissionDenied) as refused:
            workspace.pipelines.publish(bob, FLOW, name)
        answers.append(refused.value.message.replace(name, "NAME"))
    assert answers[0] == answers[1] and "contributor role in team finance" in answers[0]
