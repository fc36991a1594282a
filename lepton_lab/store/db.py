"""The catalog database: engines, sessions, migrations, and safe concurrent writes.

Several processes write to one catalog at once (kernels, the server, job runners).  On
SQLite that works with WAL (readers never wait for the writer), a busy timeout (a writer
waits for another writer instead of failing), and write transactions that take the write
lock when they begin (``BEGIN IMMEDIATE``): a deferred transaction that read first and
then tries to write can fail at once with "database is locked", whatever the timeout.
On PostgreSQL, services lock the rows they change (``SELECT … FOR UPDATE``) and
:meth:`Database.transact` retries a transaction that lost a race.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from lepton_lab.errors import InvalidInput, StorageError

__all__ = ["ChangeCounter", "Database"]

T = TypeVar("T")

_MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same for every process of every version.
_PG_MIGRATION_LOCK = 0x1E9707
# Serialization failure, deadlock, and lock timeout: worth one more try.
_PG_RETRYABLE = {"40001", "40P01", "55P03"}
_migrated: set[str] = set()
_migrate_lock = threading.Lock()


class Database:
    """One catalog database.  Opening it applies any pending migration."""

    def __init__(self, url: str, *, busy_timeout: float = 60.0, migrate: bool = True) -> None:
        try:
            self.url: URL = make_url(url)
        except ArgumentError:
            raise InvalidInput(
                f"database URL {url!r} is not a SQLAlchemy URL; use for example "
                "sqlite:///path/catalog.db or postgresql+psycopg://user@host/db"
            ) from None
        self.dialect = self.url.get_backend_name()
        self.engine = self._create_engine(busy_timeout)
        # One engine object; write sessions carry an option that the begin hook reads.
        self._write_engine = self.engine.execution_options(lepton_write=True)
        self._reads = sessionmaker(self.engine, expire_on_commit=False)
        self._snapshot = threading.local()  # the connection of one_snapshot, per thread
        # An in-memory SQLite database is one connection per thread: a write inside the
        # block would begin a transaction inside the block's own.  Each is a new database
        # too, whatever others of the same URL this process migrated.
        self._in_memory = self.is_sqlite and self.url.database in (None, "", ":memory:")
        self._shares_snapshots = not self._in_memory
        self._writes = sessionmaker(self._write_engine, expire_on_commit=False)
        if migrate:
            self.migrate()

    @property
    def is_sqlite(self) -> bool:
        """Whether this is the embedded SQLite catalog."""
        return self.dialect == "sqlite"

    def _create_engine(self, busy_timeout: float) -> Engine:
        if self.dialect == "postgresql" and self.url.drivername == "postgresql":
            # psycopg 3 is what the [postgres] extra installs; plain URLs mean it.
            self.url = self.url.set(drivername="postgresql+psycopg")
        if not self.is_sqlite:
            return create_engine(self.url, pool_pre_ping=True)
        if self.url.database and self.url.database != ":memory:":
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            self.url, connect_args={"timeout": busy_timeout, "check_same_thread": False}
        )
        _configure_sqlite(engine, busy_timeout)
        return engine

    # -- sessions -------------------------------------------------------------------------

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; nothing it does is committed."""
        with self._reads() as session:
            try:
                yield session
            finally:
                session.rollback()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A Core connection for reading, in one transaction; nothing it does is committed.

        For hot reads that want rows, not ORM objects (the REST API's lists and cards): no
        Session, identity map or object loading, a third of :meth:`read`'s cost per request
        (bench/api.py).  Closing the connection rolls its transaction back.  Inside
        :meth:`one_snapshot`, the block's connection.
        """
        shared: Connection | None = getattr(self._snapshot, "conn", None)
        if shared is not None:
            yield shared
            return
        with self.engine.connect() as conn:
            yield conn

    def change_counter(self) -> ChangeCounter | None:
        """A :class:`ChangeCounter` of this database; None where there is none (a server
        database, or an in-memory SQLite one)."""
        if not self.is_sqlite or self._in_memory or not self.url.database:
            return None
        return ChangeCounter(self.url.database)

    @contextmanager
    def one_snapshot(self) -> Iterator[None]:
        """Every :meth:`reading` of this thread inside the block shares one connection and
        one transaction: a request's roles and the rows they filter are read together (on
        SQLite from one snapshot), for one connection's cost.  Only for a block that writes
        nothing: on SQLite a write's rows are not in the snapshot taken before it."""
        if getattr(self._snapshot, "conn", None) is not None or not self._shares_snapshots:
            yield
            return
        with self.engine.connect() as conn:
            self._snapshot.conn = conn
            try:
                yield
            finally:
                self._snapshot.conn = None

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session in one write transaction, committed on success, rolled back on error."""
        with self._writes() as session:
            try:
                with session.begin():
                    yield session
            except OperationalError as exc:
                raise _storage_error(exc) from exc

    def transact(self, work: Callable[[Session], T], *, attempts: int = 8) -> T:
        """Run ``work`` in a write transaction, retrying when it lost a race with another writer.

        ``work`` must be safe to run again: everything it did is rolled back before a retry.
        A unique-constraint violation counts as a lost race (two writers created the same
        row); after the last attempt it is reported as a conflict by the caller.
        """
        for attempt in range(1, attempts + 1):
            try:
                with self.write() as session:
                    return work(session)
            except (IntegrityError, StorageError) as exc:
                if attempt == attempts or not _retryable(exc):
                    raise
                time.sleep(min(0.05 * 2**attempt, 1.0))
        raise AssertionError("unreachable")  # pragma: no cover

    # -- migrations -----------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to the newest revision; safe when many processes open at once."""
        key = self.url.render_as_string(hide_password=False)
        with _migrate_lock:
            if key in _migrated and not self._in_memory:
                return
            config = Config()
            config.set_main_option("script_location", str(_MIGRATIONS))
            head = ScriptDirectory.from_config(config).get_current_head()
            with self.engine.connect() as conn:
                current = MigrationContext.configure(conn).get_current_revision()
            if current != head:
                self._upgrade(config)
            if self.is_sqlite:
                self.refresh_statistics()
            _migrated.add(key)

    def refresh_statistics(self, *, growth: float = 2.0, minimum: int = 1000) -> bool:
        """SQLite: ANALYZE when a table has grown ``growth``-fold since its statistics.

        SQLite plans without statistics until ANALYZE runs (PostgreSQL's autovacuum does it
        on its own); at 100,000 datasets a page of search took 9x longer without them.
        Checking costs two small queries per table; returns whether ANALYZE ran.
        """
        with self.engine.connect() as conn:
            stale = _stale_tables(conn, growth, minimum)
        if not stale:
            return False
        with self._write_engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        return True

    def _upgrade(self, config: Config) -> None:
        # The write lock (SQLite) or an advisory lock (PostgreSQL) makes one process migrate
        # while the others wait, then find nothing left to do.
        with self._write_engine.begin() as conn:
            if self.dialect == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK)))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def dispose(self) -> None:
        """Close every pooled connection (tests, and processes that fork)."""
        self.engine.dispose()


