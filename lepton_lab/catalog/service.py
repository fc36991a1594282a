"""The shared dataset catalog: register, find, inspect and load versioned datasets.

Every rule lives here: names, permissions and visibility, version numbering, dedup of
identical content, lineage of reads, and the audit trail.  Registration reads and writes
the data before it touches the database, then commits the version in one short
transaction, so a failure at any point leaves nothing half-stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import ColumnElement, Connection, Select, bindparam, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from typing_extensions import Unpack

from lepton_lab.catalog import search
from lepton_lab.catalog.info import DatasetInfo, LoadArgs, PlainRow, VersionInfo
from lepton_lab.catalog.ingest import Source, open_source
from lepton_lab.catalog.sql import (
    ConnectionInfo,
    Connections,
    QuerySource,
    check_query,
    load_connections,
    open_query,
)
from lepton_lab.catalog.writer import PREVIEW_ROWS, Written, write_version
from lepton_lab.errors import Conflict, InvalidInput, NotFound, did_you_mean
from lepton_lab.events import EventInfo, list_events, record_event
from lepton_lab.identity import (
    Actor,
    Visibility,
    can_edit,
    can_see,
    require_edit,
    visible_clause,
    visible_filter,
    visible_params,
)
from lepton_lab.lineage import KINDS, NODE, Edge, add_edge, edges_of, link_node
from lepton_lab.membership import check_registering, require_team
from lepton_lab.paging import Page, check_page
from lepton_lab.refs import Ref, check_slug, check_text, parse_ref
from lepton_lab.store.tables import Dataset, DatasetTag, DatasetVersion, Team, utcnow

if TYPE_CHECKING:
    import pandas as pd

    from lepton_lab.workspace import Workspace

__all__ = ["DatasetService"]

_MAX_DESCRIPTION = 100_000

#: A dataset as an ORM object (to change it) or as a card's plain row (to show it).
_Row = TypeVar("_Row", Dataset, PlainRow)


class DatasetService:
    """The dataset catalog of one workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace
        self._searches: dict[_Shape, tuple[Select[Any], Select[Any]]] = {}

    # -- register -------------------------------------------------------------------------

    def register(
        self,
        actor: Actor,
        data: Any,
        name: str,
        *,
        description: str | None = None,
        tags: list[str] | None = None,
        visibility: str | None = None,
        format: str | None = None,
        source: str | None = None,
        job_id: str | None = None,
        max_bytes: int | None = None,
    ) -> VersionInfo:
        """Store ``data`` as the next version of ``name`` (``team/name``).

        Identical content to an existing version returns that version (``created=False``).
        ``max_bytes`` bounds a file's bytes once decompressed, as a parser would see them
        (an upload's limit, ``settings.max_upload_bytes``): past it, reading stops with
        :class:`~lepton_lab.errors.TooLarge` and nothing is stored.
        """
        ref = _unversioned(name)
        card = _Card.checked(description, tags, visibility)
        self._check_can_register(actor, ref)
        opened = open_source(data, format=format, max_bytes=max_bytes)
        return self._store(actor, ref, opened, card, _Origin(source or opened.description, job_id))

    def _store(
        self,
        actor: Actor,
        ref: Ref,
        opened: Source,
        card: _Card,
        origin: _Origin,
    ) -> VersionInfo:
        """Write ``opened`` and commit it as the next version (or the identical one)."""
        written = write_version(opened, self._ws.tmp_dir)
        try:
            self._ws.blobs.put_file(written.path, written.sha256)

            def work(session: Session) -> VersionInfo:
                return self._commit_version(session, actor, ref, written, card, origin)

            try:
                return self._ws.db.transact(work)
            except IntegrityError:
                raise Conflict(
                    f"{ref.qualified} changed under this registration too often; try again"
                ) from None
        finally:
            written.path.unlink(missing_ok=True)

    def _check_can_register(self, actor: Actor, ref: Ref) -> None:
        """Fail before reading any data when the actor could never register ``ref``."""
        with self._ws.db.read() as session:
            if session.get(Team, ref.team) is None:
                if self._ws.settings.auto_create_teams:
                    return
                require_team(session, ref.team)
            row = _dataset_row(session, ref)
            self._check_write(self._ws.teams.actor_in(session, actor.user), ref, row)

    @staticmethod
    def _check_write(actor: Actor, ref: Ref, row: Dataset | None) -> None:
        action = f"registering {ref.qualified}"
        check_registering(
            actor, ref, row, kind="dataset", action=action, hint="; pick another name"
        )

    def _commit_version(
        self,
        session: Session,
        actor: Actor,
        ref: Ref,
        written: Written,
        card: _Card,
        origin: _Origin,
    ) -> VersionInfo:
        if session.get(Team, ref.team) is None:
            if not self._ws.settings.auto_create_teams:
                require_team(session, ref.team)  # raises NotFound, naming the fix
            self._ws.teams.add_team(session, actor, ref.team)
        # Roles as of this transaction: another process may have just created the team.
        actor = self._ws.teams.actor_in(session, actor.user)
        row = _dataset_row(session, ref, lock=True)
        self._check_write(actor, ref, row)
        if row is None:
            row = Dataset(
                team=ref.team,
                name=ref.name,
                owner=actor.user,
                visibility=(card.visibility or Visibility.team).value,
                description=card.description or "",
                tags=[],
            )
            session.add(row)
            session.flush()
            record_event(session, actor.user, "dataset.create", f"dataset:{ref.qualified}")
        if origin.query is not None:  # what a refresh re-runs, even when the rows are the same
            row.query = origin.query.to_dict()
        if row.latest_version:
            same = session.scalar(
                select(DatasetVersion).where(
                    DatasetVersion.dataset_id == row.id, DatasetVersion.sha256 == written.sha256
                )
            )
            if same is not None:
                return VersionInfo.of(ref.qualified, same, created=False)
            if card.visibility is not None:
                row.visibility = card.visibility.value
            if card.description is not None:
                row.description = card.description
        version = DatasetVersion(
            dataset_id=row.id,
            version=row.latest_version + 1,
            sha256=written.sha256,
            rows=written.rows,
            bytes=written.bytes,
            columns=written.columns,
            profile=written.profile,
            preview=written.preview,
            source=origin.source,
            job_id=origin.job_id,
            created_by=actor.user,
        )
        session.add(version)
        row.latest_version, row.latest_rows, row.latest_bytes = (
            version.version,
            written.rows,
            written.bytes,
        )
        row.updated_at = utcnow()
        _set_tags(session, row, card.tags)
        _reindex(session, row, written.columns)
        session.flush()
        record_event(
            session,
            actor.user,
            "dataset.version",
            f"dataset:{ref.qualified}@{version.version}",
            sha256=written.sha256,
            rows=written.rows,
            job_id=origin.job_id,
        )
        if origin.query is not None:
            add_edge(
                session,
                f"connection:{origin.query.connection}",
                f"dataset:{ref.qualified}@{version.version}",
                "produced",
                actor.user,
            )
        return VersionInfo.of(ref.qualified, version, created=True)

    # -- SQL sources ----------------------------------------------------------------------

    def connections(self, actor: Actor) -> list[ConnectionInfo]:
        """The SQL connections granted to a team of ``actor``: names, never URLs."""
        return self._connections().visible(actor)

    def register_query(
        self,
        actor: Actor,
        name: str,
        connection: str,
        query: str,
        *,
        description: str | None = None,
        tags: list[str] | None = None,
        visibility: str | None = None,
        job_id: str | None = None,
    ) -> VersionInfo:
        """Run ``query`` on the operators' ``connection`` and store its rows as the next
        version of ``name``; :meth:`refresh` re-runs it.  Identical rows to an existing
        version return that version (``created=False``); a failed query stores nothing."""
        ref = _unversioned(name)
        card = _Card.checked(description, tags, visibility)
        text = check_query(query)
        self._check_can_register(actor, ref)
        granted = self._connections().granted_to(ref.team, check_slug(connection, "connection"))
        source = QuerySource(granted.name, text)
        return self._store(
            actor,
            ref,
            open_query(granted, text),
            card,
            _Origin(source.describe(), job_id, source),
        )

    def refresh(self, actor: Actor, ref: str | Ref, *, job_id: str | None = None) -> VersionInfo:
        """Re-run the query of a dataset registered with :meth:`register_query`: a new
        version when the rows changed, else the latest identical one (``created=False``)."""
        parsed = _unversioned(ref)
        with self._ws.db.read() as session:
            stored = self._visible(session, actor, parsed).query
        if not stored:
            raise InvalidInput(
                f"{parsed.qualified} was not registered from a SQL query, so there is nothing "
                "to re-run; register its new data as a new version instead"
            )
        self._check_can_register(actor, parsed)
        source = QuerySource(stored["connection"], stored["query"])
        granted = self._connections().granted_to(parsed.team, source.connection)
        return self._store(
            actor,
            parsed,
            open_query(granted, source.query),
            _Card(),
            _Origin(source.describe(), job_id, source),
        )

    def _connections(self) -> Connections:
        # Read on each use: operators change the file without restarting the server.
        path = self._ws.settings.connections_file
        return Connections(load_connections(path) if path else {})

    # -- read -----------------------------------------------------------------------------

    def get(self, actor: Actor, ref: str | Ref) -> DatasetInfo:
        """The dataset (its latest state) named by ``ref``."""
        parsed = parse_ref(ref, "dataset")
        with self._ws.db.reading() as conn:
            found = conn.execute(_CARD_BY_NAME, {"team": parsed.team, "name": parsed.name})
            return DatasetInfo.of(self._seen(conn, actor, parsed, found.first()))

    def version(self, actor: Actor, ref: str | Ref) -> VersionInfo:
        """The version ``ref`` names (the latest when it names none)."""
        parsed = parse_ref(ref, "dataset")
        with self._ws.db.read() as session:
            return VersionInfo.of(parsed.qualified, self._version_row(session, actor, parsed))

    def versions(self, actor: Actor, ref: str | Ref) -> list[VersionInfo]:
        """Every version, newest first."""
        parsed = parse_ref(ref, "dataset")
        with self._ws.db.read() as session:
            row = self._visible(session, actor, parsed)
            rows = session.scalars(
                select(DatasetVersion)
                .where(DatasetVersion.dataset_id == row.id)
                .order_by(DatasetVersion.version.desc())
            )
            return [VersionInfo.of(parsed.qualified, v) for v in rows]

    def profile(self, actor: Actor, ref: str | Ref) -> dict[str, Any]:
        """The column profile stored at registration (the data is not read)."""
        parsed = parse_ref(ref, "dataset")
        with self._ws.db.read() as session:
            return dict(self._version_row(session, actor, parsed).profile)

    def preview(self, actor: Actor, ref: str | Ref, limit: int = PREVIEW_ROWS) -> dict[str, Any]:
        """The first rows stored at registration, ``{"columns": [...], "data": [[...]]}``."""
        if not isinstance(limit, int) or not 0 <= limit <= PREVIEW_ROWS:
            raise InvalidInput(f"a preview holds 0 to {PREVIEW_ROWS} rows, not {limit!r}")
        parsed = parse_ref(ref, "dataset")
        with self._ws.db.read() as session:
            stored = self._version_row(session, actor, parsed).preview
        return {"columns": stored["columns"], "data": stored["data"][:limit]}

    def search(
        self,
        actor: Actor,
        query: str = "",
        *,
        team: str | None = None,
        tag: str | None = None,
        owner: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> Page[DatasetInfo]:
        """Datasets the actor may see matching ``query`` (words of names, descriptions,
        tags and columns), newest first or best match first."""
        check_page(limit, offset)
        words = search.query_words(query)
        params: dict[str, Any] = {
            **visible_params(actor),
            **search.match_params(words, self._ws.db.dialect),
            "team": check_slug(team, "team") if team else None,
            "tag": check_slug(tag, "tag") if tag else None,
            "owner": owner or None,
            "limit": limit,
            "offset": offset,
        }
        shape = _Shape(actor.is_site_admin, bool(team), bool(tag), bool(owner), len(words))
        count, page = self._statements(shape)
        with self._ws.db.reading() as conn:
            rows = conn.execute(page, params).all()
            total = _known_total(rows, offset, limit)
            if total is None:
                total = conn.execute(count, params).scalar() or 0
        return Page([DatasetInfo.of(r) for r in rows], total, offset, limit)

    def _statements(self, shape: _Shape) -> tuple[Select[Any], Select[Any]]:
        """The count and the page of a search of this shape, built once: a request only
        binds its values (building the statement cost more than running it)."""
        found = self._searches.get(shape)
        if found is None:
            found = self._searches[shape] = _search_statements(shape, self._ws.db.dialect)
        return found

    def teams(self, actor: Actor) -> list[tuple[str, int]]:
        """Teams owning datasets the actor may see, with how many each (a search facet)."""
        visible = visible_filter(
            actor, team=Dataset.team, owner=Dataset.owner, visibility=Dataset.visibility
        )
        stmt = (
            select(Dataset.team, func.count())
            .where(visible)
            .group_by(Dataset.team)
            .order_by(Dataset.team)
        )
        with self._ws.db.read() as session:
            return [(team, count) for team, count in session.execute(stmt).all()]

    def tags(self, actor: Actor) -> list[tuple[str, int]]:
        """Tags in use on datasets the actor may see, with how many datasets carry each."""
        visible = visible_filter(
            actor, team=Dataset.team, owner=Dataset.owner, visibility=Dataset.visibility
        )
        stmt = (
            select(DatasetTag.tag, func.count())
            .join(Dataset, Dataset.id == DatasetTag.dataset_id)
            .where(visible)
            .group_by(DatasetTag.tag)
            .order_by(func.count().desc(), DatasetTag.tag)
        )
        with self._ws.db.read() as session:
            return [(tag, count) for tag, count in session.execute(stmt).all()]

    def events(self, actor: Actor, ref: str | Ref, limit: int = 50) -> list[EventInfo]:
        """The audit trail of a dataset, newest first."""
        parsed = parse_ref(ref, "dataset")
        with self._ws.db.read() as session:
            self._visible(session, actor, parsed)
            return list_events(session, subject_prefix=f"dataset:{parsed.qualified}", limit=limit)

    def lineage(self, actor: Actor, ref: str | Ref) -> list[Edge]:
        """Lineage edges touching the dataset (or one version of it)."""
        parsed = parse_ref(ref, "dataset")
        with self._ws.db.read() as session:
            self._visible(session, actor, parsed)
            return edges_of(session, f"dataset:{parsed}")

    # -- load -----------------------------------------------------------------------------

    def path(
        self, actor: Actor, ref: str | Ref, *, reader: str | None = None
    ) -> tuple[VersionInfo, Path]:
        """The version and a verified local Parquet file holding it; records the read."""
        version = self.version(actor, ref)
        return version, self._fetch(actor, version, reader)

    def _fetch(self, actor: Actor, version: VersionInfo, reader: str | None) -> Path:
        path = self._ws.blobs.local_path(version.sha256)
        self._record_read(actor, version, reader)
        return path

    def load_table(
        self,
        actor: Actor,
        ref: str | Ref,
        *,
        columns: list[str] | None = None,
        limit: int | None = None,
        reader: str | None = None,
    ) -> pa.Table:
        """The version's data as a pyarrow Table, optionally some columns and first rows."""
        if limit is not None and (not isinstance(limit, int) or limit < 0):
            raise InvalidInput(f"limit must be a number of rows (0 or more), not {limit!r}")
        version = self.version(actor, ref)
        if columns is not None:
            _check_columns_exist(version, columns)
        parquet = pq.ParquetFile(self._fetch(actor, version, reader))
        if limit is None:
            return parquet.read(columns=columns)
        batches, rows = [], 0
        for batch in parquet.iter_batches(batch_size=min(max(limit, 1), 65536), columns=columns):
            if rows >= limit:
                break
            batches.append(batch.slice(0, limit - rows))
            rows += batches[-1].num_rows
        schema = (
            parquet.schema_arrow
            if columns is None
            else pa.schema([parquet.schema_arrow.field(c) for c in columns])
        )
        return pa.Table.from_batches(batches, schema=schema)

    def load(self, actor: Actor, ref: str | Ref, **options: Unpack[LoadArgs]) -> pd.DataFrame:
        """The version's data as a pandas DataFrame (``options``: as :meth:`load_table`)."""
        frame: pd.DataFrame = self.load_table(actor, ref, **options).to_pandas()
        return frame

    def link(self, actor: Actor, ref: str | Ref, node: str, kind: str) -> Edge:
        """Record that ``node`` used the version ``ref`` names (trained or evaluated on it);
        who may link which node: :func:`lepton_lab.lineage.link_node`."""
        if kind not in KINDS - {"read"}:
            allowed = ", ".join(sorted(KINDS - {"read"}))
            raise InvalidInput(f"unknown lineage kind {kind!r}; use one of: {allowed}")
        if not isinstance(node, str) or not NODE.fullmatch(node):
            raise InvalidInput(
                f"lineage node {node!r} must look like 'training:abc123' or 'job:42'"
            )
        version = self.version(actor, ref)
        src = f"dataset:{version.ref}"

        def work(session: Session) -> None:
            link_node(session, self._ws.teams.actor_in(session, actor.user), src, node, kind)

        self._ws.db.transact(work)
        return Edge(src, node, kind, actor.user, utcnow())

    def _record_read(self, actor: Actor, version: VersionInfo, reader: str | None) -> None:
        def work(session: Session) -> None:
            add_edge(
                session,
                f"dataset:{version.ref}",
                reader or f"user:{actor.user}",
                "read",
                actor.user,
            )

        self._ws.db.transact(work)

    # -- change ---------------------------------------------------------------------------

    def update(
        self,
        actor: Actor,
        ref: str | Ref,
        *,
        description: str | None = None,
        tags: list[str] | None = None,
        visibility: str | None = None,
    ) -> DatasetInfo:
        """Change the card, tags or visibility (owner or team editor)."""
        parsed = parse_ref(ref, "dataset")
        card = _Card.checked(description, tags, visibility)

        def work(session: Session) -> DatasetInfo:
            row = self._visible(session, actor, parsed, lock=True)
            require_edit(actor, team=row.team, owner=row.owner, what=f"dataset {parsed.qualified}")
            changed: dict[str, Any] = {}
            if card.description is not None and card.description != row.description:
                row.description = changed["description"] = card.description
            if card.visibility is not None and card.visibility.value != row.visibility:
                row.visibility = changed["visibility"] = card.visibility.value
            if card.tags is not None and card.tags != list(row.tags):
                changed["tags"] = card.tags
                _set_tags(session, row, card.tags)
            if changed:
                row.updated_at = utcnow()
                columns = session.scalar(
                    select(DatasetVersion.columns).where(
                        DatasetVersion.dataset_id == row.id,
                        DatasetVersion.version == row.latest_version,
                    )
                )
                _reindex(session, row, columns or [])
                record_event(
                    session, actor.user, "dataset.update", f"dataset:{parsed.qualified}", **changed
                )
            session.flush()
            return DatasetInfo.of(row)

        return self._ws.db.transact(work)

    def can_edit(self, actor: Actor, ref: str | Ref) -> bool:
        """Whether ``actor`` may change the dataset's card (for surfaces that show a button)."""
        info = self.get(actor, ref)
        return can_edit(actor, team=info.team, owner=info.owner)

    # -- lookup helpers -------------------------------------------------------------------

    def _visible(self, session: Session, actor: Actor, ref: Ref, *, lock: bool = False) -> Dataset:
        return self._seen(session, actor, ref, _dataset_row(session, ref, lock=lock))

    def _seen(
        self, session: Session | Connection, actor: Actor, ref: Ref, row: _Row | None
    ) -> _Row:
        """``row`` when ``actor`` may see it; else a 404 (never a 403: a dataset you may not
        see is one that does not exist), with the names you may have meant."""
        if row is None or not can_see(
            actor, team=row.team, owner=row.owner, visibility=row.visibility
        ):
            raise NotFound(f"no dataset {ref.qualified}{self._suggest(session, actor, ref)}")
        return row

    def _version_row(self, session: Session, actor: Actor, ref: Ref) -> DatasetVersion:
        row = self._visible(session, actor, ref)
        if ref.alias is not None:
            raise InvalidInput(
                f"datasets have numbered versions only: use {ref.qualified}@N, not @{ref.alias}"
            )
        number = ref.version or row.latest_version
        found = session.scalar(
            select(DatasetVersion).where(
                DatasetVersion.dataset_id == row.id, DatasetVersion.version == number
            )
        )
        if found is None:
            raise NotFound(
                f"dataset {ref.qualified} has no version {number}; its versions are 1 to "
                f"{row.latest_version} (see: lepton-lab datasets versions {ref.qualified})"
            )
        return found

    @staticmethod
    def _suggest(session: Session | Connection, actor: Actor, ref: Ref) -> str:
        visible = visible_filter(
            actor, team=Dataset.team, owner=Dataset.owner, visibility=Dataset.visibility
        )
        near = select(Dataset.team, Dataset.name).where(
            visible, (Dataset.team == ref.team) | (Dataset.name == ref.name)
        )
        known = [f"{t}/{n}" for t, n in session.execute(near.limit(2000)).all()]
        return did_you_mean(ref.qualified, known)


def _unversioned(name: str | Ref) -> Ref:
    ref = parse_ref(name, "dataset name")
    if ref.version is not None or ref.alias is not None:
        raise InvalidInput(
            f"register into {ref.qualified}, without '@…': versions are numbered for you"
        )
    return ref


_DATASETS = Dataset.__table__.c
#: What a dataset's card (:class:`DatasetInfo`) reads, as plain rows (no ORM objects,
#: no search text): the REST API's lists and cards.
_CARD = select(*(_DATASETS[name] for name in DatasetInfo.COLUMNS))
_CARD_BY_NAME = _CARD.where(
    _DATASETS.team == bindparam("team"), _DATASETS.name == bindparam("name")
)


def _dataset_row(session: Session, ref: Ref, *, lock: bool = False) -> Dataset | None:
    stmt = select(Dataset).where(Dataset.team == ref.team, Dataset.name == ref.name)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalar(stmt)


@dataclass(frozen=True)
class _Card:
    """What a new version or an update changes of a dataset's card (None: unchanged)."""

    description: str | None = None
    tags: list[str] | None = None
    visibility: Visibility | None = None

    @classmethod
    def checked(cls, description: str | None, tags: object, visibility: str | None) -> _Card:
        """The card a caller gave, each part checked (bad input: ``InvalidInput``)."""
        checked_tags = _check_tags(tags)
        checked_visibility = Visibility.parse(visibility) if visibility is not None else None
        _check_description(description)
        return cls(description, checked_tags, checked_visibility)


@dataclass(frozen=True)
class _Origin:
    """Where a new version came from: the source it names, the job that made it (None:
    none), and the query a refresh re-runs (None: not a query's rows)."""

    source: str
    job_id: str | None
    query: QuerySource | None = None


@dataclass(frozen=True)
class _Shape:
    """What a search's SQL depends on; its values are bound parameters."""

    site_admin: bool
    team: bool
    tag: bool
    owner: bool
    words: int


def _known_total(rows: Sequence[Any], offset: int, limit: int) -> int | None:
    """How many match, when a page tells it without counting: a page that is not full is
    the last one (most searches of a few words fit on their first page); else None."""
    if len(rows) < limit and (rows or offset == 0):
        return offset + len(rows)
    return None


def _search_statements(shape: _Shape, dialect: str) -> tuple[Select[Any], Select[Any]]:
    """The count of the matches and one page of their cards, for searches of ``shape``."""
    c = _DATASETS
    where = [
        visible_clause(
            team=c.team, owner=c.owner, visibility=c.visibility, site_admin=shape.site_admin
        )
    ]
    if shape.team:
        where.append(c.team == bindparam("team"))
    if shape.tag:
        tags = DatasetTag.__table__.c
        where.append(c.id.in_(select(tags.dataset_id).where(tags.tag == bindparam("tag"))))
    if shape.owner:
        where.append(c.owner == bindparam("owner"))
    matches, relevance = search.restrict(_CARD.where(*where), shape.words, dialect)
    count = select(func.count()).select_from(matches.subquery())
    order: list[ColumnElement[Any]] = [c.updated_at.desc(), c.id.desc()]
    if relevance is not None:
        order.insert(0, relevance.desc())
    page = matches.order_by(*order).limit(bindparam("limit")).offset(bindparam("offset"))
    return count, page


def _set_tags(session: Session, row: Dataset, tags: list[str] | None) -> None:
    if tags is None:
        return
    row.tags = tags
    session.execute(delete(DatasetTag).where(DatasetTag.dataset_id == row.id))
    session.add_all(DatasetTag(dataset_id=row.id, tag=t) for t in tags)


def _reindex(session: Session, row: Dataset, columns: list[dict[str, str]]) -> None:
    names = [c["name"] for c in columns]
    row.search_text = search.document(row.team, row.name, row.description, list(row.tags), names)
    session.flush()
    search.index_dataset(session, row)


def _check_tags(tags: object) -> list[str] | None:
    if tags is None:
        return None
    if not _is_str_list(tags):
        raise InvalidInput("tags must be a list of strings, e.g. ['risk', 'monthly']")
    return sorted({check_slug(t.strip().lower(), "tag") for t in tags})


def _is_str_list(value: object) -> TypeGuard[list[str] | tuple[str, ...]]:
    """A list or tuple of strings (a bare string is not: it would iterate as letters)."""
    return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)


def _check_description(description: str | None) -> None:
    if description is None:
        return
    check_text(description, "description", limit=_MAX_DESCRIPTION)


def _check_columns_exist(version: VersionInfo, columns: object) -> None:
    if not _is_str_list(columns):
        raise InvalidInput("columns must be a list of column names")
    known = [c["name"] for c in version.columns]
    for column in columns:
        if column not in known:
            raise InvalidInput(
                f"{version.ref} has no column {column!r}{did_you_mean(column, known)}"
            )
