"""Shared fixtures: real catalogs on SQLite files and, when configured, on PostgreSQL.

Set ``LEPTON_LAB_TEST_POSTGRES_URL`` (``.ci/run`` does) to run the storage and catalog
tests once per database; each PostgreSQL test gets a schema of its own, dropped after.
"""

from __future__ import annotations

import os
import stat
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from sklearn.datasets import load_breast_cancer, load_iris, load_wine

from lepton_lab.client import LocalClient
from lepton_lab.config import Settings
from lepton_lab.workspace import Workspace
from tests.runner_support import RunnerThread

pytest_plugins = ["pytest_jupyter.jupyter_server"]

POSTGRES_URL = os.environ.get("LEPTON_LAB_TEST_POSTGRES_URL", "")

# Ray reads these once, when a process first imports it, in whichever test that happens:
# the test clusters are single-machine ones on loopback (tests/ray_support.py), and a Ray
# call with no cluster must fail rather than start one of its own.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")
DATABASES = ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's own workspace or identity."""
    for var in list(os.environ):
        if var.startswith(("LEPTON_LAB_", "JUPYTERHUB_")) and var != "LEPTON_LAB_TEST_POSTGRES_URL":
            monkeypatch.delenv(var)
    monkeypatch.setenv("LEPTON_LAB_HOME", str(tmp_path / "default-home"))
    monkeypatch.setenv("LEPTON_LAB_USER", "alice")
    # Tests start the runners they need (tests/runner_support.py); none on its own.
    monkeypatch.setenv("LEPTON_LAB_AUTO_RUNNER", "0")


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search path is a fresh schema, dropped afterwards."""
    if not POSTGRES_URL:
        pytest.skip("set LEPTON_LAB_TEST_POSTGRES_URL to test against PostgreSQL")
    schema = f"ll_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    base = POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    joiner = "&" if "?" in base else "?"
    try:
        yield f"{base}{joiner}options=-csearch_path%3D{schema}"
    finally:
        _drop_schema(admin, schema)
        admin.dispose()


def _drop_schema(admin: sa.Engine, schema: str, attempts: int = 5) -> None:
    """Drop ``schema``; a server or runner of the test still ending may hold a lock a
    moment longer, and PostgreSQL then ends the drop as a deadlock: try again."""
    for attempt in range(1, attempts + 1):
        try:
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            return
        except sa.exc.OperationalError:
            if attempt == attempts:
                raise
            time.sleep(0.5 * attempt)


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each catalog test runs on a SQLite file and, when configured, on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        home=tmp_path / "ws", database_url=database_url, user="alice", auto_start_runner=False
    )


@pytest.fixture
def workspace(settings: Settings) -> Iterator[Workspace]:
    ws = Workspace(settings)
    yield ws
    ws.close()


@pytest.fixture
def local_workspace(tmp_path: Path) -> Iterator[Workspace]:
    """A SQLite-only workspace, for surfaces (CLI, widgets) that add no database logic."""
    ws = Workspace(Settings(home=tmp_path / "local-ws", user="alice", auto_start_runner=False))
    yield ws
    ws.close()


@pytest.fixture
def client(local_workspace: Workspace) -> LocalClient:
    """Alice's client on a SQLite workspace."""
    return LocalClient(local_workspace, user="alice")


@pytest.fixture
def job_runner(local_workspace: Workspace) -> Iterator[RunnerThread]:
    """A job runner working on ``local_workspace`` (what ``client`` uses), in a thread."""
    runner = RunnerThread(local_workspace).start()
    yield runner
    runner.stop()


@pytest.fixture(scope="session")
def iris() -> pd.DataFrame:
    """scikit-learn's bundled iris data with the species as text."""
    bunch = load_iris(as_frame=True)
    frame = bunch.frame.copy()
    frame["species"] = [bunch.target_names[t] for t in frame.pop("target")]
    return frame


@pytest.fixture(scope="session")
def wine() -> pd.DataFrame:
    return load_wine(as_frame=True).frame


@pytest.fixture(scope="session")
def breast_cancer() -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame


@pytest.fixture(scope="module")
def python_for_job_users() -> Iterator[None]:
    """Let job users run this Python: ``o+x`` on the folders above the interpreter, the
    virtualenv and the import path that lack it (``/root`` here), restored afterwards.
    A real host installs them where job users may read (docs/jobs.md)."""
    changed: dict[Path, int] = {}
    paths = [Path(sys.executable).resolve(), Path(sys.prefix), Path(sys.base_prefix)]
    paths += [Path(p) for p in sys.path if p and Path(p).exists()]
    for path in paths:
        for folder in [path, *path.parents] if path.is_dir() else path.parents:
            mode = folder.stat().st_mode
            if folder not in changed and not mode & stat.S_IXOTH:
                changed[folder] = stat.S_IMODE(mode)
                folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
    try:
        yield
    finally:
        for folder, mode in changed.items():
            folder.chmod(mode)