class ChangeCounter:
    """A number that changes whenever a transaction that wrote commits to a SQLite database,
    from any connection of any process: ``PRAGMA data_version`` on a connection of its own.

    Reading it takes no lock a writer waits for and never waits itself (a busy database
    answers None, "unknown"), so a server may read it on its event loop: a few
    microseconds, from the database's shared memory (WAL).  Read it *before* reading
    what depends on the database: a commit after the number was read changes the next.
    """

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, timeout=0, check_same_thread=False)
        self._conn.isolation_level = None  # no transaction left open between two reads
        self._lock = threading.Lock()

    def read(self) -> int | None:
        """The number now, or None when it cannot be read at once."""
        with self._lock:
            try:
                row = self._conn.execute("PRAGMA data_version").fetchone()
            except sqlite3.Error:
                return None
        return int(row[0]) if row else None

    def close(self) -> None:
        """Close its connection."""
        with self._lock:
            self._conn.close()


def _configure_sqlite(engine: Engine, busy_timeout: float) -> None:
    """WAL, a busy timeout, foreign keys, and BEGIN IMMEDIATE for write transactions."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy's begin hook, not the driver, decide when transactions start.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        _enable_wal(cursor, busy_timeout)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("lepton_write", False)
        # On the driver's connection: through SQLAlchemy's execution (events, a cursor
        # result) it was a tenth of a small REST read.
        driver = conn.connection.driver_connection
        assert driver is not None  # a connection being begun is open
        driver.execute("BEGIN IMMEDIATE" if write else "BEGIN")


def _stale_tables(conn: Connection, growth: float, minimum: int) -> list[str]:
    """Tables with at least ``minimum`` rows that grew ``growth``-fold since the last ANALYZE."""
    names = (
        conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
            "ESCAPE '\\' AND sql NOT LIKE 'CREATE VIRTUAL TABLE%'"
        )
        .scalars()
        .all()
    )
    recorded: dict[str, int] = {}
    if "sqlite_stat1" in _all_tables(conn):
        rows = conn.exec_driver_sql(
            "SELECT tbl, max(CAST(stat AS INTEGER)) FROM sqlite_stat1 GROUP BY tbl"
        )
        recorded = {str(table): int(count or 0) for table, count in rows}
    stale = []
    for name in names:
        try:
            # max(rowid) is read from the end of the b-tree: a row count estimate for free.
            rows_now = conn.exec_driver_sql(f'SELECT max(rowid) FROM "{name}"').scalar() or 0
        except OperationalError:
            continue  # a WITHOUT ROWID table (full-text index internals)
        if rows_now >= minimum and rows_now > growth * recorded.get(name, 0):
            stale.append(name)
    return stale


def _all_tables(conn: Connection) -> set[str]:
    return set(
        conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").scalars()
    )


def _enable_wal(cursor: Any, busy_timeout: float) -> None:
    """Switch the file to WAL once (it persists in the file).

    Switching needs a moment alone with the file, and SQLite does not always wait for it:
    processes opening a new catalog together retry instead of failing.
    """
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    cause = exc.__cause__
    if isinstance(cause, DBAPIError):
        code = getattr(cause.orig, "sqlstate", None) or getattr(cause.orig, "pgcode", None)
        return code in _PG_RETRYABLE or "database is locked" in str(cause.orig)
    return False


def _storage_error(exc: OperationalError) -> StorageError:
    """Turn a driver failure into a message a person can act on."""
    text = str(exc.orig)
    if "database is locked" in text:
        return StorageError(
            "the catalog database stayed locked by another writer past the busy timeout; "
            "try again, or raise LEPTON_LAB busy timeout (Settings.sqlite_busy_timeout)"
        )
    return StorageError(f"the catalog database failed: {text.strip()}")
