"""The demo's jobs: shipped templates run on the local runner, a promotion, a rerun.

Four department templates run as jobs at once (two at a time on the runner), and register
their models in the gallery.  The diagnosis model is promoted to ``production``; then the
evaluate-model template scores ``medical/diagnosis@production`` and the diagnosis job is
re-run from its manifest, and the demo shows, value by value, that it reproduced.  Last,
the shipped pipeline ``train-evaluate-promote`` runs once: train, evaluate against
production, promote when better (on a second demo the same version is not better than
itself, and the promote step is skipped).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from lepton_lab.client import LocalClient
from lepton_lab.runs.info import JobInfo, Reproduction

__all__ = ["DEMO_JOBS", "DemoJob", "run_jobs"]


@dataclass(frozen=True)
class DemoJob:
    """A template the demo runs, with the parameters it gives."""

    template: str
    parameters: dict[str, Any]


DEMO_JOBS = (
    DemoJob("dataset-report", {"dataset": "agri/wine", "max_columns": 4}),
    DemoJob("diagnosis", {"dataset": "medical/breast-cancer"}),
    DemoJob("credit-risk", {"dataset": "finance/credit"}),
    DemoJob("compare-models", {"dataset": "agri/wine"}),
)

#: The job re-run to show reproduction, and the model it registers, promoted.
RERUN = "diagnosis"
PROMOTED = "medical/diagnosis"

#: The shipped pipeline the demo runs once, and its inputs.
PIPELINE = "train-evaluate-promote"
PIPELINE_INPUTS = {
    "dataset": "agri/wine",
    "evaluate_on": "agri/wine",
    "register_as": "agri/wine-classifier",
}

#: How many jobs the demo's runner runs at once (the machines it targets have 2 cores).
CONCURRENCY = 2


def run_jobs(client: LocalClient, console: Console) -> dict[str, JobInfo]:
    """Run the demo's jobs, promote, evaluate and re-run; the jobs by template name."""
    console.rule("Template jobs on the local runner")
    jobs = {
        item.template: client.jobs.submit(item.template, item.parameters, seed=7).info
        for item in DEMO_JOBS
    }
    _say(console, f"submitted {len(jobs)} jobs; a local runner runs {CONCURRENCY} at once")
    jobs = _run(client, jobs)
    _show_jobs(console, client, jobs.values())

    console.rule("Promote, evaluate, re-run")
    model = client.models.promote(f"{PROMOTED}@latest", "production")
    _say(console, f"promoted {PROMOTED}@{model.aliases['production']} to production")
    ref = f"{PROMOTED}@production"
    evaluate = client.jobs.submit(
        "evaluate-model", {"model": ref, "dataset": "medical/breast-cancer"}, seed=7
    ).info
    rerun = client.jobs.resubmit(jobs[RERUN].id)
    later = _run(client, {"evaluate-model": evaluate, f"{RERUN} (rerun)": rerun})
    _show_jobs(console, client, later.values())
    _show_reproduction(console, client.jobs.reproduction(rerun.id))
    steps = _run_pipeline(client, console)
    _show_models(client, console)
    return {**jobs, **later, **steps}


def _run_pipeline(client: LocalClient, console: Console) -> dict[str, JobInfo]:
    """Run the shipped pipeline once on a runner in this process; its steps' jobs."""
    console.rule(f"A pipeline: {PIPELINE}")
    run = client.pipelines.run(PIPELINE, PIPELINE_INPUTS)
    _say(console, f"pipeline run {run.id}: " + " -> ".join(run.steps))
    asyncio.run(_until_ended(client, run.id))
    ended = client.pipelines.get_run(run.id)
    for step in ended.steps:
        _say(console, f"{step.status:>10}  step {step.name} ({step.template})"
                      + (f": job {step.job[:8]}" if step.job else ""))  # fmt: skip
    _say(console, f"pipeline run {run.id} {ended.status}")
    jobs = {f"{PIPELINE}: {s.name}": client.jobs.get(s.job) for s in ended.steps if s.job}
    promote = ended.step("promote")
    if promote.job:
        decision = {r.name: r.value for r in client.jobs.records(promote.job)}["decision"]
        _say(console, f"promote-if-better: {decision}")
    return jobs


async def _until_ended(client: LocalClient, run_id: str) -> None:
    """A runner in this process (it moves pipeline runs on as every runner does) until the
    run has ended."""
    from lepton_lab.runs.runner import Runner, RunnerConfig

    runner = Runner(client.workspace, RunnerConfig(concurrency=CONCURRENCY, pool_size=1))
    task = asyncio.create_task(runner.run())
    while not task.done() and not (await asyncio.to_thread(client.pipelines.get_run, run_id)).done:
        await asyncio.sleep(0.2)
    runner.stop()
    await task


def _run(client: LocalClient, jobs: dict[str, JobInfo]) -> dict[str, JobInfo]:
    """Run a runner in this process until ``jobs`` have ended; their final state."""
    from lepton_lab.runs.runner import RunnerConfig, run_until_done

    config = RunnerConfig(concurrency=CONCURRENCY, pool_size=CONCURRENCY)
    ids = [info.id for info in jobs.values()]
    asyncio.run(run_until_done(client.workspace, ids, config))
    return {name: client.jobs.get(info.id) for name, info in jobs.items()}


def _show_jobs(console: Console, client: LocalClient, jobs: Iterable[JobInfo]) -> None:
    """One line a job: outcome, template, data, time, and the first numbers it recorded."""
    for info in jobs:
        why = f" ({info.reason['message']})" if info.reason else ""
        pins = info.manifest.get("datasets", {})
        data = ", ".join(pin["ref"] for pin in pins.values()) or "-"
        _say(console, f"{info.status:>10}{why}  {info.template} on {data}: job {info.id[:8]}, "
                      f"{info.duration or 0:.1f} s, {info.cells_done}/{info.cells_total} cells; "
                      f"{_headline(client, info.id)}")  # fmt: skip


def _headline(client: LocalClient, job_id: str, most: int = 3) -> str:
    """The first few numbers a job recorded, rounded for a table cell."""
    numbers = [r for r in client.jobs.records(job_id) if r.kind == "number"][:most]
    return ", ".join(f"{r.name} {r.value:.4g}" for r in numbers)


def _show_models(client: LocalClient, console: Console) -> None:
    table = Table(title="The model gallery")
    for column in ("model", "latest", "aliases", "metric", "made by job"):
        table.add_column(column)
    for model in client.models.search():
        row = model.row()
        latest = client.models.version(f"{model.ref}@{model.latest_version}")
        table.add_row(
            *(str(row[c]) for c in ("model", "latest", "aliases", "metric")),
            latest.job_id[:8],
        )
    console.print(table)


def _show_reproduction(console: Console, report: Reproduction) -> None:
    verdict = "reproduced" if report.reproduced else "did NOT reproduce"
    _say(console, f"job {report.rerun.id} re-ran job {report.original.id}: {verdict}")
    table = Table(title="Recorded values, original and rerun")
    for column in ("value", "original", "rerun", "match"):
        table.add_column(column)
    for check in report.checks:
        table.add_row(
            check.name, _short(check.original), _short(check.rerun), "yes" if check.match else "NO"
        )
    console.print(table)


def _short(value: Any, width: int = 40) -> str:
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _say(console: Console, text: str) -> None:
    """A line printed whole (commands and refs stay copyable)."""
    console.print(Text(text), soft_wrap=True)
