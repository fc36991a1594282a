"""SQL datasets through the client: the same on the local backend and on a real server.

The query runs where the catalog is (the server, for a remote client): the kernel names a
connection and never sees its URL.  The database tests of the readers themselves (types,
time-outs, PostgreSQL and MariaDB) are in tests/catalog/test_sql_sources.py.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from lepton_lab.cli import cli
from lepton_lab.client import Client
from lepton_lab.errors import InvalidInput, NotFound, PermissionDenied
from tests.client.conftest import Backend, sql_source


def _source(backend: Backend) -> str:
    """The SQLite file the connections name (the server's, or this test's)."""
    home = backend.workspace.settings.connections_file if backend.workspace else ""
    if backend.server is not None:
        return str(backend.server.home.parent / "sql" / "source.db")
    return home.replace("connections.toml", "source.db")


def test_register_query_refresh_and_connections(alice: Client, backend: Backend) -> None:
    team = backend.team("finance")
    alice.teams.create(team)
    found = {c.name: c for c in alice.datasets.connections()}
    assert "warehouse" in found and "payroll" not in found
    assert "source.db" not in str(found["warehouse"].to_dict())  # the URL is never shown
    first = alice.datasets.register_query(
        f"{team}/loans", connection="warehouse", query="select * from loans order by id",
        description="Loans", tags=["sql"],
    )  # fmt: skip
    assert first.created and first.rows == 2 and first.version == 1
    frame = alice.datasets.load(first.ref)
    assert list(frame["id"]) == [1, 2] and frame["amount"].isna().tolist() == [False, True]
    assert alice.datasets.refresh(f"{team}/loans").created is False  # same rows: same version
    with sqlite3.connect(_source(backend)) as db:
        db.execute("insert into loans values (3, 7.0, 'c')")
    try:
        second = alice.datasets.refresh(f"{team}/loans")
    finally:
        with sqlite3.connect(_source(backend)) as db:
            db.execute("delete from loans where id = 3")
    assert second.created and second.version == 2 and second.rows == 3
    card = alice.datasets.get(f"{team}/loans")
    assert "warehouse" in str(card.to_dict()) and "source.db" not in str(card.to_dict())


def test_connections_are_granted_per_team(alice: Client, bob: Client, backend: Backend) -> None:
    team = backend.team("finance")
    alice.teams.create(team)
    with pytest.raises(PermissionDenied) as denied:
        alice.datasets.register_query(f"{team}/pay", connection="payroll", query="select 1")
    assert "source.db" not in denied.value.message
    with pytest.raises(NotFound, match="did you mean warehouse"):
        alice.datasets.register_query(f"{team}/x", connection="warehous", query="select 1")
    with pytest.raises(InvalidInput):
        alice.datasets.register_query(f"{team}/x", connection="warehouse", query="select nope(")
    with pytest.raises(PermissionDenied):  # bob is not in the team
        bob.datasets.register_query(f"{team}/x", connection="warehouse", query="select 1")
    with pytest.raises(NotFound):
        alice.datasets.get(f"{team}/x")  # nothing stored by any of the failures


def test_the_cli(tmp_path: Path) -> None:
    connections = sql_source(tmp_path / "sql")
    home = tmp_path / "ws"
    env = {"LEPTON_LAB_CONNECTIONS": str(connections), "LEPTON_LAB_AUTO_RUNNER": "0"}
    common = ["--home", str(home), "--user", "alice"]
    runner = CliRunner(env=env)
    assert runner.invoke(cli, [*common, "teams", "create", "finance"]).exit_code == 0
    listed = runner.invoke(cli, [*common, "datasets", "connections"])
    assert listed.exit_code == 0 and "warehouse" in listed.output
    assert "source.db" not in listed.output
    made = runner.invoke(
        cli,
        [*common, "datasets", "add-query", "finance/loans", "--connection", "warehouse",
         "--query", "select * from loans"],
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert "finance/loans@1" in made.output and "registered as a new version" in made.output
    again = runner.invoke(cli, [*common, "datasets", "refresh", "finance/loans"])
    assert again.exit_code == 0 and "nothing new was stored" in again.output
    both = runner.invoke(
        cli, [*common, "datasets", "add-query", "finance/x", "--connection", "warehouse"]
    )
    assert both.exit_code == 2 and "--query or --query-file" in both.output


def test_a_refresh_is_scheduled_from_the_client(alice: Client, backend: Backend) -> None:
    team = backend.team("finance")
    alice.teams.create(team)
    query = "select * from loans"
    alice.datasets.register_query(f"{team}/loans", connection="warehouse", query=query)
    made = alice.schedules.create_refresh(f"{team}/loans", cron="0 5 * * *", timezone="UTC")
    assert (made.team, made.name, made.options) == (
        team,
        "refresh-loans",
        {"refresh": f"{team}/loans"},
    )
    with pytest.raises(NotFound):
        alice.schedules.create_refresh(f"{team}/nothing", cron="0 5 * * *")
