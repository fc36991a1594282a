"""How ``lepton-lab`` answers: rich tables and text for people, JSON for machines.

Helpers here only shape what the client returned; they never decide anything.  Rich
wraps tables to the terminal's width and prints plain text when standard output is not
a terminal, so the same calls serve a person at a prompt and a pipe.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import click
from rich import box
from rich.console import Console, RenderableType
from rich.markdown import Markdown
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from lepton_lab.errors import InvalidInput
from lepton_lab.paging import Page

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "WRITERS",
    "cell",
    "check_data_suffix",
    "emit_json",
    "error",
    "fields_table",
    "line",
    "make_console",
    "markdown",
    "page_dict",
    "page_summary",
    "print_data",
    "print_items",
    "print_page",
    "print_records",
    "print_rows",
    "profile_table",
    "rows_table",
    "stat",
    "write_data",
]

#: Top values shown per column in a profile table.
TOP_VALUES = 3


def make_console() -> Console:
    """A console for standard output that prints text as given (no markup, no emoji codes).

    Names, descriptions and values come from users; ``[b]`` or ``:smile:`` in them is text.
    """
    return Console(markup=False, emoji=False)


def line(console: Console, text: str, *, style: str = "") -> None:
    """One line of text, never wrapped, so that refs and paths in it stay whole to copy."""
    console.print(Text(text, style=style), soft_wrap=True)


def emit_json(data: Any) -> None:
    """Print ``data`` as one indented JSON document (dates and other values as text)."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def error(message: str) -> None:
    """Print ``error: <message>`` to standard error."""
    click.echo(f"error: {message}", err=True)


def rows_table(
    rows: Sequence[Mapping[str, Any]], *, title: str | None = None, keys: Sequence[str] = ()
) -> Table:
    """A table of ``rows`` (of the columns ``keys``, default all); cells wrap between words."""
    widths = _minimum_widths(rows)
    table = _table(title)
    for key in keys or list(widths):
        numeric = all(_is_number(row.get(key)) for row in rows)
        table.add_column(
            key, min_width=widths[key], overflow="fold", justify="right" if numeric else "left"
        )
    for row in rows:
        table.add_row(*(cell(row.get(key)) for key in keys or widths))
    return table


def _table(title: str | None) -> Table:
    """A table with a rule under its header and nothing around it: room for the data."""
    return Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        padding=(0, 1, 0, 0),
        pad_edge=False,
    )


def print_rows(
    console: Console, rows: Sequence[Mapping[str, Any]], *, empty: str, title: str | None = None
) -> None:
    """Print a listing as a table; the last columns are left out when it cannot fit.

    Squeezed narrower than its words a table becomes unreadable (rich breaks names
    mid-word or crops), so columns that do not fit are dropped from the right, the most
    important being first, and a line names them.  No rows: the ``empty`` line.
    """
    if not rows:
        line(console, empty)
        return
    widths = _minimum_widths(rows)
    keys = list(widths)
    while len(keys) > 1 and _span(widths, keys) > console.width:
        keys.pop()
    console.print(rows_table(rows, title=title, keys=keys))
    if len(keys) < len(widths):
        hidden = ", ".join(list(widths)[len(keys) :])
        line(console, f"(not shown, for width: {hidden}; widen the terminal or use --json)")


def print_items(
    console: Console,
    items: Iterable[Any],
    *,
    as_json: bool,
    empty: str,
) -> None:
    """Print a listing of value objects: their JSON forms (``to_dict()``) with --json,
    else a table of their rows (``row()``)."""
    if as_json:
        emit_json([item.to_dict() for item in items])
        return
    print_rows(console, [item.row() for item in items], empty=empty)


def print_records(console: Console, rows: Sequence[Mapping[str, Any]], *, empty: str) -> None:
    """Print rows of data: a table when it fits the terminal, else record by record.

    Data can have any number of columns, all of interest, so rather than dropping some
    each record is then printed as a name-value list (as psql's expanded display does).
    """
    widths = _minimum_widths(rows)
    if not rows or _span(widths, list(widths)) <= console.width:
        print_rows(console, rows, empty=empty)
        return
    for number, row in enumerate(rows, 1):
        console.print(Rule(f"row {number} of {len(rows)}", align="left", style="dim"))
        console.print(fields_table(row))


