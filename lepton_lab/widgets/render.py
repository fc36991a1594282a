"""HTML for the widgets: cards, column profiles, previews and page labels.

Pure functions from the client's values to HTML strings, so that they can be tested and
reused without a widget.  Every piece of user text (names, descriptions, column names,
cell values) goes through :func:`html.escape` or markdown-it with raw HTML off: a card is
written by someone else, and the notebook must never run their markup.
"""

from __future__ import annotations

import html
import keyword
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from markdown_it import MarkdownIt

if TYPE_CHECKING:
    import pandas as pd

    from lepton_lab.catalog.info import DatasetInfo, VersionInfo

__all__ = [
    "card_html",
    "default_variable",
    "histogram_svg",
    "page_label",
    "preview_html",
    "profile_html",
    "result_label",
    "version_label",
]

#: Commonmark with raw HTML disabled: ``<script>`` in a card is shown as text, not run.
_MARKDOWN = MarkdownIt("commonmark", {"html": False})
_NOT_IDENTIFIER = re.compile(r"\W")
_SVG_WIDTH, _SVG_HEIGHT = 120, 28
_DASH = "\N{EN DASH}"


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _number(value: Any) -> str:
    """A statistic shown compactly: ``5.843`` not ``5.843333333333334``; ``—`` for none."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return _esc(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


# -- the result list ---------------------------------------------------------------------------


def result_label(info: DatasetInfo) -> str:
    """One line of the result list (plain text: a Select shows labels as text)."""
    updated = info.updated_at.strftime("%Y-%m-%d")
    return f"{info.ref} · {info.owner} · {info.rows:,} rows · {updated} · {info.visibility}"


def page_label(offset: int, shown: int, total: int, what: str = "datasets") -> str:
    """``"21-40 of 143"`` (with an en dash), or what to say when the page of ``what``
    (datasets, models) is empty."""
    if total == 0:
        return f"No {what} match"
    if shown == 0:
        return f"Past the end: {total:,} in all"
    return f"{offset + 1:,}{_DASH}{offset + shown:,} of {total:,}"


def version_label(version: VersionInfo) -> str:
    """One entry of the version picker."""
    created = version.created_at.strftime("%Y-%m-%d %H:%M")
    return f"@{version.version} · {version.rows:,} rows · {created} · {version.created_by}"


def default_variable(name: str) -> str:
    """A Python variable for a dataset name: ``credit-2024`` -> ``credit_2024``."""
    candidate = _NOT_IDENTIFIER.sub("_", name) or "df"
    if candidate[0].isdigit():
        candidate = f"df_{candidate}"
    return f"{candidate}_" if keyword.iskeyword(candidate) else candidate


# -- the card --------------------------------------------------------------------------------


def card_html(info: DatasetInfo) -> str:
    """The dataset's title, facts and markdown description."""
    tags = " ".join(f"<code>{_esc(t)}</code>" for t in info.tags) or "none"
    facts = (
        f"owner <b>{_esc(info.owner)}</b> · team <b>{_esc(info.team)}</b> · "
        f"visibility <b>{_esc(info.visibility)}</b> · latest @{info.latest_version} · "
        f"{info.rows:,} rows · tags {tags}"
    )
    body = (
        _MARKDOWN.render(info.description)
        if info.description.strip()
        else "<p><i>No card yet.</i></p>"
    )
    return (
        f'<div class="ll-card"><h3>{_esc(info.ref)}</h3><p>{facts}</p>'
        f'<div class="ll-card-body">{body}</div></div>'
    )


# -- the profile -----------------------------------------------------------------------------


def histogram_svg(edges: Sequence[float], counts: Sequence[int]) -> str:
    """A small inline bar chart: one bar per bin, heights relative to the fullest bin.

    SVG rather than matplotlib: a profile table draws one per numeric column, and a string
    of rectangles costs nothing to build or to send.
    """
    if not counts:
        return ""
    tallest = max(max(counts), 1)
    width = _SVG_WIDTH / len(counts)
    bars = []
    for i, count in enumerate(counts):
        height = _SVG_HEIGHT * count / tallest
        tip = (
            f"{_number(edges[i])} to {_number(edges[i + 1])}: {count:,}"
            if len(edges) > i + 1
            else ""
        )
        bars.append(
            f'<rect x="{i * width:.2f}" y="{_SVG_HEIGHT - height:.2f}" '
            f'width="{max(width - 1, 0.5):.2f}" height="{height:.2f}" fill="#4c78a8">'
            f"<title>{_esc(tip)}</title></rect>"
        )
    return (
        f'<svg class="ll-hist" width="{_SVG_WIDTH}" height="{_SVG_HEIGHT}" '
        f'viewBox="0 0 {_SVG_WIDTH} {_SVG_HEIGHT}" role="img">{"".join(bars)}</svg>'
    )


def _top_values(top: Iterable[dict[str, Any]]) -> str:
    items = [f"{_esc(t['value'])} <small>({t['count']:,})</small>" for t in top]
    return "<br>".join(items)


def _summary(column: dict[str, Any]) -> str:
    """The statistics cell: range and moments for numbers, bounds for dates, lengths for text."""
    kind = column.get("kind")
    if kind == "number":
        return (
            f"min {_number(column.get('min'))} · max {_number(column.get('max'))}<br>"
            f"mean {_number(column.get('mean'))} · std {_number(column.get('std'))}"
        )
    if kind == "temporal":
        return f"{_esc(column.get('min') or '—')} to {_esc(column.get('max') or '—')}"
    if "min_length" in column:
        return (
            f"length {_number(column.get('min_length'))}{_DASH}{_number(column.get('max_length'))}"
        )
    return ""


def _distribution(column: dict[str, Any]) -> str:
    """The picture cell: a histogram for numbers, the most frequent values otherwise."""
    histogram = column.get("histogram")
    if histogram:
        return histogram_svg(histogram["edges"], histogram["counts"])
    if column.get("top"):
        return _top_values(column["top"])
    return ""


def profile_html(profile: dict[str, Any]) -> str:
    """The schema and column profile as a table, one row per column."""
    rows = []
    for column in profile.get("columns", []):
        distinct = column.get("distinct")
        approx = "" if column.get("distinct_exact", True) else "≈"
        rows.append(
            "<tr>"
            f"<td><b>{_esc(column.get('name', ''))}</b></td>"
            f"<td><code>{_esc(column.get('type', ''))}</code></td>"
            f"<td>{_number(column.get('nulls'))}</td>"
            f"<td>{approx}{_number(distinct)}</td>"
            f"<td>{_summary(column)}</td>"
            f"<td>{_distribution(column)}</td>"
            "</tr>"
        )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("column", "type", "nulls", "distinct", "statistics", "distribution")
    )
    return (
        f"<p>{_number(profile.get('rows'))} rows · {len(rows)} columns</p>"
        f'<table class="ll-profile"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def preview_html(frame: pd.DataFrame) -> str:
    """The first rows as a table; pandas escapes headers and cells (``escape=True``)."""
    if frame.empty:
        return "<p><i>No rows.</i></p>"
    table: str = frame.to_html(
        index=False, escape=True, border=0, classes="ll-preview", max_cols=40
    )
    return table
