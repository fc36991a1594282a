"""Datasets read from SQL queries on connections that operators configure on the server.

A *connection* is a name, a database URL with its credentials, the teams it is granted
to and a time limit.  Operators list connections in the file that ``connections_file``
(``LEPTON_LAB_CONNECTIONS``) names; users only ever see and type the name.  Nothing here
returns a URL: :class:`ConnectionInfo` is what surfaces get, and every message a driver
writes passes :meth:`Connection.mask` first, so credentials never reach a response, a
log, a dataset's card or a job.

A query is read as a stream of Arrow batches (:class:`~lepton_lab.catalog.ingest.Source`),
which the catalog's writer streams into Parquet in the same bounded memory as a file:

* PostgreSQL (``postgresql://`` URLs) through ADBC (``adbc-driver-postgresql``) when
  installed: the server sends typed batches over ``COPY (…) TO STDOUT (FORMAT binary)``,
  with no row objects in Python at all;
* every other database SQLAlchemy can reach (MariaDB and MySQL through PyMySQL, SQLite,
  ``postgresql+psycopg://``) through a server-side cursor (``stream_results``), the rows
  of each batch turned into Arrow columns typed from the cursor's description.

ConnectorX was measured and left out: its Arrow stream panics (a ``BaseException``) on
some queries and types, retries a failing connection for 30 s, and writes Rust
backtraces to the server's stderr.

Each query runs in a read-only session with the connection's ``timeout`` both on the
server (``statement_timeout``, ``max_statement_time``, ``max_execution_time``, SQLite's
progress handler) and between batches here.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from lepton_lab.catalog.ingest import Source
from lepton_lab.catalog.sql_types import arrow_type, plain_postgres_schema, rows_to_batch
from lepton_lab.errors import (
    InvalidInput,
    LeptonLabError,
    NotFound,
    PermissionDenied,
    StorageError,
    did_you_mean,
)
from lepton_lab.identity import Actor
from lepton_lab.refs import check_slug, check_text

__all__ = [
    "BATCH_ROWS",
    "Connection",
    "ConnectionInfo",
    "Connections",
    "QuerySource",
    "load_connections",
    "open_query",
]

#: Rows per Arrow batch read from a server-side cursor.
BATCH_ROWS = 64 * 1024
_MAX_QUERY = 100_000
_DEFAULT_TIMEOUT = 300.0
_EVERY_TEAM = "*"


@dataclass(frozen=True)
class ConnectionInfo:
    """What anyone may know about a connection: never its URL."""

    name: str
    description: str
    dialect: str
    timeout: float
    teams: list[str]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {**self.__dict__, "teams": list(self.teams)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConnectionInfo:
        """From :meth:`to_dict` (unknown keys ignored)."""
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**{**known, "teams": list(known.get("teams", []))})


@dataclass(frozen=True)
class Connection:
    """A database an operator configured: name, URL with credentials, grants, time limit."""

    name: str
    url: str
    teams: frozenset[str]
    timeout: float = _DEFAULT_TIMEOUT
    description: str = ""

    def __repr__(self) -> str:  # the URL holds credentials: never in a repr or a log
        return f"Connection(name={self.name!r}, dialect={self.dialect!r})"

    @property
    def dialect(self) -> str:
        """The database kind (``postgresql``, ``mysql``, ``mariadb``, ``sqlite``, …)."""
        return make_url(self.url).get_backend_name()

    def granted(self, team: str) -> bool:
        """Whether datasets of ``team`` may be read from this connection."""
        return _EVERY_TEAM in self.teams or team in self.teams

    def info(self) -> ConnectionInfo:
        """The public description."""
        return ConnectionInfo(
            self.name, self.description, self.dialect, self.timeout, sorted(self.teams)
        )

    def mask(self, text: str) -> str:
        """``text`` with the URL, user, password and host replaced by ``***``."""
        url = make_url(self.url)
        secrets = [self.url, url.render_as_string(hide_password=False), url.password]
        secrets += [url.username, url.host]
        for secret in sorted({str(s) for s in secrets if s}, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


@dataclass(frozen=True)
class QuerySource:
    """What a SQL dataset is read from: a connection's name and a query (no URL)."""

    connection: str
    query: str

    def to_dict(self) -> dict[str, str]:
        """The form stored with the dataset (``datasets.query``)."""
        return {"connection": self.connection, "query": self.query}

    def describe(self) -> str:
        """A version's ``source``: where its rows came from, as a person reads it."""
        return f"sql:{self.connection}: {self.query}"


