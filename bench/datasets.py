"""Dataset catalog benchmark: Lepton Lab beside plain pandas / pyarrow, in one run.

ARCHITECTURE.md section 8 asks for three things, each printed as a side-by-side table
(ratios, not absolute targets; nothing here passes or fails):

1. ``preview``: preview and profile lookups do not grow with the dataset's size
   (1,000 rows, 10 million rows, a ~1 GB CSV), beside reading the file with pandas.
2. ``register``: registering a CSV larger than 2 GB streams in bounded memory; a child
   process registers it and reports its peak RSS (``VmHWM``), beside
   ``pyarrow.csv.read_csv`` + ``pyarrow.parquet.write_table`` of the whole file.
3. ``search``: catalog search at 1,000 / 10,000 / 100,000 datasets, beside the same query
   as an in-memory pandas scan; again on PostgreSQL when ``LEPTON_LAB_TEST_POSTGRES_URL``
   is set (a fresh schema, dropped at the end).
4. ``sql``: a dataset read from a SQL query (``register_query``) beside
   ``pandas.read_sql`` of the same query, each in a child process (time, peak RSS), on a
   table of ``--sql-rows`` rows (5 million by default; 20,000 with ``--quick``) made on
   the server of ``--sql-url`` (default ``LEPTON_LAB_TEST_POSTGRES_URL``; a MariaDB
   ``mysql://`` URL works too) and dropped at the end.

Usage::

    .venv/bin/python bench/datasets.py [--quick] [--keep] [--only preview,register,search,sql]
        [--sql-rows N] [--sql-url URL]

``--quick`` shrinks every size about 100x (the test suite runs it).  Generated files live
under ``bench/.data/`` and are deleted at the end unless ``--keep`` is given (a kept input
file is reused by the next run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import sqlalchemy as sa
from common import fmt_bytes, print_table

from lepton_lab.catalog import search
from lepton_lab.config import Settings
from lepton_lab.identity import Actor, Role
from lepton_lab.store.tables import Dataset, DatasetTag, DatasetVersion, Membership, Team
from lepton_lab.workspace import Workspace

SECTIONS = ("preview", "register", "search", "sql")
DEFAULT_DATA = Path(__file__).resolve().parent / ".data"
GIB = 1 << 30
MIB = 1 << 20
# A reference whose peak RSS would pass this is skipped (the machine has 24 GiB).
REFERENCE_RSS_LIMIT = 16 * GIB
USER = "bench"


@dataclass(frozen=True)
class Sizes:
    """Every size the benchmark uses; ``--quick`` picks the small set."""

    small_rows: int
    big_rows: int
    csv_bytes: int
    register_bytes: int
    catalog_sizes: tuple[int, ...]
    repeats: int
    heavy_budget_s: float
    """A slow reference (a whole-file read) repeats until this many seconds are spent."""


FULL = Sizes(1_000, 10_000_000, GIB, int(2.2 * GIB), (1_000, 10_000, 100_000), 15, 60.0)
QUICK = Sizes(1_000, 100_000, 10 * MIB, 22 * MIB, (100, 1_000), 5, 1.0)
#: Rows of the SQL section's table: the documented figure, and ``--quick``'s.
SQL_ROWS, QUICK_SQL_ROWS = 5_000_000, 20_000


@dataclass(frozen=True)
class Run:
    """One benchmark run: its sizes and where it writes."""

    sizes: Sizes
    inputs: Path
    work: Path
    sql_rows: int = SQL_ROWS
    sql_url: str = ""
    used: list[Path] = field(default_factory=list)
    """Input files this run generated or reused: deleted at the end unless ``--keep``."""

    def home(self, name: str) -> Path:
        """A fresh workspace folder for ``name``."""
        return self.work / f"{name}-{uuid.uuid4().hex[:8]}"


# -- output ---------------------------------------------------------------------------------


def fmt_ms(seconds: float | None) -> str:
    """Seconds shown as milliseconds (``-`` when not measured)."""
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.2f} ms" if seconds < 0.1 else f"{seconds * 1000:,.0f} ms"


def fmt_ratio(reference: float | None, lepton: float | None) -> str:
    """How many times longer the reference took."""
    if reference is None or not lepton:
        return "-"
    return f"{reference / lepton:,.1f}x"


def machine_info(sizes: Sizes) -> str:
    """One header line: the machine and the library versions the figures depend on."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    mode = "quick" if sizes == QUICK else "full"
    return (
        f"bench/datasets.py ({mode}) on {platform.machine()} {platform.system()}, "
        f"{os.cpu_count()} cores, {fmt_bytes(memory)} RAM; Python {platform.python_version()}, "
        f"pyarrow {pa.__version__}, pandas {pd.__version__}, numpy {np.__version__}, "
        f"SQLAlchemy {sa.__version__}, SQLite {sqlite3.sqlite_version}; {load_average()}"
    )


