"""``lepton-lab pipelines``: publish pipelines (steps of templates) and run them.

A run's steps are jobs; the job runners and the Lepton Lab server move runs on (the next
steps queue as the earlier ones end), so a run goes on after you log out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from lepton_lab.cli import CliState, output, param_option, pass_state
from lepton_lab.cli.jobs import EXIT_FAILED
from lepton_lab.runs.pipeline_info import PipelineInfo, PipelineReproduction, PipelineRun

__all__ = ["pipelines"]


@click.group()
def pipelines() -> None:
    """Publish, list, show and run pipelines; list, cancel and rerun their runs."""


def _inputs(info: PipelineInfo, params: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """``-p NAME VALUE`` as the pipeline's inputs: text where the input's default is text
    (or unset), else the value read as JSON (``3``, ``true``, ``[1, 2]``)."""
    declared = info.definition.get("parameters", {})
    found: dict[str, Any] = {}
    for name, text in params:
        if isinstance(declared.get(name), str | None):
            found[name] = text
            continue
        try:
            found[name] = json.loads(text)
        except json.JSONDecodeError:
            message = f"{name}: {text!r} is not a JSON value"
            raise click.BadParameter(message, param_hint="-p") from None
    return found


def _show_run(state: CliState, run: PipelineRun) -> None:
    if state.as_json:
        output.emit_json(run.to_dict())
        return
    group = run.group
    state.console.print(output.fields_table({"id": run.id, "pipeline": group.name,
                                             "status": run.status,
                                             "rerun of": group.rerun_of or "-"}))  # fmt: skip
    rows = [{"step": s.name, "template": s.template, "status": s.status, "job": s.job or "-",
             "after": ", ".join(s.after) or "-", "reason": s.reason[:80]}
            for s in run.steps]  # fmt: skip
    output.print_rows(state.console, rows, empty="No steps.")


@pipelines.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("name")
@click.option("--visibility", type=click.Choice(["private", "team", "org"]), help="Who may see it.")
@pass_state
def publish(state: CliState, file: Path, name: str, visibility: str | None) -> None:
    """Publish the pipeline FILE (YAML) as NAME (team/name).

    Example: lepton-lab pipelines publish flow.yaml finance/flow --visibility org
    """
    info = state.client.pipelines.publish(file, name, visibility=visibility)
    if state.as_json:
        output.emit_json(info.to_dict())
        return
    state.console.print(output.fields_table(info.row()))


@pipelines.command("list")
@click.option("--team", help="Only this team's pipelines.")
@pass_state
def list_pipelines(state: CliState, team: str | None) -> None:
    """List the pipelines you may see."""
    found = state.client.pipelines.list(team=team)
    if state.as_json:
        output.emit_json({"items": [p.to_dict() for p in found]})
        return
    output.print_rows(state.console, [p.row() for p in found], empty="No pipelines.")


@pipelines.command()
@click.argument("name")
@pass_state
def show(state: CliState, name: str) -> None:
    """Show a pipeline's definition (NAME, team/name or team/name@version)."""
    info = state.client.pipelines.get(name)
    if state.as_json:
        output.emit_json(info.to_dict())
        return
    state.console.print(output.fields_table(info.row()))
    rows = [{"step": step, "template": spec["template"], "when": spec.get("when") or "-",
             "parameters": json.dumps(spec.get("parameters", {}))}
            for step, spec in info.definition["steps"].items()]  # fmt: skip
    output.print_rows(state.console, rows, empty="No steps.")


@pipelines.command()
@click.argument("name")
@param_option("A pipeline input; repeat for several.")
@click.option("--team", help="Share the run and its jobs with this team.")
@click.option("--wait", is_flag=True, help="Wait until the run ends, then show it.")
@pass_state
def run(
    state: CliState, name: str, params: tuple[tuple[str, str], ...], team: str | None, wait: bool
) -> None:
    """Run the pipeline NAME.

    Example: lepton-lab pipelines run train-evaluate-promote -p dataset agri/wine --wait
    """
    inputs = _inputs(state.client.pipelines.get(name), params)
    handle = state.client.pipelines.run(name, inputs, team=team)
    _show_run(state, handle.wait().info if wait else handle.info)


@pipelines.command()
@click.argument("run_id", required=False)
@click.option("--pipeline", help="Only the runs of this pipeline.")
@click.option("--limit", default=20, show_default=True, help="How many runs.")
@pass_state
def runs(state: CliState, run_id: str | None, pipeline: str | None, limit: int) -> None:
    """List pipeline runs, or show one run (RUN_ID) step by step."""
    if run_id:
        _show_run(state, state.client.pipelines.get_run(run_id))
        return
    found = state.client.pipelines.runs(pipeline=pipeline, limit=limit)
    if state.as_json:
        output.emit_json({"items": [r.to_dict() for r in found]})
        return
    output.print_rows(state.console, [r.row() for r in found], empty="No pipeline runs.")


@pipelines.command()
@click.argument("run_id")
@pass_state
def cancel(state: CliState, run_id: str) -> None:
    """Cancel a run: its queued and running steps, and those not queued yet."""
    _show_run(state, state.client.pipelines.cancel(run_id))


@pipelines.command()
@click.argument("run_id")
@click.option("--no-wait", is_flag=True, help="Queue the rerun and return.")
@pass_state
def rerun(state: CliState, run_id: str, no_wait: bool) -> None:
    """Run a whole pipeline run again and report, step by step, whether it reproduced
    (exit code 1 when it did not)."""
    handle = state.client.pipelines.rerun(run_id)
    if no_wait:
        _show_run(state, handle.info)
        return
    handle.wait()
    report = state.client.pipelines.reproduction(handle.id)
    if state.as_json:
        output.emit_json(report.to_dict())
    else:
        _show_reproduction(state, report)
    if not report.reproduced:
        raise click.exceptions.Exit(EXIT_FAILED)


def _show_reproduction(state: CliState, report: PipelineReproduction) -> None:
    rows = [{"step": s.name, "original": s.original_status, "rerun": s.rerun_status,
             "values": f"{sum(c.match for c in s.checks)}/{len(s.checks)} match",
             "reproduced": "yes" if s.reproduced else "no"} for s in report.steps]  # fmt: skip
    output.print_rows(state.console, rows, empty="No steps.")
    output.line(state.console, f"reproduced: {'yes' if report.reproduced else 'no'}")
