"""``ll.datasets``: register, find, inspect and load shared datasets, on either backend.

Most calls are operations of the contract (:mod:`lepton_lab.contract.datasets`), made the
same way on both backends.  Moving the data itself differs: the local backend hands the
services a DataFrame or a path and reads the stored Parquet file in place; the remote one
uploads the file (:mod:`lepton_lab.client.upload`) and downloads versions as Parquet, kept
verified in ``{LEPTON_LAB_HOME or ~/.lepton-lab}/cache/remote/<sha256>.parquet``.  Those
three moves are :class:`LocalTransfers` and :class:`RemoteTransfers`, one chosen per backend.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from typing_extensions import Unpack

from lepton_lab.catalog.info import DatasetFilterArgs, DatasetInfo, VersionInfo
from lepton_lab.catalog.sql import ConnectionInfo
from lepton_lab.client.backend import Backend, LocalBackend, RemoteBackend
from lepton_lab.client.card import CardArgs
from lepton_lab.client.upload import csv_param, open_upload
from lepton_lab.contract import datasets as ops
from lepton_lab.contract import sql as sql_ops
from lepton_lab.errors import InvalidInput
from lepton_lab.events import EventInfo
from lepton_lab.paging import Page
from lepton_lab.refs import parse_ref
from lepton_lab.runs.info import keywords

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["Datasets", "LocalTransfers", "RemoteTransfers", "Transfers", "transfers"]

# A longer description does not fit in the upload's query string: it is set afterwards.
_MAX_QUERY_DESCRIPTION = 16 * 1024
# The local backend's words for lists that are not lists of names.
_NOT_TAGS = "tags must be a list of strings, e.g. ['risk', 'x']"
_NOT_COLUMNS = "columns must be a list of column names"


def _dataset(ref: str) -> dict[str, str]:
    """The path fields naming the dataset of ``ref`` (a version in it is ignored)."""
    parsed = parse_ref(ref, "dataset")
    return {"team": parsed.team, "name": parsed.name}


def _version(ref: str) -> dict[str, str]:
    """The path fields naming the version ``ref`` pins (``latest`` when it pins none)."""
    parsed = parse_ref(ref, "dataset")
    if parsed.alias is not None:
        raise InvalidInput(
            f"datasets have numbered versions only: use {parsed.qualified}@N, not @{parsed.alias}"
        )
    number = str(parsed.version) if parsed.version else "latest"
    return {"team": parsed.team, "name": parsed.name, "version": number}


class Transfers(Protocol):
    """How a backend moves a dataset's data: in by registering it, out as Parquet."""

    def register(
        self, data: Any, name: str, card: dict[str, Any], format: str | None
    ) -> VersionInfo:
        """Store ``data`` as the next version of ``name`` with ``card`` (description,
        tags, visibility); the :class:`VersionInfo`."""

    def load_table(self, ref: str, columns: list[str] | None, limit: int | None) -> pa.Table:
        """The version's data, or some of its columns and first rows."""

    def path(self, ref: str) -> Path:
        """A verified local Parquet file holding the version."""


class LocalTransfers:
    """The services read and write the data in this process."""

    def __init__(self, backend: LocalBackend) -> None:
        self._backend = backend
        self._service = backend.workspace.datasets

    def register(
        self, data: Any, name: str, card: dict[str, Any], format: str | None
    ) -> VersionInfo:
        """Register in place; inside a job, the version records the job that made it."""
        job_id = os.environ.get("LEPTON_LAB_JOB_ID")
        actor = self._backend.actor()
        return self._service.register(actor, data, name, format=format, job_id=job_id, **card)

    def load_table(self, ref: str, columns: list[str] | None, limit: int | None) -> pa.Table:
        """Read the stored file (the read is recorded in the lineage)."""
        actor, reader = self._backend.actor(), self._backend.reader
        return self._service.load_table(actor, ref, columns=columns, limit=limit, reader=reader)

    def path(self, ref: str) -> Path:
        """The blob store's verified file."""
        return self._service.path(self._backend.actor(), ref, reader=self._backend.reader)[1]