def load_average() -> str:
    """The 1-minute load average: other work on the machine skews every figure."""
    return f"load average {os.getloadavg()[0]:.2f}"


# -- timing ---------------------------------------------------------------------------------


def median_time(fn: Callable[[], object], repeats: int, budget_s: float | None = None) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls (after one warm-up call).

    With ``budget_s`` there is no warm-up, and repeating stops once the budget is spent:
    for references that read a whole file, where one call is already many seconds.
    """
    if budget_s is None:
        fn()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < repeats:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if budget_s is not None and time.perf_counter() - started > budget_s:
            break
    return statistics.median(times)


# -- input files ----------------------------------------------------------------------------

_REGIONS = pa.array(["north", "south", "east", "west", "online", "retail", "partner", "export"])
_EPOCH_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
_YEAR_US = 365 * 86_400 * 1_000_000
_CHUNK_ROWS = 1_000_000


def make_batch(start: int, rows: int) -> pa.RecordBatch:
    """Rows ``start`` .. ``start + rows`` of the mixed test table (seeded by ``start``)."""
    rng = np.random.default_rng(start)
    price = rng.gamma(2.0, 30.0, rows)
    price[rng.random(rows) < 0.05] = np.nan
    return pa.record_batch(
        {
            "id": pa.array(np.arange(start, start + rows, dtype=np.int64)),
            "quantity": pa.array(rng.integers(0, 1_000, rows, dtype=np.int32)),
            "price": pa.array(price),
            "score": pa.array(rng.normal(0.0, 1.0, rows)),
            "region": _REGIONS.take(pa.array(rng.integers(0, len(_REGIONS), rows))),
            "ts": pa.array(_EPOCH_US + rng.integers(0, _YEAR_US, rows), type=pa.timestamp("us")),
        }
    )


def write_parquet(path: Path, rows: int) -> int:
    """A Parquet file of ``rows`` rows, written a chunk at a time."""
    schema = make_batch(0, 1).schema
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, _CHUNK_ROWS):
            writer.write_batch(make_batch(start, min(_CHUNK_ROWS, rows - start)))
    return rows


def write_csv(path: Path, target_bytes: int) -> int:
    """A CSV file of at least ``target_bytes`` bytes, written a chunk at a time; its rows."""
    chunk = max(1_000, min(_CHUNK_ROWS, target_bytes // 200))
    rows = 0
    with pa_csv.CSVWriter(path, make_batch(0, 1).schema) as writer:
        while path.stat().st_size < target_bytes:
            writer.write_batch(make_batch(rows, chunk))
            rows += chunk
    return rows


def ensure_input(run: Run, name: str, make: Callable[[Path], int]) -> tuple[Path, int]:
    """The input file ``name`` and its row count, reusing one a ``--keep`` run left."""
    path = run.inputs / name
    meta = path.with_name(path.name + ".json")
    run.used.extend([path, meta])
    if path.exists() and meta.exists():
        return path, int(json.loads(meta.read_text())["rows"])
    run.inputs.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows = make(path)
    meta.write_text(json.dumps({"rows": rows}))
    took = time.perf_counter() - started
    print(f"  generated {name}: {rows:,} rows, {fmt_bytes(path.stat().st_size)} in {took:.1f} s")
    return path, rows


# -- 1. preview and profile -----------------------------------------------------------------


def bench_preview(run: Run) -> None:
    """Preview/profile lookups against pandas reading the file, at three sizes."""
    sizes = run.sizes
    inputs = [
        ("small.parquet", lambda p: write_parquet(p, sizes.small_rows)),
        ("big.parquet", lambda p: write_parquet(p, sizes.big_rows)),
        ("big.csv", lambda p: write_csv(p, sizes.csv_bytes)),
    ]
    ws = Workspace(Settings(home=run.home("preview"), user=USER))
    table: list[list[str]] = []
    notes: list[str] = []
    previews: list[float] = []
    fulls: list[float] = []
    try:
        for name, make in inputs:
            path, rows = ensure_input(run, name, make)
            started = time.perf_counter()
            ref = ws.datasets.register(ws.actor(), path, f"bench/{path.stem}-{path.suffix[1:]}").ref
            notes.append(f"{name} {time.perf_counter() - started:.1f} s")
            os.sync()  # the new blob's write-back would otherwise compete with the timings
            cells, preview, full = _lookup_row(ws, ws.actor(), ref, path, rows, sizes)
            table.append(cells)
            previews.append(preview)
            fulls.append(full)
    finally:
        ws.close()
    print_table(
        "1. Preview and profile lookup vs dataset size (median)",
        [
            "dataset",
            "rows",
            "file size",
            "Lepton preview",
            "Lepton profile",
            "pandas head (nrows=100)",
            "pandas full read+describe",
            "pandas full / Lepton profile",
        ],
        table,
    )
    print(
        f"\n  largest / smallest dataset: Lepton preview {max(previews) / min(previews):.2f}x, "
        f"pandas full read {max(fulls) / min(fulls):,.0f}x"
    )
    print("  Lepton registration (once, in process): " + ", ".join(notes))
    print("  pandas has no nrows for Parquet: its head reads the whole file, then .head(100).")
    print("  describe() covers the numeric columns only (Lepton's profile covers all of them).")


def _lookup_row(
    ws: Workspace, actor: Actor, ref: str, path: Path, rows: int, sizes: Sizes
) -> tuple[list[str], float, float]:
    """One line of the table, with the Lepton preview and pandas full-read seconds."""
    repeats, budget = sizes.repeats, sizes.heavy_budget_s
    preview = median_time(lambda: ws.datasets.preview(actor, ref), repeats * 2)
    profile = median_time(lambda: ws.datasets.profile(actor, ref), repeats * 2)
    if path.suffix == ".csv":
        head = median_time(lambda: pd.read_csv(path, nrows=100), repeats)
        full = median_time(lambda: pd.read_csv(path).describe(), repeats, budget)
    else:
        head = median_time(lambda: pd.read_parquet(path).head(100), repeats, budget)
        full = median_time(lambda: pd.read_parquet(path).describe(), repeats, budget)
    cells = [
        path.name,
        f"{rows:,}",
        fmt_bytes(path.stat().st_size),
        fmt_ms(preview),
        fmt_ms(profile),
        fmt_ms(head),
        fmt_ms(full),
        fmt_ratio(full, profile),
    ]
    return cells, preview, full


# -- 2. registration throughput and memory --------------------------------------------------


@dataclass(frozen=True)
class ChildResult:
    """What a child process reported: seconds of the work, peak resident memory in bytes."""

    seconds: float
    peak_rss: int


def run_child(*args: str) -> ChildResult:
    """Run this script as ``--child ARGS`` in a fresh interpreter; what it reports."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", *args]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"child {' '.join(args)} failed with exit code {done.returncode}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return ChildResult(float(report["seconds"]), int(report["peak_rss"]))


