"""What the catalog tells about datasets: plain, immutable values, safe to hand to any surface."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from typing_extensions import TypedDict

from lepton_lab.jsonform import JsonForm
from lepton_lab.store.tables import Dataset, DatasetVersion

__all__ = ["DatasetFilterArgs", "DatasetInfo", "LoadArgs", "PlainRow", "VersionInfo", "human_bytes"]

#: A row of a Core select (any columns), read by attribute like an ORM object.
PlainRow = Row[*tuple[Any, ...]]


class DatasetFilterArgs(TypedDict, total=False):
    """Which datasets a search keeps (None: any), and the page wanted."""

    team: str | None
    """Only this team's datasets."""

    tag: str | None
    """Only datasets with this tag."""

    owner: str | None
    """Only this user's datasets."""

    limit: int
    """At most this many (default 20)."""

    offset: int
    """Skip this many (default 0)."""


class LoadArgs(TypedDict, total=False):
    """Which part of a version is read, and who reads it (None, or not given: all)."""

    columns: list[str] | None
    """Only these columns, in this order."""

    limit: int | None
    """Only the first rows."""

    reader: str | None
    """The lineage node recorded as reading it (default: the user)."""


def human_bytes(size: int) -> str:
    """``1536`` -> ``"1.5 KB"``."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class DatasetInfo(JsonForm):
    """A dataset and a summary of its latest version."""

    ref: str
    team: str
    name: str
    owner: str
    visibility: str
    description: str
    tags: list[str]
    latest_version: int
    rows: int
    bytes: int
    created_at: datetime
    updated_at: datetime
    query: dict[str, str] | None = None
    """A dataset read from SQL: ``{"connection": name, "query": text}`` (never a URL)."""

    #: The columns of a dataset's row that a card reads, in the order :meth:`of` takes a
    #: plain row's values (the REST API's lists and cards select them so).
    COLUMNS = (
        "team",
        "name",
        "owner",
        "visibility",
        "description",
        "tags",
        "latest_version",
        "latest_rows",
        "latest_bytes",
        "created_at",
        "updated_at",
        "query",
    )

    @classmethod
    def of(cls, row: Dataset | PlainRow) -> DatasetInfo:
        """From a table row: an ORM object, or a plain row of :data:`COLUMNS`."""
        # A plain row is unpacked, not read by name: its attributes are looked up by key,
        # two thirds of the time of a page of cards.
        values = row if isinstance(row, Row) else [getattr(row, c) for c in cls.COLUMNS]
        team, name, owner, visibility, description, tags, *rest = values
        version, rows, size, created_at, updated_at, query = rest
        return cls(
            f"{team}/{name}",
            team,
            name,
            owner,
            visibility,
            description,
            list(tags),
            version,
            rows,
            size,
            created_at,
            updated_at,
            dict(query) if query else None,
        )

    def row(self) -> dict[str, Any]:
        """One line of a listing."""
        return {
            "dataset": self.ref,
            "version": self.latest_version,
            "owner": self.owner,
            "visibility": self.visibility,
            "rows": self.rows,
            "size": human_bytes(self.bytes),
            "tags": ", ".join(self.tags),
            "updated": self.updated_at.strftime("%Y-%m-%d %H:%M"),
        }


@dataclass(frozen=True)
class VersionInfo(JsonForm):
    """One immutable version of a dataset (its profile and preview are fetched apart)."""

    ref: str
    dataset: str
    version: int
    sha256: str
    rows: int
    bytes: int
    columns: list[dict[str, str]]
    source: str
    job_id: str | None
    created_by: str
    created_at: datetime
    created: bool | None = None
    """From ``register`` only: False when identical content was already this version."""

    @classmethod
    def of(cls, dataset: str, row: DatasetVersion, *, created: bool | None = None) -> VersionInfo:
        """From a table row."""
        return cls(
            f"{dataset}@{row.version}",
            dataset,
            row.version,
            row.sha256,
            row.rows,
            row.bytes,
            list(row.columns),
            row.source,
            row.job_id,
            row.created_by,
            row.created_at,
            created,
        )

    def row(self) -> dict[str, Any]:
        """One line of a listing."""
        return {
            "version": self.ref,
            "rows": self.rows,
            "columns": len(self.columns),
            "size": human_bytes(self.bytes),
            "sha256": self.sha256[:12],
            "by": self.created_by,
            "created": self.created_at.strftime("%Y-%m-%d %H:%M"),
            "source": self.source,
        }