def _minimum_widths(rows: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Per column, the width of its longest word, header included: narrower breaks words."""
    return {
        key: max(_longest_word(key), *(_longest_word(cell(row.get(key))) for row in rows))
        for key in (rows[0] if rows else ())
    }


def _span(widths: Mapping[str, int], keys: Sequence[str]) -> int:
    """The width of a table of these columns at their minimum widths, with the gaps."""
    return sum(widths[key] for key in keys) + 2 * (len(keys) - 1)


def _longest_word(text: str) -> int:
    return max((len(word) for word in text.split()), default=0)


def page_summary(page: Page[Any], *, noun: str = "results") -> str:
    """``"1-20 of 143; next: --offset 20"`` (an en dash), or a line saying nothing matched."""
    if page.total == 0:
        return f"no {noun}"
    if not page.items:
        return f"nothing at offset {page.offset}: {page.total} {noun} in all"
    shown = f"{page.offset + 1}\N{EN DASH}{page.offset + len(page.items)} of {page.total}"
    if page.next_offset is None:
        return shown
    return f"{shown}; next: --offset {page.next_offset}"


def print_page(console: Console, page: Page[Any], *, noun: str, as_json: bool) -> None:
    """A page of results as JSON, or as a table and the line that says how to page on."""
    if as_json:
        emit_json(page_dict(page))
        return
    print_rows(console, [item.row() for item in page], empty=f"no {noun} match")
    line(console, page_summary(page, noun=noun))


def page_dict(page: Page[Any]) -> dict[str, Any]:
    """JSON form of a page: its items' ``to_dict()`` and where it lies among all results."""
    return {
        "items": [item.to_dict() for item in page],
        "total": page.total,
        "offset": page.offset,
        "limit": page.limit,
        "next_offset": page.next_offset,
    }


def fields_table(fields: Mapping[str, Any]) -> Table:
    """Name-value lines, the names dimmed: the header of a card."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    for name, value in fields.items():
        grid.add_row(name, cell(value))
    return grid


def markdown(text: str, *, empty: str = "(no description)") -> RenderableType:
    """``text`` rendered as markdown, or a dimmed placeholder when it is blank."""
    if not text.strip():
        return Text(empty, style="dim")
    return Markdown(text)


def profile_table(profile: Mapping[str, Any], *, title: str | None = None) -> Table:
    """The schema and profile of a version: one line per column with its statistics."""
    table = _table(title)
    table.add_column("column", overflow="fold", ratio=3)
    table.add_column("type", overflow="fold", ratio=2)
    for name in ("nulls", "distinct", "min", "max", "mean"):
        table.add_column(name, justify="right", overflow="fold", ratio=2)
    table.add_column("top values", overflow="fold", ratio=4)
    for column in profile.get("columns", []):
        table.add_row(
            column["name"],
            column["type"],
            stat(column.get("nulls")),
            _distinct(column),
            stat(column.get("min")),
            stat(column.get("max")),
            stat(column.get("mean")),
            _top(column.get("top") or []),
        )
    return table


# -- data files ------------------------------------------------------------------------------


# pyarrow is imported where it is used, to keep ``--help`` and ``--version`` quick.


def _write_csv(table: pa.Table, sink: str | BinaryIO) -> None:
    import pyarrow.csv as pa_csv

    pa_csv.write_csv(table, sink)


def _write_parquet(table: pa.Table, path: str) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, path)


def _write_jsonl(table: pa.Table, path: str) -> None:
    table.to_pandas().to_json(path, orient="records", lines=True, date_format="iso")


#: Suffix of a data file written by ``datasets load --output`` -> how a table is written.
WRITERS: dict[str, Callable[[pa.Table, str], None]] = {
    ".csv": _write_csv,
    ".parquet": _write_parquet,
    ".jsonl": _write_jsonl,
}


def check_data_suffix(target: Path, option: str) -> None:
    """Refuse, as a usage error, a file name whose suffix names no format we write."""
    if target.suffix.lower() not in WRITERS:
        ends = f"ends in {target.suffix!r}" if target.suffix else "has no suffix"
        raise click.BadParameter(
            f"{target.name} {ends}; name a file ending in {', '.join(WRITERS)}",
            param_hint=f"'{option}'",
        )


def write_data(table: pa.Table, target: Path) -> None:
    """Write ``table`` to ``target`` in the format of its suffix, whole or not at all."""
    import pyarrow as pa

    partial = target.with_name(f".{target.name}.partial")
    try:
        WRITERS[target.suffix.lower()](table, str(partial))
        partial.replace(target)
    except (OSError, pa.ArrowException) as exc:
        raise InvalidInput(f"cannot write {target}: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)


def print_data(table: pa.Table, *, as_json: bool) -> None:
    """``table`` on standard output: CSV, or a JSON array of records with ``as_json``."""
    if as_json:
        emit_json(json.loads(table.to_pandas().to_json(orient="records", date_format="iso")))
        return
    sys.stdout.flush()
    _write_csv(table, sys.stdout.buffer)
    sys.stdout.buffer.flush()


# -- values ----------------------------------------------------------------------------------


def cell(value: Any) -> str:
    """A value as table text: nothing for None, lists joined by commas."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value)
    return str(value)


def stat(value: Any) -> str:
    """A statistic, short: integers whole, other numbers to four significant digits."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return cell(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _distinct(column: Mapping[str, Any]) -> str:
    """The distinct count, with ``~`` when it is an estimate."""
    if column.get("distinct") is None:
        return ""
    prefix = "" if column.get("distinct_exact", True) else "~"
    return f"{prefix}{column['distinct']}"


def _top(top: Iterable[Mapping[str, Any]]) -> str:
    """``"setosa (50), versicolor (50), …"``."""
    values = list(top)
    shown = ", ".join(f"{stat(v['value'])} ({v['count']})" for v in values[:TOP_VALUES])
    return f"{shown}, …" if len(values) > TOP_VALUES else shown