def peak_rss() -> int:
    """This process's peak resident memory, in bytes.

    Not ``getrusage(RUSAGE_CHILDREN)`` in the parent: on Linux a child's ``ru_maxrss``
    starts from the parent's own peak at fork and keeps it across exec, so every child
    of a big parent reads as big.  ``VmHWM`` is the high-water mark of this process's
    memory since exec.
    """
    status = Path("/proc/self/status")
    if status.exists():
        found = re.search(r"^VmHWM:\s+(\d+) kB", status.read_text(), re.MULTILINE)
        if found:
            return int(found.group(1)) * 1024
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def child_main(args: list[str]) -> None:
    """The child side of :func:`run_child`: do one thing, print seconds and peak RSS."""
    kind, *rest = args
    started = time.perf_counter()
    if kind == "register":
        home, path = rest
        ws = Workspace(Settings(home=Path(home), user=USER))
        actor = ws.actor()
        started = time.perf_counter()  # the registration alone, not opening the workspace
        ws.datasets.register(actor, path, "bench/register")
        ws.close()
    elif kind == "pyarrow":
        path, out = rest
        pq.write_table(pa_csv.read_csv(path), out, compression="zstd")
    elif kind == "register-query":
        home, connections, query = rest
        settings = Settings(home=Path(home), user=USER, connections_file=connections)
        ws = Workspace(settings)
        actor = ws.actor()
        started = time.perf_counter()
        ws.datasets.register_query(actor, "bench/sql", "source", query)
        ws.close()
    elif kind == "read-sql":
        url, query = rest
        engine = sa.create_engine(url)
        started = time.perf_counter()
        pd.read_sql(query, engine)
        engine.dispose()
    elif kind != "baseline":
        raise SystemExit(f"unknown child {kind!r}")
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "peak_rss": peak_rss()}))


