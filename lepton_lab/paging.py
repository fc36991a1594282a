"""A page of results: what every list and search in Lepton Lab returns."""

from __future__ import annotations

import html
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from lepton_lab.errors import InvalidInput

__all__ = ["MAX_LIMIT", "Page", "check_page", "row_html"]

#: The most items one page may hold.
MAX_LIMIT = 500


class _Row(Protocol):
    def row(self) -> dict[str, Any]: ...


T = TypeVar("T", bound=_Row)


@dataclass(frozen=True)
class Page(Generic[T]):
    """``items`` from ``offset`` among ``total`` matches."""

    items: Sequence[T]
    total: int
    offset: int
    limit: int

    @property
    def next_offset(self) -> int | None:
        """Offset of the next page, or None on the last page."""
        after = self.offset + len(self.items)
        return after if after < self.total else None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> T:
        """The item at ``index`` on this page (``ll.jobs.list()[0]``: the newest job)."""
        return self.items[index]

    def to_frame(self) -> Any:
        """The page as a pandas DataFrame, one row per item."""
        import pandas as pd

        return pd.DataFrame([item.row() for item in self.items])

    def _repr_html_(self) -> str:
        rows = [item.row() for item in self.items]
        if not rows:
            return "<p>No results.</p>"
        head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r.values()) + "</tr>"
            for r in rows
        )
        shown = f"{self.offset + 1}-{self.offset + len(rows)} of {self.total}"
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table><p>{shown}</p>"


def row_html(row: dict[str, Any]) -> str:
    """One item's :meth:`row` as a two-column table (its notebook display)."""
    cells = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in row.items()
    )
    return f"<table>{cells}</table>"


def check_page(limit: int, offset: int) -> None:
    """Refuse a limit or offset that is not a sensible page."""
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}, not {limit!r}")
    if not isinstance(offset, int) or offset < 0:
        raise InvalidInput(f"offset must be 0 or more, not {offset!r}")
