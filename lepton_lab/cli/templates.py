"""``lepton-lab templates``: find, inspect and publish parameterised notebooks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lepton_lab.cli import CliState, output, pass_state
from lepton_lab.identity import Visibility
from lepton_lab.runs.info import ParameterSpec, TemplateInfo

__all__ = ["parameter_rows", "templates"]


@click.group()
def templates() -> None:
    """Find, inspect and publish notebook templates (run them with lepton-lab run)."""


@templates.command("list")
@click.argument("query", default="")
@click.option("--team", metavar="T", help="Only templates of this team.")
@click.option("--tag", metavar="T", help="Only templates carrying this tag.")
@pass_state
def list_templates(state: CliState, query: str, team: str | None, tag: str | None) -> None:
    """List the templates you may see (latest versions), shipped ones first.

    QUERY keeps those whose name, title, description or tags match it.

    Example: lepton-lab templates list report --tag datasets
    """
    found = state.client.templates.list(query, team=team, tag=tag)
    output.print_items(state.console, found, as_json=state.as_json, empty="no templates match")


@templates.command()
@click.argument("name")
@pass_state
def show(state: CliState, name: str) -> None:
    """Show template NAME (dataset-report, team/name or team/name@N) and its parameters.

    Example: lepton-lab templates show dataset-report
    """
    api = state.client.templates
    info = api.get(name)
    versions = api.versions(info.name)
    if state.as_json:
        output.emit_json({"template": info.to_dict(), "versions": [v.to_dict() for v in versions]})
        return
    console = state.console
    output.line(console, f"{info.ref}  {info.title}", style="bold")
    console.print(output.markdown(info.description))
    console.print(output.fields_table(_fields(info, versions)))
    output.line(console, "")
    output.print_rows(console, parameter_rows(info.parameters), empty="no parameters")


@templates.command()
@click.argument("notebook", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("name")
@click.option("--description", metavar="TEXT", help="The card: markdown text.")
@click.option("--tag", "tags", multiple=True, metavar="T", help="A tag; repeat for several.")
@click.option(
    "--visibility",
    type=click.Choice([v.value for v in Visibility]),
    help="Who may see it: only you, your team, or the whole organisation.",
)
@pass_state
def publish(
    state: CliState,
    notebook: Path,
    name: str,
    description: str | None,
    tags: tuple[str, ...],
    visibility: str | None,
) -> None:
    """Publish the notebook file NOTEBOOK as template NAME, written team/name.

    Changed content (or a new description or tags) makes a new version; the same content
    again names the existing one.

    Example: lepton-lab templates publish churn.ipynb science/churn --tag tabular
    """
    info = state.client.templates.publish(
        notebook, name, description=description, tags=list(tags) or None, visibility=visibility
    )
    if state.as_json:
        output.emit_json(info.to_dict())
        return
    output.line(state.console, f"published {info.ref}  {info.title}", style="bold")
    state.console.print(output.fields_table(_fields(info, [])))
    output.line(state.console, "")
    output.print_rows(state.console, parameter_rows(info.parameters), empty="no parameters")


def parameter_rows(specs: list[ParameterSpec]) -> list[dict[str, Any]]:
    """A template's parameters as table rows: name, type, default, required, help."""
    return [
        {
            "name": p.name,
            "type": f"{p.type} ({p.kind})" if p.kind else p.type,
            "default": "" if p.required else p.default_source,
            "required": "yes" if p.required else "",
            "help": f"{p.help} (one of {p.choices})".strip() if p.choices else p.help,
        }
        for p in specs
    ]


def _fields(info: TemplateInfo, versions: list[TemplateInfo]) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "kernel": info.kernel,
        "gpus": info.gpus,
        "owner": info.owner if not info.builtin else "(shipped with Lepton Lab)",
        "visibility": info.visibility,
        "tags": info.tags or "(none)",
        "sha256": info.sha256[:12],
    }
    if versions:
        fields["versions"] = [f"@{v.version} {v.created_at:%Y-%m-%d}" for v in versions]
    return fields