def bench_register(run: Run) -> None:
    """Throughput and peak RSS of registering a big CSV, beside pyarrow's whole-file way."""
    path, _ = ensure_input(run, "register.csv", lambda p: write_csv(p, run.sizes.register_bytes))
    size = path.stat().st_size
    baseline = run_child("baseline")
    lepton = run_child("register", str(run.home("register")), str(path))
    rows = [
        ["baseline (python + imports)", "-", "-", "-", fmt_bytes(baseline.peak_rss)],
        _register_row("Lepton register (streaming)", size, lepton),
    ]
    notes = []
    estimate = 2 * size  # the Arrow table is about the CSV's size, plus the writer's buffers
    if estimate > REFERENCE_RSS_LIMIT:
        rows.append(["pyarrow read_csv + write_table", fmt_bytes(size), "-", "-", "skipped"])
        notes.append(f"  reference skipped: it would need ~{fmt_bytes(estimate)} RSS")
    else:
        out = run.work / "reference.parquet"
        run.work.mkdir(parents=True, exist_ok=True)
        reference = run_child("pyarrow", str(path), str(out))
        out.unlink(missing_ok=True)
        rows.append(_register_row("pyarrow read_csv + write_table", size, reference))
    print_table(
        "2. Registration of a large CSV: throughput and peak memory (one run each)",
        ["method", "input size", "seconds", "MB/s", "peak RSS"],
        rows,
    )
    above = lepton.peak_rss - baseline.peak_rss
    print(
        f"\n  Lepton peak RSS above the baseline: {fmt_bytes(above)} ({above / size:.1%} of input)."
    )
    print("  Lepton parses CSV on one thread; pyarrow.csv.read_csv uses every core.")
    print("  Both write zstd Parquet; Lepton also profiles, hashes and stores the blob.")
    for note in notes:
        print(note)


def _register_row(method: str, size: int, result: ChildResult) -> list[str]:
    mb_s = size / 1e6 / result.seconds
    return [
        method,
        fmt_bytes(size),
        f"{result.seconds:.1f}",
        f"{mb_s:.1f}",
        fmt_bytes(result.peak_rss),
    ]


# -- 3. catalog search ----------------------------------------------------------------------


def _words(text: str) -> list[str]:
    """A word list written as one string."""
    return text.split()


_TOPICS = _words(
    "sales revenue churn customer orders inventory clicks sessions forecast weather sensor "
    "telemetry claims fraud credit loan payments shipping returns pricing marketing campaign "
    "survey genome protein traffic energy billing support tickets hiring payroll audit "
    "supplier warehouse fleet flights hotel retail wholesale"
)
_QUALIFIERS = _words("daily weekly monthly raw clean sample eu us apac latam features labels")
_SOURCES = _words("erp crm warehouse lakehouse kafka sftp api spreadsheet vendor census")
_TAGS = _words(
    "finance risk ml gold silver bronze pii public internal monthly daily experimental "
    "certified deprecated geo timeseries nlp vision tabular kpi"
)
_COLUMNS = _words(
    "id date amount currency country region customer_id product_id quantity price label "
    "score timestamp category status lat lon text user_id session_id"
)
_TEAMS = [f"{d}-{r}" for d in _words("data risk ops web bio hr ml fin ads sec") for r in "abcde"]
_OWNERS = [f"user{i:02d}" for i in range(30)] + [USER]
# The acting user's roles: a few teams out of fifty.
_ROLES = {"data-a": "admin", "risk-b": "contributor", "ml-c": "contributor", "ops-a": "viewer"}
_QUERY = "revenue"
_QUERY_TEAM, _QUERY_TAG = "risk-b", "finance"