class RemoteTransfers:
    """Uploads and Parquet downloads over REST; whole versions are cached, verified."""

    def __init__(self, backend: RemoteBackend) -> None:
        self._backend = backend
        self._http = backend.transport
        self._cache = backend.cache

    def register(
        self, data: Any, name: str, card: dict[str, Any], format: str | None
    ) -> VersionInfo:
        """Upload the file or the frame as Parquet, the card in the query."""
        ref = parse_ref(name, "dataset name")
        if ref.version is not None or ref.alias is not None:
            raise InvalidInput(
                f"register into {ref.qualified}, without '@…': versions are numbered for you"
            )
        params, late = _card_query(card)
        with open_upload(data, format) as upload:
            answer = self._http.json(
                ops.REGISTER.method,
                *ops.REGISTER.path_parts(ops.REGISTER.bind(team=ref.team, name=ref.name)),
                data=upload.body,
                params={**upload.params, **params},
                headers={"Content-Type": upload.content_type},
            )
        version = VersionInfo.from_dict(answer)
        if late and version.created:
            self._backend.call(ops.UPDATE, **_dataset(name), description=card["description"])
        return version

    def load_table(self, ref: str, columns: list[str] | None, limit: int | None) -> pa.Table:
        """A whole version from the cache; a part downloaded as Parquet."""
        import pyarrow.parquet as pq

        if columns is None and limit is None:
            return pq.ParquetFile(self.path(ref)).read()
        listed = None if columns is None else csv_param(columns, _NOT_COLUMNS)
        request = ops.DATA.bind(**_version(ref), columns=listed, limit=limit)
        parts = ops.DATA.path_parts(request)
        answer = self._http.request(ops.DATA.method, *parts, params=ops.DATA.query(request))
        return pq.read_table(io.BytesIO(answer.content))

    def path(self, ref: str) -> Path:
        """The cached copy of the version, downloaded (and its sha256 checked) if missing."""
        version: VersionInfo = self._backend.call(ops.VERSION, **_version(ref))
        cached = self._cache.get(version.sha256)
        if cached is not None:
            return cached
        target = self._cache.path(version.sha256)
        parts = ops.DATA.path_parts(ops.DATA.bind(**_version(version.ref)))
        self._http.download(target, version.sha256, *parts)
        self._cache.remember(version.sha256)
        return target


def _card_query(card: dict[str, Any]) -> tuple[dict[str, str], bool]:
    """The card as the upload's query, and whether the description is too long for it
    (it is then set once the version exists)."""
    description = card.get("description")
    late = description is not None and len(quote(description)) > _MAX_QUERY_DESCRIPTION
    given = {"visibility": card.get("visibility"), "description": None if late else description}
    query = {k: v for k, v in given.items() if v is not None}
    if card.get("tags") is not None:
        query["tags"] = csv_param(card["tags"], _NOT_TAGS)
    return query, late


def transfers(backend: Backend) -> Transfers:
    """The data moves of ``backend``."""
    if isinstance(backend, LocalBackend):
        return LocalTransfers(backend)
    if isinstance(backend, RemoteBackend):
        return RemoteTransfers(backend)
    raise TypeError(f"no dataset transfers for a {type(backend).__name__}")