# -- configuration ---------------------------------------------------------------------------


def load_connections(
    path: str | Path, env: Mapping[str, str] | None = None
) -> dict[str, Connection]:
    """Read the operators' connections file (TOML, or JSON when it ends in ``.json``).

    ``[connections.NAME]`` tables with ``url`` (or ``url_env``: the environment variable
    holding it), ``teams`` (slugs, or ``["*"]`` for every team), ``timeout`` in seconds
    and an optional ``description``.
    """
    file = Path(path).expanduser()
    try:
        text = file.read_text(encoding="utf-8")
        raw = json.loads(text) if file.suffix == ".json" else tomllib.loads(text)
    except OSError as exc:
        raise InvalidInput(
            f"cannot read the connections file {file}: {exc.strerror}; check "
            "LEPTON_LAB_CONNECTIONS (connections_file)"
        ) from None
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(f"the connections file {file} is not valid: {exc}") from None
    table = raw.get("connections") if isinstance(raw, dict) else None
    if not isinstance(table, dict):
        raise InvalidInput(
            f"the connections file {file} needs a 'connections' table: "
            '[connections.warehouse] with url = "postgresql://…" and teams = ["finance"]'
        )
    env = os.environ if env is None else env
    return {name: _connection(name, entry, env, file) for name, entry in table.items()}