def catalog_rows(rng: random.Random, start: int, stop: int) -> list[dict[str, Any]]:
    """Dataset rows ``start`` .. ``stop``: varied names, descriptions, tags, teams."""
    now = datetime(2025, 6, 1, tzinfo=UTC)
    rows = []
    for i in range(start, stop):
        a, b = rng.sample(_TOPICS, 2)
        qualifier, source = rng.choice(_QUALIFIERS), rng.choice(_SOURCES)
        tags = sorted(rng.sample(_TAGS, rng.randint(1, 3)))
        columns = rng.sample(_COLUMNS, rng.randint(3, 8))
        team, name = _TEAMS[i % len(_TEAMS)], f"{a}_{b}_{qualifier}_{i}"
        description = (
            f"{qualifier.title()} {a} and {b} data from the {source} feed, "
            f"{rng.choice(_TOPICS)} {rng.choice(_TOPICS)} notes."
        )
        updated = now - timedelta(seconds=rng.randrange(2 * 365 * 86_400))
        rows.append(
            {
                "team": team,
                "name": name,
                "owner": rng.choice(_OWNERS),
                "visibility": rng.choices(["org", "team", "private"], [4, 4, 2])[0],
                "description": description,
                "tags": tags,
                "latest_version": 1,
                "latest_rows": rng.randrange(1, 10**7),
                "latest_bytes": rng.randrange(1, 10**9),
                "search_text": search.document(team, name, description, tags, columns),
                "created_at": updated,
                "updated_at": updated,
                "_columns": columns,
            }
        )
    return rows


def seed_teams(ws: Workspace) -> None:
    """Fifty teams, and the acting user's memberships in a few of them."""
    with ws.db.write() as session:
        session.execute(
            sa.insert(Team), [{"slug": t, "title": t, "created_by": "admin"} for t in _TEAMS]
        )
        session.execute(
            sa.insert(Membership),
            [{"team": t, "user": USER, "role": r, "added_by": "admin"} for t, r in _ROLES.items()],
        )


def add_datasets(ws: Workspace, rows: list[dict[str, Any]]) -> None:
    """Bulk-insert what ``register()`` writes for a one-version dataset.

    This mirrors ``DatasetService._commit_version``: the ``datasets`` row with its
    ``search_text`` from ``search.document(...)``, one ``dataset_tags`` row per tag, a
    ``dataset_versions`` row, and the search index.  On SQLite the index is the FTS5 table
    ``dataset_search`` (rowid = dataset id, text = search_text): the same rows that
    ``search.index_dataset`` inserts, in one executemany.  PostgreSQL indexes the column
    itself.  Audit events are left out: search does not read them.
    """
    columns = [r.pop("_columns") for r in rows]
    with ws.db.write() as session:
        ids = session.scalars(
            sa.insert(Dataset).returning(Dataset.id, sort_by_parameter_order=True), rows
        ).all()
        tags = [
            {"dataset_id": i, "tag": t} for i, r in zip(ids, rows, strict=True) for t in r["tags"]
        ]
        session.execute(sa.insert(DatasetTag), tags)
        session.execute(
            sa.insert(DatasetVersion),
            [_version_row(i, c) for i, c in zip(ids, columns, strict=True)],
        )
        if ws.db.is_sqlite:
            session.execute(
                sa.text("INSERT INTO dataset_search (rowid, text) VALUES (:id, :text)"),
                [{"id": i, "text": r["search_text"]} for i, r in zip(ids, rows, strict=True)],
            )
    if ws.db.dialect == "postgresql":
        # Autovacuum analyzes a table this size soon after a bulk load; do it now.
        with ws.db.engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
    else:
        # What the next process to open the grown catalog does (Database.migrate).
        ws.db.refresh_statistics()