class Datasets:
    """``ll.datasets``: register, find, inspect and load shared datasets."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._transfers = transfers(backend)

    def register(
        self, data: Any, name: str, *, format: str | None = None, **card: Unpack[CardArgs]
    ) -> VersionInfo:
        """Register a DataFrame, pyarrow Table or file (path or fsspec URL) as ``team/name``.

        Returns the new version, or the existing one when the same content was registered
        before (``created`` is then False).  ``visibility`` is private, team (default) or org.
        """
        return self._transfers.register(data, name, keywords(card, CardArgs), format)

    def load(
        self, ref: str, *, columns: list[str] | None = None, limit: int | None = None
    ) -> pd.DataFrame:
        """``ll.datasets.load("team/name@3")``: the data as a DataFrame (latest when unpinned)."""
        frame: pd.DataFrame = self.load_table(ref, columns=columns, limit=limit).to_pandas()
        return frame

    def load_table(
        self, ref: str, *, columns: list[str] | None = None, limit: int | None = None
    ) -> pa.Table:
        """The data as a pyarrow Table (optionally some columns and the first rows)."""
        return self._transfers.load_table(ref, columns, limit)

    def path(self, ref: str) -> Path:
        """A verified local Parquet file holding the version (read-only: do not modify it)."""
        return self._transfers.path(ref)

    def register_query(
        self,
        name: str,
        *,
        connection: str,
        query: str,
        **card: Unpack[CardArgs],
    ) -> VersionInfo:
        """Run ``query`` on the operators' ``connection`` (granted to the team) and store
        its rows as the next version of ``team/name``; :meth:`refresh` runs it again.

        ``ll.datasets.register_query("finance/loans", connection="warehouse",
        query="select * from loans")``.  The query runs where the catalog is: a kernel
        never holds the connection's credentials.
        """
        version: VersionInfo = self._backend.call(
            sql_ops.REGISTER_QUERY,
            **_dataset(name),
            connection=connection,
            query=query,
            **keywords(card, CardArgs),
        )
        return version

    def refresh(self, ref: str) -> VersionInfo:
        """Re-run the dataset's query: a new version only when the rows changed
        (``created`` says which)."""
        version: VersionInfo = self._backend.call(sql_ops.REFRESH, **_dataset(ref))
        return version

    def connections(self) -> list[ConnectionInfo]:
        """The SQL connections granted to your teams (names and grants, never URLs)."""
        found: list[ConnectionInfo] = self._backend.call(sql_ops.CONNECTIONS)
        return found

    def get(self, ref: str) -> DatasetInfo:
        """The dataset's card, owner, visibility, tags and latest version."""
        info: DatasetInfo = self._backend.call(ops.GET, **_dataset(ref))
        return info

    def version(self, ref: str) -> VersionInfo:
        """One version (the latest when ``ref`` has no ``@N``)."""
        info: VersionInfo = self._backend.call(ops.VERSION, **_version(ref))
        return info

    def versions(self, ref: str) -> list[VersionInfo]:
        """Every version, newest first."""
        found: list[VersionInfo] = self._backend.call(ops.VERSIONS, **_dataset(ref))
        return found

    def profile(self, ref: str) -> dict[str, Any]:
        """Column profile: types, nulls, distinct counts, statistics, histograms, top values."""
        profile: dict[str, Any] = self._backend.call(ops.PROFILE, **_version(ref))
        return profile

    def preview(self, ref: str, limit: int = 20) -> pd.DataFrame:
        """The first rows, from what was stored at registration (the data is not read)."""
        import pandas as pd

        stored = self._backend.call(ops.PREVIEW, **_version(ref), limit=limit)
        return pd.DataFrame(stored["data"], columns=stored["columns"])

    def search(self, query: str = "", **filters: Unpack[DatasetFilterArgs]) -> Page[DatasetInfo]:
        """Datasets you may see matching ``query``; ``.next_offset`` pages on."""
        page: Page[DatasetInfo] = self._backend.call(
            ops.SEARCH, q=query, **keywords(filters, DatasetFilterArgs)
        )
        return page

    def update(self, ref: str, **card: Unpack[CardArgs]) -> DatasetInfo:
        """Change the card (markdown description), tags or visibility."""
        info: DatasetInfo = self._backend.call(
            ops.UPDATE, **_dataset(ref), **keywords(card, CardArgs)
        )
        return info

    def teams(self) -> list[tuple[str, int]]:
        """Teams owning datasets you can see, with how many each."""
        return _counts(self._backend.call(ops.FACETS)["teams"])

    def tags(self) -> list[tuple[str, int]]:
        """Tags in use, most used first."""
        return _counts(self._backend.call(ops.FACETS)["tags"])

    def events(self, ref: str, limit: int = 50) -> list[EventInfo]:
        """Who changed the dataset, when, and how (newest first)."""
        found: list[EventInfo] = self._backend.call(ops.EVENTS, **_dataset(ref), limit=limit)
        return found

    def link(self, ref: str, node: str, kind: str) -> None:
        """Record in the lineage that ``node`` (``training:…``, ``job:…``) used ``ref``.

        ``kind`` is trained_on, evaluated_on, produced or registered_from.
        """
        self._backend.call(ops.LINK, **_version(ref), node=node, kind=kind)


def _counts(pairs: list[Any]) -> list[tuple[str, int]]:
    """Facet pairs as tuples (JSON brings them back as lists)."""
    return [(str(name), int(count)) for name, count in pairs]