def _connection(name: str, entry: Any, env: Mapping[str, str], file: Path) -> Connection:
    where = f"connection {name!r} in {file}"
    check_slug(name, "connection name")
    if not isinstance(entry, dict):
        raise InvalidInput(f"{where} must be a table with url, teams and timeout")
    unknown = set(entry) - {"url", "url_env", "teams", "timeout", "description"}
    if unknown:
        raise InvalidInput(f"{where} has unknown keys {sorted(unknown)}")
    url = _url(entry, env, where)
    teams = entry.get("teams", [])
    if not isinstance(teams, list) or not all(isinstance(t, str) for t in teams):
        raise InvalidInput(f"{where}: teams must be a list of team slugs, or ['*']")
    timeout = entry.get("timeout", _DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise InvalidInput(f"{where}: timeout must be a positive number of seconds")
    description = str(entry.get("description", ""))
    return Connection(name, url, frozenset(teams), float(timeout), description)


def _url(entry: dict[str, Any], env: Mapping[str, str], where: str) -> str:
    if "url_env" in entry:
        url = env.get(str(entry["url_env"]), "")
        if not url:
            raise InvalidInput(f"{where}: the environment variable {entry['url_env']} is empty")
    else:
        url = entry.get("url", "")
    if not isinstance(url, str) or not url:
        raise InvalidInput(f"{where} needs url = 'dialect://user:password@host/db' or url_env")
    try:
        make_url(url)
    except ArgumentError:
        raise InvalidInput(f"{where}: url is not a database URL") from None  # never echo it
    return url


class Connections:
    """The configured connections, and who may use which."""

    def __init__(self, connections: Mapping[str, Connection]) -> None:
        self._all = dict(connections)

    def granted_to(self, team: str, name: str) -> Connection:
        """The connection ``name`` for a dataset of ``team``.

        Unknown names are :class:`NotFound` (suggesting only names ``team`` may use); a
        connection that exists but is not granted is :class:`PermissionDenied`.
        """
        found = self._all.get(name)
        if found is None:
            usable = [n for n, c in self._all.items() if c.granted(team)]
            known = ", ".join(sorted(usable)) or "none"
            raise NotFound(
                f"no connection {name!r}{did_you_mean(name, usable)}; team {team} may use: "
                f"{known} (operators list connections in LEPTON_LAB_CONNECTIONS)"
            )
        if not found.granted(team):
            raise PermissionDenied(
                f"connection {name!r} is not granted to team {team}; an operator can add "
                f"{team} to its teams in the connections file"
            )
        return found

    def visible(self, actor: Actor) -> list[ConnectionInfo]:
        """Connections granted to a team of ``actor`` (all of them for a site admin)."""
        return [
            c.info()
            for _, c in sorted(self._all.items())
            if actor.is_site_admin or any(c.granted(t) for t in actor.teams)
        ]


# -- reading ---------------------------------------------------------------------------------


def check_query(query: object) -> str:
    """The query's text, or :class:`InvalidInput` when it is not one statement's text."""
    if not isinstance(query, str) or not query.strip():
        raise InvalidInput("query must be the text of a SQL query, e.g. 'select * from loans'")
    text: str = check_text(query.strip().rstrip(";").strip(), "query", limit=_MAX_QUERY)
    return text


def open_query(connection: Connection, query: str, *, batch_rows: int = BATCH_ROWS) -> Source:
    """Run ``query`` on ``connection``: its rows as a stream of Arrow batches.

    Fails with :class:`InvalidInput` (a failed query, or one past the time limit) or
    :class:`StorageError` (the database cannot be reached), the message masked.
    """
    text = check_query(query)
    deadline = time.monotonic() + connection.timeout
    stack = ExitStack()
    try:
        if make_url(connection.url).drivername == "postgresql" and _has("adbc_driver_postgresql"):
            schema, batches = _adbc_postgres(stack, connection, text)
        else:
            schema, batches = _sqlalchemy(stack, connection, text, deadline, batch_rows)
        _check_names(schema, connection)
    except BaseException as exc:
        stack.close()
        raise _translated(exc, connection) from None
    stream = _guarded(stack, batches, connection, deadline)
    return Source(f"sql:{connection.name}", schema, stream)


def _check_names(schema: pa.Schema, connection: Connection) -> None:
    repeated = sorted({n for n in schema.names if schema.names.count(n) > 1})
    if repeated or not schema.names:
        raise InvalidInput(
            f"the query on connection {connection.name!r} returns "
            + (f"the column names {repeated} more than once" if repeated else "no columns")
            + "; give each selected column its own name (select a.id as loan_id, …)"
        )


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _guarded(
    stack: ExitStack, batches: Iterator[pa.RecordBatch], connection: Connection, deadline: float
) -> Iterator[pa.RecordBatch]:
    """The batches, within the time limit, errors translated, the connection closed."""
    with stack:
        try:
            for batch in batches:
                if time.monotonic() > deadline:
                    raise _timeout(connection)
                yield batch
        except LeptonLabError:
            raise
        except Exception as exc:
            raise _translated(exc, connection) from None


def _translated(exc: BaseException, connection: Connection) -> BaseException:
    if isinstance(exc, LeptonLabError) or not isinstance(exc, Exception):
        return exc
    message = connection.mask(_first_line(exc))
    if _is_timeout(message):
        return _timeout(connection)
    return InvalidInput(
        f"the query failed on connection {connection.name!r}: {message}; fix the query "
        "and try again (nothing was stored)"
    )


def _connect(connection: Connection, connect: Callable[[], Any]) -> Any:
    """``connect()``, a failure reported as the database being unreachable (masked)."""
    try:
        return connect()
    except Exception as exc:
        raise StorageError(
            f"cannot connect to the database of connection {connection.name!r}: "
            f"{connection.mask(_first_line(exc))}; try again later, or ask an operator to "
            "check the connection"
        ) from None


def _timeout(connection: Connection) -> InvalidInput:
    return InvalidInput(
        f"the query on connection {connection.name!r} ran past its time limit of "
        f"{connection.timeout:g} s and was cancelled (nothing was stored); select fewer rows "
        "or ask an operator for a longer timeout"
    )


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _is_timeout(message: str) -> bool:
    lowered = message.lower()
    return any(
        mark in lowered
        for mark in (
            "statement timeout",  # PostgreSQL
            "max_statement_time",  # MariaDB
            "maximum statement execution time",  # MySQL
            "interrupted",  # SQLite's progress handler
        )
    )


# -- PostgreSQL through ADBC -----------------------------------------------------------------


def _adbc_postgres(
    stack: ExitStack, connection: Connection, query: str
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    import adbc_driver_postgresql.dbapi as adbc  # type: ignore[import-untyped]  # optional extra

    uri = _with_connect_timeout(make_url(connection.url).set(drivername="postgresql"), connection)
    url = uri.render_as_string(hide_password=False)
    conn = stack.enter_context(_connect(connection, lambda: adbc.connect(url, autocommit=True)))
    cursor = stack.enter_context(conn.cursor())
    cursor.execute(f"SET statement_timeout = {int(connection.timeout * 1000)}")
    cursor.execute("SET default_transaction_read_only = on")
    cursor.execute(query)
    reader = cursor.fetch_record_batch()
    schema, convert = plain_postgres_schema(reader.schema)
    return schema, (convert(batch) for batch in reader)


# -- any database through SQLAlchemy ---------------------------------------------------------


def _sqlalchemy(
    stack: ExitStack, connection: Connection, query: str, deadline: float, batch_rows: int
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    url = _with_connect_timeout(make_url(connection.url), connection)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    stack.callback(engine.dispose)
    conn = stack.enter_context(_connect(connection, engine.connect))
    _limit_session(conn, connection.timeout, deadline)
    result = conn.execution_options(
        stream_results=True, max_row_buffer=batch_rows, no_parameters=True
    ).exec_driver_sql(query)
    if not result.returns_rows:
        raise InvalidInput(
            f"the query on connection {connection.name!r} returns no rows; a dataset is "
            "read with a query that selects rows (select … from …)"
        )
    types = [arrow_type(conn.dialect.name, column) for column in result.cursor.description]
    names = list(result.keys())
    partitions = result.partitions(batch_rows)
    first: Sequence[Any] = next(partitions, [])
    schema = rows_to_batch(names, types, first, None).schema

    def batches() -> Iterator[pa.RecordBatch]:
        yield rows_to_batch(names, types, first, schema)
        for rows in partitions:
            yield rows_to_batch(names, types, rows, schema)

    return schema, batches()


def _with_connect_timeout(url: sa.URL, connection: Connection) -> sa.URL:
    """``url`` that gives up connecting within the time limit (30 s at most), unless the
    operator set ``connect_timeout`` in it: a host that drops packets would hang forever."""
    if url.get_backend_name() not in ("postgresql", "mysql", "mariadb"):
        return url
    if "connect_timeout" in url.query:
        return url
    seconds = max(1, min(30, int(connection.timeout)))
    return url.update_query_dict({"connect_timeout": str(seconds)})


def _limit_session(conn: sa.Connection, timeout: float, deadline: float) -> None:
    """A read-only session whose statements the server stops at the time limit."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.exec_driver_sql(f"SET statement_timeout = {int(timeout * 1000)}")
        conn.exec_driver_sql("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    elif dialect in ("mysql", "mariadb"):
        version = str(conn.exec_driver_sql("SELECT VERSION()").scalar())
        if "mariadb" in version.lower():
            conn.exec_driver_sql(f"SET SESSION max_statement_time = {timeout:.3f}")
        else:
            conn.exec_driver_sql(f"SET SESSION max_execution_time = {int(timeout * 1000)}")
        conn.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
    elif dialect == "sqlite":
        raw: Any = conn.connection.dbapi_connection
        if isinstance(raw, sqlite3.Connection):
            raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
            raw.execute("PRAGMA query_only = ON")
    conn.commit()  # the session settings hold for the query's own transaction