def _version_row(dataset_id: int, columns: list[str]) -> dict[str, Any]:
    return {
        "dataset_id": dataset_id,
        "version": 1,
        "sha256": f"{dataset_id:064x}",
        "rows": 1,
        "bytes": 1,
        "columns": [{"name": c, "type": "int64"} for c in columns],
        "profile": {},
        "preview": {"columns": columns, "data": []},
        "source": "bench",
        "created_by": USER,
    }


@dataclass(frozen=True)
class Query:
    """One search as the service takes it."""

    label: str
    text: str = ""
    team: str | None = None
    tag: str | None = None
    offset: int = 0


def load_catalog(ws: Workspace) -> pd.DataFrame:
    """The datasets table as a DataFrame, prepared once for the naive scan."""
    with ws.db.engine.connect() as conn:
        frame = pd.read_sql(sa.select(Dataset.__table__), conn)
    frame["updated_at"] = pd.to_datetime(frame["updated_at"], utc=True, format="ISO8601")
    tags = frame["tags"].map(lambda t: json.loads(t) if isinstance(t, str) else t)
    frame["tag_text"] = tags.map(lambda t: " " + " ".join(t) + " ")
    return frame


def pandas_search(
    frame: pd.DataFrame, actor: Actor, query: Query, limit: int = 20
) -> tuple[int, list[int]]:
    """The same query as an in-memory scan: visibility, words, filters, newest first.

    Visibility is :func:`lepton_lab.identity.visible_filter`'s rule, vectorised.
    """
    admin_of = [t for t, role in actor.roles.items() if role >= Role.admin]
    mask = (
        (frame.visibility == "org")
        | (frame.owner == actor.user)
        | ((frame.visibility == "team") & frame.team.isin(list(actor.teams)))
        | frame.team.isin(admin_of)
    )
    for word in search.query_words(query.text):
        # A word matches a token that starts with it, as FTS prefix queries do.
        mask &= frame.search_text.str.contains(f"(?:^|[^0-9a-z]){word}", case=False, regex=True)
    if query.team:
        mask &= frame.team == query.team
    if query.tag:
        mask &= frame.tag_text.str.contains(f" {query.tag} ", regex=False)
    found = frame[mask].sort_values(["updated_at", "id"], ascending=False)
    return len(found), found["id"].iloc[query.offset : query.offset + limit].tolist()


