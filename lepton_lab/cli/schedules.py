"""``lepton-lab schedules``: run a template on a cron schedule, from the runners.

Schedules fire from the job runners and the Lepton Lab server, never from your session:
they go on after you log out.  Each due time fires once, however many runners there are.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click
from typing_extensions import Unpack

from lepton_lab.cli import CliState, F, options, output, param_option, pass_state
from lepton_lab.cli.run import parse_parameters
from lepton_lab.runs.schedule_info import MISSED_POLICIES, ScheduleInfo, TeamWhenArgs, WhenArgs

__all__ = ["schedules"]

_PARAM = param_option("A parameter, typed by the template's schema; repeat for several.")
_MISSED = click.option(
    "--missed",
    type=click.Choice(MISSED_POLICIES),
    default="skip",
    show_default=True,
    help="Due times that passed while no runner was up: skip them, or run once.",
)
_TEAM = click.option("--team", help="The team it belongs to [default: your only team].")
_OVERLAP = click.option(
    "--overlap", is_flag=True, help="Start a run while the previous one still runs."
)


def _when(cron_example: str, name_default: str) -> Callable[[F], F]:
    """``--cron``, ``--timezone`` and ``--name``: what every kind of schedule is given
    (they reach the command as :class:`~lepton_lab.runs.schedule_info.WhenArgs`)."""
    return options(
        click.option(
            "--cron", required=True, help=f"When: five cron fields, e.g. '{cron_example}'."
        ),
        click.option(
            "--timezone", default="UTC", show_default=True, help="IANA time zone of --cron."
        ),
        click.option("--name", help=f"The schedule's name{name_default}."),
    )


@click.group()
def schedules() -> None:
    """Create, list, pause, resume, run now, change and delete schedules."""


def _typed(state: CliState, template: str, params: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    specs = state.client.templates.get(template).parameters
    return parse_parameters(params, {spec.name: spec for spec in specs})


def _show(state: CliState, schedule: ScheduleInfo) -> None:
    if state.as_json:
        output.emit_json(schedule.to_dict())
        return
    state.console.print(output.fields_table({**schedule.row(), "version": schedule.version}))


@schedules.command()
@click.argument("template")
@_when("0 6 * * 1-5", " in its team [default: the template's]")
@_TEAM
@_MISSED
@_OVERLAP
@_PARAM
@pass_state
def create(
    state: CliState,
    template: str,
    params: tuple[tuple[str, str], ...],
    **when: Unpack[TeamWhenArgs],
) -> None:
    """Schedule TEMPLATE.

    Example: lepton-lab schedules create dataset-report -p dataset retail/sales
    --cron '0 6 * * 1-5' --timezone Europe/Berlin --name morning-report
    """
    schedule = state.client.schedules.create(template, _typed(state, template, params), **when)
    _show(state, schedule)


@schedules.command("refresh")
@click.argument("dataset")
@_when("0 5 * * *", " [default: refresh-<dataset name>]")
@_MISSED
@pass_state
def refresh(state: CliState, dataset: str, **when: Unpack[WhenArgs]) -> None:
    """Refresh the SQL dataset DATASET (team/name) on a schedule.

    Example: lepton-lab schedules refresh finance/loans --cron '0 5 * * *'
    """
    _show(state, state.client.schedules.create_refresh(dataset, **when))


@schedules.command("pipeline")
@click.argument("pipeline")
@_when("0 2 1 * *", " [default: the pipeline's]")
@_TEAM
@_OVERLAP
@param_option("A pipeline input (JSON values are read as JSON, else text); repeat for several.")
@_MISSED
@pass_state
def pipeline(
    state: CliState,
    pipeline: str,
    params: tuple[tuple[str, str], ...],
    **when: Unpack[TeamWhenArgs],
) -> None:
    """Run the pipeline PIPELINE (team/name) on a schedule.

    Example: lepton-lab schedules pipeline finance/retrain --cron '0 2 1 * *'
    -p dataset finance/credit
    """
    inputs = {name: _json_or_text(raw) for name, raw in params}
    _show(state, state.client.schedules.create_pipeline(pipeline, inputs, **when))


def _json_or_text(raw: str) -> Any:
    """A pipeline input from the command line: a JSON value (3, true, [1, 2]), else text."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


@schedules.command("list")
@click.option("--team", help="Only this team's schedules.")
@pass_state
def list_schedules(state: CliState, team: str | None) -> None:
    """List the schedules of your teams."""
    found = state.client.schedules.list(team=team)
    if state.as_json:
        output.emit_json({"items": [s.to_dict() for s in found]})
        return
    output.print_rows(state.console, [s.row() for s in found], empty="No schedules.")


@schedules.command()
@click.argument("schedule_id")
@pass_state
def show(state: CliState, schedule_id: str) -> None:
    """Show a schedule and its latest runs."""
    schedule = state.client.schedules.get(schedule_id)
    runs = state.client.schedules.runs(schedule_id, limit=10)
    if state.as_json:
        output.emit_json({**schedule.to_dict(), "runs": [r.to_dict() for r in runs]})
        return
    _show(state, schedule)
    output.print_rows(state.console, [r.row() for r in runs], empty="No runs yet.")


@schedules.command()
@click.argument("schedule_id")
@click.option("--template", help="Another template.")
@click.option("--cron", help="A new cron expression.")
@click.option("--timezone", help="A new time zone.")
@click.option("--missed", type=click.Choice(MISSED_POLICIES), help="A new missed-run policy.")
@click.option("--overlap/--no-overlap", default=None, help="Allow runs to overlap, or not.")
@_PARAM
@pass_state
def update(
    state: CliState,
    /,
    schedule_id: str,
    params: tuple[tuple[str, str], ...],
    **changes: Any,
) -> None:
    """Change a schedule (a new version; -p replaces all the parameters)."""
    current = state.client.schedules.get(schedule_id)
    template = changes["template"] or current.template
    parameters = _typed(state, template, params) if params else None
    _show(state, state.client.schedules.update(schedule_id, parameters=parameters, **changes))


@schedules.command()
@click.argument("schedule_id")
@pass_state
def pause(state: CliState, schedule_id: str) -> None:
    """Stop a schedule firing until it is resumed."""
    _show(state, state.client.schedules.pause(schedule_id))


@schedules.command()
@click.argument("schedule_id")
@pass_state
def resume(state: CliState, schedule_id: str) -> None:
    """Fire again from the next due time."""
    _show(state, state.client.schedules.resume(schedule_id))


@schedules.command("run")
@click.argument("schedule_id")
@pass_state
def run_now(state: CliState, schedule_id: str) -> None:
    """Submit the schedule's job now; prints the job's id."""
    job = state.client.schedules.run_now(schedule_id)
    if state.as_json:
        output.emit_json(job.to_dict())
        return
    output.line(state.console, job.id)


@schedules.command()
@click.argument("schedule_id")
@pass_state
def delete(state: CliState, schedule_id: str) -> None:
    """Delete a schedule and its history (its jobs stay)."""
    state.client.schedules.delete(schedule_id)
    if not state.as_json:
        output.line(state.console, f"deleted schedule {schedule_id}")
