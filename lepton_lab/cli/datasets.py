"""``lepton-lab datasets``: register, find, inspect, load and describe shared datasets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

import click

from lepton_lab.catalog.formats import format_names
from lepton_lab.catalog.info import DatasetInfo, VersionInfo, human_bytes
from lepton_lab.cli import CliState, options, output, pass_state
from lepton_lab.identity import Visibility

__all__ = ["datasets"]


@click.group()
def datasets() -> None:
    """Register, find, inspect and load shared datasets."""


# -- options shared by several commands ------------------------------------------------------


_card_options = options(
    click.option("--description", metavar="TEXT", help="The card: markdown text."),
    click.option(
        "--description-file",
        type=click.File(encoding="utf-8"),
        help="Read the markdown card from FILE ('-' for standard input).",
    ),
    click.option("--tag", "tags", multiple=True, metavar="T", help="A tag; repeat for several."),
    click.option(
        "--visibility",
        type=click.Choice([v.value for v in Visibility]),
        help="Who may see it: only you, your team, or the whole organisation.",
    ),
)

_filter_options = options(
    click.option("--team", metavar="T", help="Only datasets of this team."),
    click.option("--tag", metavar="T", help="Only datasets carrying this tag."),
    click.option("--owner", metavar="U", help="Only datasets this user owns."),
    click.option("--limit", default=20, show_default=True, help="Datasets per page."),
    click.option("--offset", default=0, show_default=True, help="Skip this many first."),
)


def _description(text: str | None, file: IO[str] | None) -> str | None:
    if text is not None and file is not None:
        raise click.UsageError("pass --description or --description-file, not both")
    return file.read() if file is not None else text


# -- commands ---------------------------------------------------------------------------------


@datasets.command()
@click.argument("path")
@click.argument("name")
@_card_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(format_names()),
    help="The file's format [default: from its suffix].",
)
@pass_state
def add(
    state: CliState,
    path: str,
    name: str,
    description: str | None,
    description_file: IO[str] | None,
    tags: tuple[str, ...],
    visibility: str | None,
    fmt: str | None,
) -> None:
    """Register the file PATH (or an fsspec URL) as dataset NAME, written team/name.

    Example: lepton-lab datasets add iris.csv science/iris --tag flowers
    """
    version = state.client.datasets.register(
        path,
        name,
        description=_description(description, description_file),
        tags=list(tags) or None,
        visibility=visibility,
        format=fmt,
    )
    _print_version(state, version)


def _print_version(state: CliState, version: VersionInfo) -> None:
    """A registered version and whether it is new, or its JSON."""
    if state.as_json:
        output.emit_json(version.to_dict())
        return
    if version.created:
        verdict = "registered as a new version"
    else:
        verdict = "identical to the existing version: nothing new was stored"
    output.line(state.console, f"{version.ref}  {verdict}", style="bold")
    state.console.print(output.fields_table(_version_fields(version)))


@datasets.command("add-query")
@click.argument("name")
@click.option("--connection", required=True, help="A connection granted to the team.")
@click.option("--query", "query", help="The SELECT statement.")
@click.option(
    "--query-file", type=click.File("r"), help="Read the SELECT statement from a file (- stdin)."
)
@_card_options
@pass_state
def add_query(
    state: CliState,
    name: str,
    connection: str,
    query: str | None,
    query_file: IO[str] | None,
    description: str | None,
    description_file: IO[str] | None,
    tags: tuple[str, ...],
    visibility: str | None,
) -> None:
    """Register the rows of a SQL query on CONNECTION as dataset NAME (team/name).

    The query runs where the catalog is; lepton-lab datasets refresh runs it again.

    Example: lepton-lab datasets add-query finance/loans --connection warehouse
    --query "select * from loans where year >= 2020"
    """
    if (query is None) == (query_file is None):
        raise click.UsageError("pass the query with --query or --query-file (one of them)")
    version = state.client.datasets.register_query(
        name,
        connection=connection,
        query=query if query is not None else query_file.read(),  # type: ignore[union-attr]
        description=_description(description, description_file),
        tags=list(tags) or None,
        visibility=visibility,
    )
    _print_version(state, version)


@datasets.command()
@click.argument("name")
@pass_state
def refresh(state: CliState, name: str) -> None:
    """Run the query of a SQL dataset again: a new version only when the rows changed."""
    _print_version(state, state.client.datasets.refresh(name))


@datasets.command()
@pass_state
def connections(state: CliState) -> None:
    """The SQL connections granted to your teams (names, never URLs)."""
    found = state.client.datasets.connections()
    if state.as_json:
        output.emit_json({"items": [c.to_dict() for c in found]})
        return
    rows = [{**c.to_dict(), "teams": ", ".join(c.teams)} for c in found]
    output.print_rows(state.console, rows, empty="No connections are granted to your teams.")


@datasets.command("list")
@_filter_options
@pass_state
def list_datasets(
    state: CliState, team: str | None, tag: str | None, owner: str | None, limit: int, offset: int
) -> None:
    """List the datasets you may see, most recently updated first.

    Example: lepton-lab datasets list --team science --limit 10
    """
    _search(state, "", team=team, tag=tag, owner=owner, limit=limit, offset=offset)


@datasets.command()
@click.argument("query")
@_filter_options
@pass_state
def search(
    state: CliState,
    query: str,
    team: str | None,
    tag: str | None,
    owner: str | None,
    limit: int,
    offset: int,
) -> None:
    """Find datasets whose names, cards, tags or columns match QUERY, best first.

    Example: lepton-lab datasets search "petal width" --tag flowers
    """
    _search(state, query, team=team, tag=tag, owner=owner, limit=limit, offset=offset)


@datasets.command()
@click.argument("ref")
@pass_state
def show(state: CliState, ref: str) -> None:
    """Show the card of REF (team/name or team/name@N) and its columns' profile.

    Example: lepton-lab datasets show science/iris
    """
    api = state.client.datasets
    info = api.get(ref)
    version = api.version(ref)
    profile = api.profile(version.ref)
    if state.as_json:
        output.emit_json(
            {"dataset": info.to_dict(), "version": version.to_dict(), "profile": profile}
        )
        return
    console = state.console
    output.line(console, info.ref, style="bold")
    console.print(output.markdown(info.description))
    console.print(output.fields_table(_card_fields(info)))
    title = f"{version.ref}: {version.rows} rows, {len(version.columns)} columns"
    console.print(output.profile_table(profile, title=title))


@datasets.command()
@click.argument("ref")
@click.option("--rows", default=10, show_default=True, help="How many first rows to show.")
@pass_state
def preview(state: CliState, ref: str, rows: int) -> None:
    """Show the first rows of REF, as stored when it was registered (the data is not read).

    Example: lepton-lab datasets preview science/iris@1 --rows 5
    """
    frame = state.client.datasets.preview(ref, rows)
    split = json.loads(frame.to_json(orient="split", index=False, date_format="iso"))
    if state.as_json:
        output.emit_json(split)
        return
    records = [dict(zip(split["columns"], values, strict=True)) for values in split["data"]]
    output.print_records(state.console, records, empty=f"{ref} has no rows to preview")


@datasets.command()
@click.argument("ref")
@pass_state
def versions(state: CliState, ref: str) -> None:
    """List every version of REF, newest first.

    Example: lepton-lab datasets versions science/iris
    """
    found = state.client.datasets.versions(ref)
    output.print_items(state.console, found, as_json=state.as_json, empty=f"{ref} has no versions")


@datasets.command()
@click.argument("ref")
@click.option("--columns", metavar="A,B", help="Only these columns, separated by commas.")
@click.option("--limit", type=int, help="Only the first N rows.")
@click.option(
    "--output",
    "target",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Write to FILE ({', '.join(output.WRITERS)}) instead of CSV on standard output.",
)
@pass_state
def load(
    state: CliState, ref: str, columns: str | None, limit: int | None, target: Path | None
) -> None:
    """Load the data of REF: to a file with --output, else as CSV on standard output.

    Example: lepton-lab datasets load science/iris --columns species --output iris.parquet
    """
    if target is not None:
        output.check_data_suffix(target, "--output")
    api = state.client.datasets
    version = api.version(ref)
    names = [c.strip() for c in columns.split(",")] if columns is not None else None
    table = api.load_table(version.ref, columns=names, limit=limit)
    if target is None:
        output.print_data(table, as_json=state.as_json)
        return
    output.write_data(table, target)
    if state.as_json:
        output.emit_json(
            {
                "ref": version.ref,
                "rows": table.num_rows,
                "columns": table.column_names,
                "path": str(target),
            }
        )
        return
    shape = f"{table.num_rows} rows, {table.num_columns} columns"
    output.line(state.console, f"wrote {version.ref} ({shape}) to {target}")


@datasets.command()
@click.argument("ref")
@_card_options
@pass_state
def update(
    state: CliState,
    ref: str,
    description: str | None,
    description_file: IO[str] | None,
    tags: tuple[str, ...],
    visibility: str | None,
) -> None:
    """Change the card, the tags (replacing them) or the visibility of REF.

    Example: lepton-lab datasets update science/iris --tag flowers --tag classic
    """
    text = _description(description, description_file)
    if text is None and not tags and visibility is None:
        raise click.UsageError(
            "nothing to change: pass --description, --description-file, --tag or --visibility"
        )
    info = state.client.datasets.update(
        ref, description=text, tags=list(tags) or None, visibility=visibility
    )
    if state.as_json:
        output.emit_json(info.to_dict())
        return
    output.line(state.console, f"updated {info.ref}", style="bold")
    state.console.print(output.fields_table(_card_fields(info)))


# -- helpers ----------------------------------------------------------------------------------


def _search(state: CliState, query: str, **filters: Any) -> None:
    """One page of the datasets matching ``query`` and ``filters``, printed."""
    page = state.client.datasets.search(query, **filters)
    output.print_page(state.console, page, noun="datasets", as_json=state.as_json)


def _card_fields(info: DatasetInfo) -> dict[str, Any]:
    return {
        "owner": info.owner,
        "team": info.team,
        "visibility": info.visibility,
        "tags": info.tags or "(none)",
        "latest": f"{info.ref}@{info.latest_version}: {info.rows} rows, {human_bytes(info.bytes)}",
        "updated": info.updated_at.strftime("%Y-%m-%d %H:%M"),
    }


def _version_fields(version: VersionInfo) -> dict[str, Any]:
    return {
        "rows": version.rows,
        "columns": len(version.columns),
        "size": human_bytes(version.bytes),
        "sha256": version.sha256[:12],
        "source": version.source,
    }
