"""``lepton-lab schedules``: run a template on a cron schedule, from the runners.

Schedules fire from the job runners and the Lepton Lab server, never from your session:
they go on after you log out.  Each due time fires once, however many runners there are.
"""

from __future__ import annotations

import json
from typing import Any

import click

from lepton_lab.cli import CliState, output, pass_state
from lepton_lab.cli.run import parse_parameters
from lepton_lab.runs.schedule_info import MISSED_POLICIES, ScheduleInfo

__all__ = ["schedules"]

_PARAM = click.option(
    "-p",
    "--param",
    "params",
    nargs=2,
    multiple=True,
    metavar="NAME VALUE",
    help="A parameter, typed by the template's schema; repeat for several.",
)
_MISSED = click.option(
    "--missed",
    type=click.Choice(MISSED_POLICIES),
    default="skip",
    show_default=True,
    help="Due times that passed while no runner was up: skip them, or run once.",
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
@click.option("--cron", required=True, help="When: five cron fields, e.g. '0 6 * * 1-5'.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone of --cron.")
@click.option("--name", help="The schedule's name in its team [default: the template's].")
@click.option("--team", help="The team it belongs to [default: your only team].")
@_MISSED
@click.option("--overlap", is_flag=True, help="Start a run while the previous one still runs.")
@_PARAM
@pass_state
def create(
    state: CliState,
    template: str,
    cron: str,
    timezone: str,
    name: str | None,
    team: str | None,
    missed: str,
    overlap: bool,
    params: tuple[tuple[str, str], ...],
) -> None:
    """Schedule TEMPLATE.

    Example: lepton-lab schedules create dataset-report -p dataset retail/sales
    --cron '0 6 * * 1-5' --timezone Europe/Berlin --name morning-report
    """
    schedule = state.client.schedules.create(
        template,
        _typed(state, template, params),
        cron=cron,
        timezone=timezone,
        name=name,
        team=team,
        missed=missed,
        overlap=overlap,
    )
    _show(state, schedule)


@schedules.command("refresh")
@click.argument("dataset")
@click.option("--cron", required=True, help="When: five cron fields, e.g. '0 5 * * *'.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone of --cron.")
@click.option("--name", help="The schedule's name [default: refresh-<dataset name>].")
@_MISSED
@pass_state
def refresh(
    state: CliState, dataset: str, cron: str, timezone: str, name: str | None, missed: str
) -> None:
    """Refresh the SQL dataset DATASET (team/name) on a schedule.

    Example: lepton-lab schedules refresh finance/loans --cron '0 5 * * *'
    """
    schedule = state.client.schedules.create_refresh(
        dataset, cron=cron, timezone=timezone, name=name, missed=missed
    )
    _show(state, schedule)


@schedules.command("pipeline")
@click.argument("pipeline")
@click.option("--cron", required=True, help="When: five cron fields, e.g. '0 2 1 * *'.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone of --cron.")
@click.option("--name", help="The schedule's name [default: the pipeline's].")
@click.option("--team", help="The team it belongs to [default: your only team].")
@click.option("--overlap", is_flag=True, help="Start a run while the previous one still runs.")
@click.option(
    "-p", "--param", "params", nargs=2, multiple=True, metavar="NAME VALUE",
    help="A pipeline input (JSON values are read as JSON, else text); repeat for several.",
)  # fmt: skip
@_MISSED
@pass_state
def pipeline(
    state: CliState,
    pipeline: str,
    cron: str,
    timezone: str,
    name: str | None,
    team: str | None,
    overlap: bool,
    params: tuple[tuple[str, str], ...],
    missed: str,
) -> None:
    """Run the pipeline PIPELINE (team/name) on a schedule.

    Example: lepton-lab schedules pipeline finance/retrain --cron '0 2 1 * *'
    -p dataset finance/credit
    """
    schedule = state.client.schedules.create_pipeline(
        pipeline,
        {name_: _json_or_text(raw) for name_, raw in params},
        cron=cron,
        timezone=timezone,
        name=name,
        team=team,
        missed=missed,
        overlap=overlap,
    )
    _show(state, schedule)


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
    schedule_id: str,
    template: str | None,
    cron: str | None,
    timezone: str | None,
    missed: str | None,
    overlap: bool | None,
    params: tuple[tuple[str, str], ...],
) -> None:
    """Change a schedule (a new version; -p replaces all the parameters)."""
    current = state.client.schedules.get(schedule_id)
    parameters = _typed(state, template or current.template, params) if params else None
    schedule = state.client.schedules.update(
        schedule_id,
        template=template,
        cron=cron,
        timezone=timezone,
        missed=missed,
        overlap=overlap,
        parameters=parameters,
    )
    _show(state, schedule)


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