def search_queries(frame: pd.DataFrame, actor: Actor) -> list[Query]:
    """First page, filtered page, a deep page (offset 1000 where there are enough), browse."""
    total, _ = pandas_search(frame, actor, Query("", _QUERY))
    deep = min(1_000, max(0, (total - 1) // 20 * 20))
    return [
        Query(f'"{_QUERY}" first page', _QUERY),
        Query(f'"{_QUERY}" team={_QUERY_TEAM} tag={_QUERY_TAG}', _QUERY, _QUERY_TEAM, _QUERY_TAG),
        Query(f'"{_QUERY}" offset {deep}', _QUERY, offset=deep),
        Query('"customer churn" (two words)', "customer churn"),
        Query("empty query (browse newest)"),
    ]


def bench_search(run: Run, database_url: str, label: str) -> None:
    """Search latency as the catalog grows, beside a pandas scan of the same catalog."""
    settings = Settings(home=run.home("search"), user=USER, database_url=database_url)
    ws = Workspace(settings)
    rng = random.Random(42)
    table: list[list[str]] = []
    problems: list[str] = []
    try:
        seed_teams(ws)
        actor, have = ws.actor(), 0
        for size in run.sizes.catalog_sizes:
            started = time.perf_counter()
            add_datasets(ws, catalog_rows(rng, have, size))
            took = time.perf_counter() - started
            print(f"  {label}: catalog grown to {size:,} datasets in {took:.1f} s")
            have, frame = size, load_catalog(ws)
            for query in search_queries(frame, actor):
                table.append(
                    _search_row(ws, actor, frame, query, size, run.sizes.repeats, problems)
                )
    finally:
        ws.close()
    print_table(
        f"3. Catalog search on {label} (median, first 20 results)",
        ["datasets", "query", "matches", "Lepton ms", "pandas scan ms", "pandas / Lepton"],
        table,
    )
    print(
        "\n  pandas scan: filter + sort + slice of the catalog held in memory (read_sql untimed);"
    )
    print("  it sorts newest first where Lepton orders word queries by relevance.")
    if ws.db.is_sqlite:
        print("  SQLite statistics refreshed as Lepton does when a grown catalog is opened.")
    else:
        print("  PostgreSQL was ANALYZEd after each bulk load, as autovacuum would do.")
    for problem in problems or ["  Lepton and pandas agree on every match count."]:
        print(problem)


def _search_row(
    ws: Workspace,
    actor: Actor,
    frame: pd.DataFrame,
    query: Query,
    size: int,
    repeats: int,
    problems: list[str],
) -> list[str]:
    def lepton() -> Any:
        return ws.datasets.search(
            actor, query.text, team=query.team, tag=query.tag, limit=20, offset=query.offset
        )

    page = lepton()
    total, newest = pandas_search(frame, actor, query)
    if page.total != total:
        problems.append(
            f"  MISMATCH at {size:,} {query.label}: Lepton {page.total:,}, pandas {total:,}"
        )
    if not query.text and [ws_id(ws, d.ref) for d in page.items] != newest:
        problems.append(f"  ORDER differs at {size:,} {query.label}")
    took = median_time(lepton, repeats)
    scan = median_time(lambda: pandas_search(frame, actor, query), repeats)
    return [
        f"{size:,}",
        query.label,
        f"{page.total:,}",
        fmt_ms(took),
        fmt_ms(scan),
        fmt_ratio(scan, took),
    ]


def ws_id(ws: Workspace, ref: str) -> int:
    """The database id of dataset ``team/name`` (to compare orders with the scan)."""
    team, name = ref.split("/", 1)
    with ws.db.read() as session:
        found = session.scalar(
            sa.select(Dataset.id).where(Dataset.team == team, Dataset.name == name)
        )
    return int(found or 0)


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A ``postgresql+psycopg`` URL whose search path is a fresh schema, dropped afterwards."""
    base = url.replace("postgresql://", "postgresql+psycopg://", 1)
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def bench_search_all(run: Run) -> None:
    """The search section on SQLite, then on PostgreSQL when one is configured."""
    bench_search(run, "", "SQLite")
    url = os.environ.get("LEPTON_LAB_TEST_POSTGRES_URL", "")
    if not url:
        print("\n  (set LEPTON_LAB_TEST_POSTGRES_URL to run the search section on PostgreSQL too)")
        return
    with postgres_schema(url) as schema_url:
        bench_search(run, schema_url, "PostgreSQL")


# -- 4. a dataset from a SQL query ----------------------------------------------------------

# Rows made on the server itself, so that making them is not what the section measures.
_SQL_TABLE = {
    "postgresql": (
        "create table {t} as select i::bigint as id, (i % 1000)::int as quantity, "
        "round((i % 99991)::numeric / 100, 2)::numeric(10,2) as price, "
        "sin(i)::double precision as score, "
        "(array['north','south','east','west','online','retail'])[i % 6 + 1] as region, "
        "timestamp '2024-01-01' + (i % 525600) * interval '1 minute' as ts, "
        "(i % 7 = 0) as flag from generate_series(1, {n}) as g(i)"
    ),
    "mysql": (
        "create table {t} as select seq as id, seq % 1000 as quantity, "
        "cast((seq % 99991) / 100 as decimal(10,2)) as price, sin(seq) as score, "
        "elt(seq % 6 + 1, 'north','south','east','west','online','retail') as region, "
        "timestamp '2024-01-01 00:00:00' + interval (seq % 525600) minute as ts, "
        "(seq % 7 = 0) as flag from seq_1_to_{n}"
    ),
}


def bench_sql(run: Run) -> None:
    """``register_query`` beside ``pandas.read_sql`` of the same query (time, peak RSS)."""
    if not run.sql_url:
        print("\n4. SQL dataset: skipped (set LEPTON_LAB_TEST_POSTGRES_URL or pass --sql-url)")
        return
    url = sa.make_url(run.sql_url)
    dialect = "mysql" if url.get_backend_name() in ("mysql", "mariadb") else "postgresql"
    driver = "mysql+pymysql" if dialect == "mysql" else "postgresql+psycopg"
    admin = sa.create_engine(url.set(drivername=driver))
    table = f"bench_sql_{uuid.uuid4().hex[:8]}"
    started = time.perf_counter()
    with admin.begin() as conn:
        make = _SQL_TABLE[dialect].format(t=table, n=run.sql_rows)
        conn.execution_options(no_parameters=True).exec_driver_sql(make)
    print(f"  made {table}: {run.sql_rows:,} rows in {time.perf_counter() - started:.1f} s")
    try:
        _sql_table(run, url, driver, f"select * from {table}")
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"drop table {table}")
        admin.dispose()


def _sql_table(run: Run, url: sa.URL, driver: str, query: str) -> None:
    run.work.mkdir(parents=True, exist_ok=True)
    # postgresql:// is read through ADBC, mysql+pymysql:// through a server-side cursor.
    source = url.set(drivername="postgresql" if driver.startswith("postgresql") else driver)
    connections = run.work / "connections.json"
    entry = {"url": source.render_as_string(hide_password=False), "teams": ["*"]}
    connections.write_text(json.dumps({"connections": {"source": entry}}))
    baseline = run_child("baseline")
    lepton = run_child("register-query", str(run.home("sql")), str(connections), query)
    pandas = run_child("read-sql", url.set(drivername=driver).render_as_string(False), query)
    rows = [
        ["baseline (python + imports)", "-", "-", fmt_bytes(baseline.peak_rss)],
        _sql_row("Lepton register_query (streamed to Parquet)", run.sql_rows, lepton),
        _sql_row(f"pandas.read_sql ({driver})", run.sql_rows, pandas),
    ]
    print_table(
        f"4. A {run.sql_rows:,}-row table read into a dataset vs pandas.read_sql (one run each)",
        ["method", "seconds", "rows/s", "peak RSS"],
        rows,
    )
    print(f"\n  pandas.read_sql / Lepton: {pandas.seconds / lepton.seconds:.1f}x the time, "
          f"{pandas.peak_rss / lepton.peak_rss:.1f}x the peak RSS.")  # fmt: skip
    print("  Lepton also writes zstd Parquet, profiles, hashes and stores the version;")
    print("  pandas.read_sql only builds the DataFrame.")


def _sql_row(method: str, rows: int, result: ChildResult) -> list[str]:
    return [
        method,
        f"{result.seconds:.1f}",
        f"{rows / result.seconds:,.0f}",
        fmt_bytes(result.peak_rss),
    ]


# -- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every size ~100x smaller (< 30 s)")
    parser.add_argument("--keep", action="store_true", help="keep generated files for the next run")
    parser.add_argument(
        "--only", default=",".join(SECTIONS), help="comma-separated sections to run"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA, help="where files are generated"
    )
    parser.add_argument(
        "--sql-rows", type=int, default=None, help=f"rows of the sql table ({SQL_ROWS:,})"
    )
    parser.add_argument(
        "--sql-url",
        default=os.environ.get("LEPTON_LAB_TEST_POSTGRES_URL", ""),
        help="the database the sql section reads (default LEPTON_LAB_TEST_POSTGRES_URL)",
    )
    args = parser.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(args.only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the chosen sections and print their tables."""
    args = parse_args(argv)
    sizes = QUICK if args.quick else FULL
    data = args.data_dir.resolve()
    inputs = data / ("inputs-quick" if args.quick else "inputs")  # sizes differ by mode
    rows = args.sql_rows or (QUICK_SQL_ROWS if args.quick else SQL_ROWS)
    run = Run(sizes, inputs, data / f"run-{os.getpid()}", rows, args.sql_url)
    print(machine_info(sizes))
    sections = {
        "preview": bench_preview,
        "register": bench_register,
        "search": bench_search_all,
        "sql": bench_sql,
    }
    try:
        for name in args.only:
            sections[name](run)
    finally:
        if not args.keep:
            cleanup(run)
    print(f"\nfinished; {load_average()}")


def cleanup(run: Run) -> None:
    """Delete what this run wrote: its workspaces and the input files it used."""
    shutil.rmtree(run.work, ignore_errors=True)
    for path in run.used:
        path.unlink(missing_ok=True)
    if run.inputs.is_dir() and not any(run.inputs.iterdir()):
        run.inputs.rmdir()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child_main(sys.argv[2:])
    else:
        main()
