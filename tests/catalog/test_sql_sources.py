"""Datasets read from SQL queries on the real PostgreSQL and MariaDB servers of the machine.

Each test makes its own table on the source server (and, on MariaDB, its own read-only
user with a password) and drops them afterwards.  PostgreSQL is read two ways: through
ADBC (``postgresql://``) and through SQLAlchemy's server-side cursor
(``postgresql+psycopg://``).  Set ``LEPTON_LAB_TEST_POSTGRES_URL`` and
``LEPTON_LAB_TEST_MARIADB_URL`` (``.ci/run`` does) to run them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from lepton_lab.catalog.sql import Connection, load_connections
from lepton_lab.config import Settings
from lepton_lab.errors import InvalidInput, NotFound, PermissionDenied, StorageError
from lepton_lab.identity import Actor
from lepton_lab.runs.pool import KernelPool
from lepton_lab.runs.runner import workspace_env
from lepton_lab.workspace import Workspace

POSTGRES_URL = os.environ.get("LEPTON_LAB_TEST_POSTGRES_URL", "")
MARIADB_URL = os.environ.get("LEPTON_LAB_TEST_MARIADB_URL", "")
SOURCES = ["postgresql-adbc", "postgresql-psycopg", "mariadb"]
ROWS = [
    (1, dt.date(2024, 1, 31), dt.datetime(2024, 1, 31, 9, 30, 1), Decimal("12345.67"),
     "Zoë's loan", True, 9_223_372_036_854_775_807, 0.125),
    (2, dt.date(1999, 12, 31), dt.datetime(1999, 12, 31, 23, 59, 59), Decimal("-0.01"),
     "", False, -9_223_372_036_854_775_808, -1.5),
    (3, None, None, None, None, None, None, None),
]  # fmt: skip
COLUMNS = ["id", "opened", "updated", "amount", "note", "active", "big", "rate"]


@dataclass
class SourceDb:
    """A source database the test owns a table in: the URL the connection uses."""

    kind: str
    url: str
    admin: sa.Engine
    table: str
    password: str

    def sql(self, statement: str) -> None:
        with self.admin.begin() as conn:  # no parameters: a '%' is a '%' for PyMySQL too
            conn.execution_options(no_parameters=True).exec_driver_sql(statement)

    def sleep(self, seconds: int) -> str:
        if self.kind == "mariadb":
            return f"select sleep({seconds}) as slept"
        return f"select pg_sleep({seconds})::text as slept"


@pytest.fixture(params=SOURCES)
def source(request: pytest.FixtureRequest) -> Iterator[SourceDb]:
    """A fresh ``loans`` table on the source server, filled with ROWS, dropped after."""
    kind: str = request.param
    server = MARIADB_URL if kind == "mariadb" else POSTGRES_URL
    if not server:
        variable = "MARIADB" if kind == "mariadb" else "POSTGRES"
        pytest.skip(f"set LEPTON_LAB_TEST_{variable}_URL to read from {kind}")
    suffix = uuid.uuid4().hex[:10]
    table, password = f"ll_loans_{suffix}", f"pw-{suffix}-secret"
    if kind == "mariadb":
        db = _mariadb(make_url(server), table, password, suffix)
    else:
        driver = "postgresql" if kind == "postgresql-adbc" else "postgresql+psycopg"
        # The servers trust local connections: the password is there to be kept secret.
        url = make_url(server).set(drivername=driver, password=password)
        admin = sa.create_engine(make_url(server).set(drivername="postgresql+psycopg"))
        db = SourceDb(kind, url.render_as_string(hide_password=False), admin, table, password)
    numeric = "numeric(12,2)" if kind != "mariadb" else "decimal(12,2)"
    stamp = "timestamp" if kind != "mariadb" else "datetime"
    db.sql(
        f"create table {table} (id bigint primary key, opened date, updated {stamp}, "
        f"amount {numeric}, note text, active boolean, big bigint, rate double precision)"
    )
    with db.admin.begin() as conn:
        conn.execute(
            sa.text(f"insert into {table} values ({', '.join(':' + c for c in COLUMNS)})"),
            [dict(zip(COLUMNS, row, strict=True)) for row in ROWS],
        )
    try:
        yield db
    finally:
        db.sql(f"drop table {table}")
        if kind == "mariadb":
            db.sql(f"drop user 'll_{suffix}'@'%'")
        db.admin.dispose()


def _mariadb(server: sa.URL, table: str, password: str, suffix: str) -> SourceDb:
    """MariaDB: a user of its own that may only read, with a password."""
    admin = sa.create_engine(server.set(drivername="mysql+pymysql"))
    user = f"ll_{suffix}"
    with admin.begin() as conn:
        plain = conn.execution_options(no_parameters=True)
        plain.exec_driver_sql(f"create user '{user}'@'%' identified by '{password}'")
        plain.exec_driver_sql(f"grant select on `{server.database}`.* to '{user}'@'%'")
    url = server.set(drivername="mysql+pymysql", username=user, password=password)
    return SourceDb("mariadb", url.render_as_string(hide_password=False), admin, table, password)


@pytest.fixture
def settings(tmp_path: Path, database_url: str, source: SourceDb) -> Settings:
    """The workspace's settings, with the operators' connections file naming ``source``."""
    connections = {
        "connections": {
            "warehouse": {
                "url": source.url,
                "teams": ["finance"],
                "timeout": 30,
                "description": "the finance warehouse",
            },
            "slow": {"url": source.url, "teams": ["finance"], "timeout": 1},
            "shop": {"url": source.url, "teams": ["retail"]},
        }
    }
    path = tmp_path / "connections.json"
    path.write_text(json.dumps(connections))
    return Settings(
        home=tmp_path / "ws",
        database_url=database_url,
        user="alice",
        auto_start_runner=False,
        connections_file=str(path),
    )


@pytest.fixture
def carol(workspace: Workspace, alice: Actor) -> Actor:
    """Carol: contributor in retail only."""
    workspace.teams.add_member(alice, "retail", "carol", "contributor")
    return workspace.actor("carol")


def _stored_nothing(workspace: Workspace, actor: Actor, name: str) -> None:
    with pytest.raises(NotFound):
        workspace.datasets.get(actor, name)
    assert list(workspace.tmp_dir.iterdir()) == []
    blobs = Path(workspace.settings.blob_root)
    assert not blobs.exists() or not [p for p in blobs.rglob("*") if p.is_file()]


def test_types_arrive_as_the_database_declares_them(
    workspace: Workspace, alice: Actor, source: SourceDb
) -> None:
    query = f"select * from {source.table} order by id"
    version = workspace.datasets.register_query(alice, "finance/loans", "warehouse", query)
    assert (version.ref, version.rows, version.created) == ("finance/loans@1", 3, True)
    table = workspace.datasets.load_table(alice, "finance/loans@1")
    types = dict(zip(table.schema.names, table.schema.types, strict=True))
    assert types["id"] == pa.int64() and types["big"] == pa.int64()
    assert types["opened"] == pa.date32()
    assert types["updated"] == pa.timestamp("us")
    assert pa.types.is_decimal(types["amount"]) and types["amount"].scale == 2
    assert types["note"] == pa.string()
    assert types["active"] == pa.bool_()  # MariaDB's BOOLEAN is TINYINT(1): read as one
    assert types["rate"] == pa.float64()
    assert [tuple(r.values()) for r in table.to_pylist()] == ROWS


def test_the_card_version_and_lineage_name_the_connection_and_query(
    workspace: Workspace, alice: Actor, source: SourceDb
) -> None:
    # A '%' is the query's own: no driver may take it for a parameter placeholder.
    query = f"select id, amount from {source.table} where id < 3 and note like '%';"
    version = workspace.datasets.register_query(
        alice, "finance/loans", "warehouse", query, description="Loans", tags=["risk"]
    )
    info = workspace.datasets.get(alice, "finance/loans")
    stored = query.rstrip(";")
    assert info.query == {"connection": "warehouse", "query": stored}
    assert (info.description, info.tags, version.rows) == ("Loans", ["risk"], 2)
    assert version.source == f"sql:warehouse: {stored}"
    edges = workspace.datasets.lineage(alice, "finance/loans")
    produced = [(e.src, e.dst) for e in edges if e.kind == "produced"]
    assert produced == [("connection:warehouse", "dataset:finance/loans@1")]


def test_credentials_appear_in_no_answer_log_card_event_or_job(
    workspace: Workspace,
    alice: Actor,
    source: SourceDb,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = {source.password, source.url}
    said: list[str] = []
    query = f"select * from {source.table}"
    said.append(repr(workspace.datasets.register_query(alice, "finance/loans", "warehouse", query)))
    for wrong in ("select * from no_such_table", source.sleep(3)):
        with pytest.raises(InvalidInput) as failed:
            workspace.datasets.register_query(alice, "finance/other", "slow", wrong)
        said.append(failed.value.message)
    said.append(repr(workspace.datasets.refresh(alice, "finance/loans")))
    said += [json.dumps(c.to_dict()) for c in workspace.datasets.connections(alice)]
    said.append(json.dumps(workspace.datasets.get(alice, "finance/loans").to_dict(), default=str))
    said += [repr(v) for v in workspace.datasets.versions(alice, "finance/loans")]
    said += [repr(e) for e in workspace.datasets.events(alice, "finance/loans")]
    said += [repr(e) for e in workspace.datasets.lineage(alice, "finance/loans")]
    said.append(json.dumps(workspace_env(workspace)))  # what a job's kernel is given
    said += [
        caplog.text,
        repr(workspace),
        repr(load_connections(workspace.settings.connections_file)),
    ]
    text = "\n".join(said)
    assert re.search("(does not|doesn't) exist", text) and "time limit" in text
    for secret in secrets:
        assert secret not in text


@pytest.mark.slow
def test_a_jobs_kernel_is_never_told_where_the_connections_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEPTON_LAB_CONNECTIONS", str(tmp_path / "connections.toml"))

    async def seen_by_a_kernel() -> str:
        pool = KernelPool(tmp_path / "staging", size=0)
        kernel = await pool.acquire("python3", "job-1")
        said: list[str] = []

        def keep(message: dict[str, Any]) -> None:
            if message["msg_type"] == "stream":
                said.append(message["content"]["text"])

        try:
            code = "import os; print(os.environ.get('LEPTON_LAB_CONNECTIONS', 'absent'))"
            await kernel.kc.execute_interactive(code, output_hook=keep, timeout=60)
        finally:
            await pool.discard(kernel)
            await pool.close()
        return "".join(said).strip()

    assert asyncio.run(seen_by_a_kernel()) == "absent"


def test_a_failing_query_says_why_and_stores_nothing(
    workspace: Workspace, alice: Actor, source: SourceDb
) -> None:
    with pytest.raises(
        InvalidInput,
        match=r"the query failed on connection 'warehouse': .*"
        r"no_such_table.*(does not exist|doesn't exist)",
    ):
        workspace.datasets.register_query(
            alice, "finance/loans", "warehouse", "select * from no_such_table"
        )
    _stored_nothing(workspace, alice, "finance/loans")


def test_a_result_whose_columns_repeat_a_name_is_refused(
    workspace: Workspace, alice: Actor, source: SourceDb
) -> None:
    query = f"select id, amount as id from {source.table}"
    with pytest.raises(InvalidInput, match=r"returns the column names \['id'\] more than once"):
        workspace.datasets.register_query(alice, "finance/loans", "warehouse", query)
    _stored_nothing(workspace, alice, "finance/loans")


def test_a_query_past_the_time_limit_is_cancelled_and_stores_nothing(
    workspace: Workspace, alice: Actor, source: SourceDb
) -> None:
    started = time.monotonic()
    with pytest.raises(InvalidInput, match="ran past its time limit of 1 s"):
        workspace.datasets.register_query(alice, "finance/slow", "slow", source.sleep(5))
    assert time.monotonic() - started < 4  # cancelled by the server, not waited out
    _stored_nothing(workspace, alice, "finance/slow")


def test_a_query_cannot_change_the_source_database(
    workspace: Workspace, alice: Actor, source: SourceDb
) -> None:
    with pytest.raises(InvalidInput, match="the query failed on connection 'warehouse'"):
        workspace.datasets.register_query(
            alice, "finance/loans", "warehouse", f"delete from {source.table}"
        )
    with source.admin.connect() as conn:
        assert conn.exec_driver_sql(f"select count(*) from {source.table}").scalar() == 3
    _stored_nothing(workspace, alice, "finance/loans")


def test_a_team_uses_only_the_connections_granted_to_it(
    workspace: Workspace, alice: Actor, bob: Actor, carol: Actor, source: SourceDb
) -> None:
    query = f"select * from {source.table}"
    with pytest.raises(PermissionDenied, match="not granted to team retail") as denied:
        workspace.datasets.register_query(carol, "retail/loans", "warehouse", query)
    assert source.password not in denied.value.message and "127.0.0.1" not in denied.value.message
    with pytest.raises(PermissionDenied):  # a viewer of retail registers nothing there
        workspace.datasets.register_query(bob, "retail/loans", "shop", query)
    with pytest.raises(PermissionDenied):  # carol is not in finance, whose connection it is
        workspace.datasets.register_query(carol, "finance/loans", "warehouse", query)
    with pytest.raises(NotFound, match="no connection 'warehose'; did you mean warehouse"):
        workspace.datasets.register_query(bob, "finance/loans", "warehose", query)
    assert workspace.datasets.register_query(carol, "retail/loans", "shop", query).rows == 3
    assert [c.name for c in workspace.datasets.connections(carol)] == ["shop"]
    listed = {c.name: c for c in workspace.datasets.connections(bob)}
    assert sorted(listed) == ["shop", "slow", "warehouse"]  # bob is in finance and retail
    assert listed["warehouse"].description == "the finance warehouse"
    assert listed["warehouse"].teams == ["finance"] and listed["warehouse"].timeout == 30


def test_refresh_makes_a_version_only_when_the_rows_changed(
    workspace: Workspace, alice: Actor, source: SourceDb
) -> None:
    query = f"select id, amount from {source.table} order by id"
    workspace.datasets.register_query(alice, "finance/loans", "warehouse", query)
    same = workspace.datasets.refresh(alice, "finance/loans")
    assert (same.ref, same.created) == ("finance/loans@1", False)
    source.sql(f"insert into {source.table} (id, amount) values (4, 99.50)")
    changed = workspace.datasets.refresh(alice, "finance/loans")
    assert (changed.ref, changed.rows, changed.created) == ("finance/loans@2", 4, True)
    assert workspace.datasets.load(alice, "finance/loans@2")["amount"].iloc[-1] == Decimal("99.50")
    produced = [
        e.dst for e in workspace.datasets.lineage(alice, "finance/loans") if e.kind == "produced"
    ]
    assert sorted(produced) == ["dataset:finance/loans@1", "dataset:finance/loans@2"]


def test_refresh_needs_a_dataset_read_from_a_query(
    workspace: Workspace, alice: Actor, bob: Actor, source: SourceDb
) -> None:
    workspace.datasets.register(alice, pa.table({"a": [1, 2]}), "finance/plain")
    with pytest.raises(InvalidInput, match="was not registered from a SQL query"):
        workspace.datasets.refresh(alice, "finance/plain")
    workspace.datasets.register_query(
        alice, "finance/loans", "warehouse", f"select id from {source.table}"
    )
    with pytest.raises(PermissionDenied):  # bob may add datasets, not change alice's
        workspace.datasets.refresh(bob, "finance/loans")


def test_an_unreachable_database_is_a_storage_error_without_credentials(
    tmp_path: Path, source: SourceDb
) -> None:
    url = make_url(source.url).set(port=1)  # nothing listens there
    path = tmp_path / "c.toml"
    path.write_text(
        f'[connections.down]\nurl = "{url.render_as_string(hide_password=False)}"\n'
        'teams = ["finance"]\ntimeout = 5\n'
    )
    settings = Settings(home=tmp_path / "down", user="alice", connections_file=str(path))
    ws = Workspace(settings)
    try:
        with pytest.raises(
            StorageError, match="cannot connect to the database of connection 'down'"
        ) as e:
            ws.datasets.register_query(ws.actor(), "finance/x", "down", "select 1 as one")
        assert source.password not in e.value.message and "127.0.0.1" not in e.value.message
    finally:
        ws.close()


def test_the_connections_file_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "connections.toml"
    with pytest.raises(InvalidInput, match="cannot read the connections file"):
        load_connections(path)
    path.write_text('[connections.warehouse]\nurl = "postgresql://u:pw@db/x"\ntimez = 3\n')
    with pytest.raises(InvalidInput, match=r"unknown keys \['timez'\]"):
        load_connections(path)
    path.write_text('[connections.warehouse]\nurl_env = "WAREHOUSE_URL"\nteams = ["*"]\n')
    with pytest.raises(InvalidInput, match="WAREHOUSE_URL is empty"):
        load_connections(path, env={})
    found = load_connections(path, env={"WAREHOUSE_URL": "postgresql://u:pw@db.example/x"})
    warehouse = found["warehouse"]
    assert warehouse.granted("any-team") and warehouse.timeout == 300
    assert "pw" not in repr(warehouse) and "db.example" not in repr(warehouse)
    assert warehouse.info().to_dict() == {
        "name": "warehouse",
        "description": "",
        "dialect": "postgresql",
        "timeout": 300.0,
        "teams": ["*"],
    }
    assert Connection("c", "mysql://u:pw@host/db", frozenset()).mask("u@host pw") == "***@*** ***"
