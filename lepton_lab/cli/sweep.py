"""``lepton-lab sweep``: one job per combination of a parameter grid, as one group."""

from __future__ import annotations

from typing import Any

import click

from lepton_lab.cli import CliState, output, param_option, pass_state
from lepton_lab.cli.run import parse_parameters
from lepton_lab.runs.info import ParameterSpec

__all__ = ["sweep"]


def _grid(
    values: tuple[tuple[str, str], ...], schema: dict[str, ParameterSpec]
) -> dict[str, list[Any]]:
    """``-g NAME V1,V2`` pairs as typed lists (each value typed like a ``-p`` value)."""
    grid: dict[str, list[Any]] = {}
    for name, raw in values:
        if name in grid:
            raise click.UsageError(f"{name} is given twice with -g; list its values once: a,b,c")
        parts = tuple((name, part.strip()) for part in raw.split(","))
        grid[name] = [parse_parameters((pair,), schema)[name] for pair in parts]
    return grid


@click.command()
@click.argument("template")
@click.option(
    "-g",
    "--grid",
    "grid",
    nargs=2,
    multiple=True,
    required=True,
    metavar="NAME V1,V2,…",
    help="A parameter and the values to try, comma-separated; repeat for several.",
)
@param_option("A parameter the same for every job; repeat for several.")
@click.option("--team", metavar="T", help="Share the sweep with this team.")
@click.option("--wait", "wait_", is_flag=True, help="Wait for every job, then print the results.")
@click.option("--sort-by", metavar="VALUE", help="With --wait: sort by this recorded value.")
@pass_state
def sweep(
    state: CliState,
    template: str,
    grid: tuple[tuple[str, str], ...],
    params: tuple[tuple[str, str], ...],
    team: str | None,
    wait_: bool,
    sort_by: str | None,
) -> None:
    """Run TEMPLATE once per combination of the -g values; prints the group's id.

    Example: lepton-lab sweep compare-models -g cv 3,5 -p dataset agri/wine --wait
    --sort-by best_score
    """
    client = state.client
    schema = {spec.name: spec for spec in client.templates.get(template).parameters}
    group = client.jobs.sweep(
        template, _grid(grid, schema), parse_parameters(params, schema) or None, team=team
    )
    if not wait_:
        if state.as_json:
            output.emit_json(group.info.to_dict())
        else:
            output.line(state.console, group.id)
            click.echo(f"queued {len(group.info.jobs)} jobs of {template}", err=True)
        return
    group.wait()
    frame = group.results(sort_by)
    if state.as_json:
        output.emit_json({**group.info.to_dict(), "results": frame.to_dict(orient="records")})
        return
    output.line(state.console, f"sweep {group.id}: {group.info.status}")
    rows = [{str(k): output.cell(v) for k, v in row.items()} for row in frame.to_dict("records")]
    output.print_rows(state.console, rows, empty="No jobs.")
    if group.info.status != "succeeded":
        raise SystemExit(1)
