"""The catalog database: migrations, SQLite settings, transactions."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from lepton_lab.errors import InvalidInput
from lepton_lab.store import Database
from lepton_lab.store.tables import Base, Team


def test_migrations_create_exactly_the_declared_tables(database_url: str) -> None:
    db = Database(database_url)
    with db.engine.connect() as conn:
        # The search index is the dialect's own (FTS5 table, GIN index): not in the metadata.
        def declared(name: str | None, kind: str, _parent: object) -> bool:
            return not (name or "").startswith(
                ("dataset_search", "ix_datasets_search", "search_vector")
            )

        context = MigrationContext.configure(conn, opts={"include_name": declared})
        diffs = compare_metadata(context, Base.metadata)
        assert diffs == []
        assert MigrationContext.configure(conn).get_current_revision() == "0009"
    db.dispose()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'c.db'}", busy_timeout=12)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 12000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()


def test_a_failed_write_leaves_nothing(database_url: str) -> None:
    db = Database(database_url)

    def fail_half_way() -> None:
        with db.write() as session:
            session.add(Team(slug="finance", title="", description="", created_by="alice"))
            session.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_half_way()
    with db.read() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Team)) == 0
    db.dispose()


def test_transact_commits_and_returns(database_url: str) -> None:
    db = Database(database_url)

    def work(session: sa.orm.Session) -> str:
        session.add(Team(slug="retail", title="Retail", description="", created_by="bob"))
        return "done"

    assert db.transact(work) == "done"
    with db.read() as session:
        assert session.get(Team, "retail") is not None
    db.dispose()


def test_reopening_an_up_to_date_database_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    Database(url).dispose()
    before = (tmp_path / "c.db").stat().st_size
    Database(url).dispose()
    assert (tmp_path / "c.db").stat().st_size == before


def test_a_malformed_url_says_what_a_url_looks_like() -> None:
    with pytest.raises(InvalidInput, match="sqlite:///"):
        Database("not a url")


def test_sqlite_statistics_follow_the_catalog_as_it_grows(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    assert db.refresh_statistics() is False  # empty: nothing worth analyzing
    with db.write() as session:
        session.add_all(
            Team(slug=f"t{i}", title="", description="", created_by="x") for i in range(1500)
        )
    assert db.refresh_statistics() is True
    assert db.refresh_statistics() is False  # fresh statistics: nothing to do
    with db.engine.connect() as conn:
        counts = conn.exec_driver_sql("SELECT tbl, stat FROM sqlite_stat1").all()
    assert ("teams", "1500 1") in counts
    db.dispose()
