"""REST API benchmark: Lepton Lab's dataset endpoints beside Jupyter Server's ``/api/status``.

Requests per second and p50/p99 latency of listing, searching and getting datasets in a
catalog of 1,000 datasets, with 1 and 16 concurrent clients on loopback.  Jupyter Server's
own ``GET /api/status`` (same server, same token, same client) is the reference: it is the
cost of a request through Jupyter Server's stack alone, so the ratio column shows what
Lepton Lab adds on top.  Nothing passes or fails; the figures are ratios for a reader.

How it measures:

* A temporary workspace is seeded through ``DatasetService.register`` (the real write
  path): 1,000 small datasets over 10 teams, visibility org / team / private.  The
  requests come from ``reader``, a member of 3 of those teams, so visibility filtering
  does real work.
* ``lepton-lab serve`` runs as a subprocess on a free 127.0.0.1 port; the benchmark waits
  until ``/api/status`` answers, then warms every endpoint up.
* Each cell (endpoint x clients) is a closed loop: every client sends its next request
  when the previous answer arrives, until the cell has sent N requests or spent T seconds.
  Cells run in rounds, every endpoint once per round, so background load on the machine
  falls on all of them alike; a round's ratio compares cells of that round only.
* Beside the wall-clock figures it records the CPU time the server process and this
  process (the load generator) spent per request, from ``/proc`` and ``process_time``.

Usage::

    .venv/bin/python bench/api.py [--quick] [--rounds R] [--no-kept-answers]

``--quick`` (the test suite runs it) seeds 50 datasets and sends far fewer requests; it
finishes in well under 40 seconds.  The server keeps the answers of list, search and get
while the catalog is unchanged, as it does by default on SQLite (the cells repeat their
requests, so all but the first are kept answers); ``--no-kept-answers`` has it compute
every answer, as on PostgreSQL or MariaDB: run both to see each.  The server is stopped
and the workspace deleted at the end, also after an error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import NoReturn

import pandas as pd
from common import machine_header, percentile, print_table, spread
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPResponse

from lepton_lab.config import Settings
from lepton_lab.workspace import Workspace

API = "/lepton/api/v1"
READER = "reader"
QUERY = "revenue"
CONCURRENCY = (1, 16)
PACKAGES = ("lepton-lab", "jupyter_server", "tornado", "SQLAlchemy", "pandas", "pyarrow")


@dataclass(frozen=True)
class Profile:
    """How much work one run does; ``--quick`` picks the small one."""

    name: str
    datasets: int
    rounds: int
    requests: int
    """A cell stops after this many requests ..."""
    seconds: float
    """... or after this many seconds, whichever comes first."""
    warmup: int
    """Requests per endpoint sent before measuring (16 clients), and thrown away."""
    kept_answers: bool = True
    """Whether the server keeps answers while the catalog is unchanged (its default)."""


FULL = Profile("full", datasets=1_000, rounds=3, requests=3_000, seconds=5.0, warmup=200)
QUICK = Profile("quick", datasets=50, rounds=2, requests=150, seconds=0.6, warmup=30)


# -- the catalog ----------------------------------------------------------------------------

_TEAMS = ("sales", "risk", "ops", "web", "bio", "hr", "ml", "fin", "ads", "sec")
_READER_ROLES = {"sales": "viewer", "risk": "contributor", "ml": "viewer"}


def _words(text: str) -> list[str]:
    """A word list written as one string."""
    return text.split()


_TOPICS = _words(
    "revenue churn orders inventory clicks forecast weather telemetry claims fraud credit "
    "payments shipping pricing campaign survey traffic energy billing payroll"
)
_QUALIFIERS = _words("daily weekly monthly raw clean sample eu us apac latam")
_COLUMNS = _words("id date amount country customer_id quantity price label score status")
_VISIBILITY = (("org", 4), ("team", 4), ("private", 2))


@dataclass(frozen=True)
class Catalog:
    """What the seeding produced: datasets the reader can see, for the get endpoint."""

    visible: list[str]
    seconds: float


def seed(home: Path, count: int) -> Catalog:
    """Register ``count`` small datasets through the service, and make ``reader`` a member."""
    rng = random.Random(20240601)
    started = time.perf_counter()
    ws = Workspace(Settings(home=home, user="bench"))
    try:
        visible = [ref for i in range(count) if (ref := _register_one(ws, rng, i))]
        owner = ws.actor()
        for team, role in _READER_ROLES.items():
            ws.teams.add_member(owner, team, READER, role)
    finally:
        ws.close()
    return Catalog(visible, time.perf_counter() - started)


def _register_one(ws: Workspace, rng: random.Random, i: int) -> str | None:
    """Register dataset number ``i``; its ref when ``reader`` will be able to see it."""
    team = _TEAMS[i % len(_TEAMS)]
    a, b = rng.sample(_TOPICS, 2)
    qualifier = rng.choice(_QUALIFIERS)
    columns = rng.sample(_COLUMNS, rng.randint(3, 6))
    frame = pd.DataFrame({c: [rng.randint(0, 999) for _ in range(10)] for c in columns})
    visibility = rng.choices([v for v, _ in _VISIBILITY], [w for _, w in _VISIBILITY])[0]
    ref = f"{team}/{a}_{b}_{qualifier}_{i}"
    ws.datasets.register(
        ws.actor(),
        frame,
        ref,
        description=f"{qualifier.title()} {a} and {b} figures, {rng.choice(_TOPICS)} notes.",
        tags=rng.sample(["finance", "ml", "gold", "pii", "kpi", "daily"], 2),
        visibility=visibility,
    )
    seen = visibility == "org" or (visibility == "team" and team in _READER_ROLES)
    return ref if seen else None


# -- the server -----------------------------------------------------------------------------


@dataclass
class Server:
    """A running ``lepton-lab serve`` subprocess."""

    process: subprocess.Popen[bytes]
    base_url: str
    token: str
    log: Path

    def cpu_seconds(self) -> float | None:
        """CPU time the server process (all its threads) has used so far; None off Linux."""
        stat = Path(f"/proc/{self.process.pid}/stat")
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's output, for error messages."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_server(root: Path, workspace: Path, kept_answers: bool = True) -> Iterator[Server]:
    """``lepton-lab serve`` on ``workspace``, on loopback only; terminated on exit.  With
    ``kept_answers`` off, configured to keep none (``LeptonLabApp.keep_answers``)."""
    config = root / "jupyter-config"  # the server's JUPYTER_CONFIG_DIR (_server_env)
    config.mkdir(exist_ok=True)
    settings = {"LeptonLabApp": {"keep_answers": kept_answers}}
    (config / "jupyter_server_config.json").write_text(json.dumps(settings))
    token = f"bench-{os.urandom(16).hex()}"
    tokens = root / "tokens.json"
    tokens.write_text(json.dumps({token: READER}))
    port = free_port()
    command = [
        str(Path(sys.executable).with_name("lepton-lab")),
        "--home",
        str(workspace),
        "serve",
        *("--ip", "127.0.0.1", "--port", str(port)),
        *("--tokens-file", str(tokens)),
        "--allow-root",
    ]
    notebooks = root / "notebooks"
    notebooks.mkdir()
    log = root / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=notebooks,
            env=_server_env(root),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us, and we stop the server ourselves
        )
    try:
        yield Server(process, f"http://127.0.0.1:{port}", token, log)
    finally:
        _stop(process)


def _server_env(root: Path) -> dict[str, str]:
    """This environment, minus anything that would point the server at another workspace
    or at the user's own Jupyter configuration and runtime files."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEPTON_LAB_", "JUPYTERHUB_"))}
    env["JUPYTER_CONFIG_DIR"] = str(root / "jupyter-config")
    env["JUPYTER_RUNTIME_DIR"] = str(root / "jupyter-runtime")
    return env


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


# -- the load -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One row group of the table: a label and the paths its requests cycle through."""

    label: str
    paths: tuple[str, ...]
    body: bytes | None = None
    """Sent with every request as a ``POST`` when given (a JSON body); ``GET`` without."""

    @property
    def method(self) -> str:
        """``GET``, or ``POST`` when the endpoint has a body."""
        return "GET" if self.body is None else "POST"


def endpoints(catalog: Catalog) -> list[Endpoint]:
    """The reference first, then the Lepton Lab endpoints."""
    gets = tuple(f"{API}/datasets/{ref}" for ref in catalog.visible[:100])
    if not gets:
        raise BenchError("the seeded catalog has no dataset the reader can see")
    return [
        Endpoint("GET /api/status (reference)", ("/api/status",)),
        Endpoint(f"GET {API}/datasets?limit=20", (f"{API}/datasets?limit=20",)),
        Endpoint(f"GET {API}/datasets?q={QUERY}&limit=20", (f"{API}/datasets?q={QUERY}&limit=20",)),
        Endpoint(f"GET {API}/datasets/<team>/<name>", gets),
    ]


@dataclass(frozen=True)
class Sample:
    """One cell of one round."""

    latencies: list[float]
    seconds: float
    client_cpu: float
    server_cpu: float | None

    @property
    def rate(self) -> float:
        """Requests per second."""
        return len(self.latencies) / self.seconds


class BenchError(RuntimeError):
    """A request failed: the figures would be meaningless, so the run stops."""


# The load generator is asyncio with tornado's AsyncHTTPClient, not threads with
# requests.Session: one thread drives all 16 clients, so the clients never contend for
# the GIL (16 requests threads on 2 cores measured ~25% fewer req/s against
# /api/status than the same load from one event loop), and tornado is already there as
# the stack Jupyter Server is built on.  Its cost: tornado's simple
# client sends "Connection: close", so every request opens a fresh loopback connection,
# the same for the reference and for Lepton Lab, so the ratios are unaffected.
async def drive(
    server: Server, endpoint: Endpoint, clients: int, limit: int, seconds: float
) -> Sample:
    """``clients`` closed-loop clients on ``endpoint`` until ``limit`` requests or ``seconds``."""
    http = AsyncHTTPClient(force_instance=True, max_clients=clients)
    headers = {"Authorization": f"token {server.token}"}
    latencies: list[float] = []
    sent = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal sent
        while sent < limit and time.perf_counter() < deadline:
            path = endpoint.paths[sent % len(endpoint.paths)]
            sent += 1
            t0 = time.perf_counter()
            response = await http.fetch(
                server.base_url + path,
                method=endpoint.method,
                headers=headers,
                body=endpoint.body,
                raise_error=False,
            )
            latencies.append(time.perf_counter() - t0)
            _check(response, f"{endpoint.method} {path}")

    server_cpu, client_cpu = server.cpu_seconds(), time.process_time()
    started = time.perf_counter()
    try:
        await asyncio.gather(*(client() for _ in range(clients)))
    finally:
        http.close()
    elapsed = time.perf_counter() - started
    server_after = server.cpu_seconds()
    used = None if server_cpu is None or server_after is None else server_after - server_cpu
    return Sample(latencies, elapsed, time.process_time() - client_cpu, used)


def _check(response: HTTPResponse, request: str) -> None:
    if response.code != 200:
        body = (response.body or b"")[:300].decode(errors="replace")
        raise BenchError(f"{request} answered {response.code} {body or response.error}")


async def wait_ready(server: Server, timeout: float = 60.0) -> None:
    """Poll ``/api/status`` until the server answers, failing early if it exited."""
    http = AsyncHTTPClient(force_instance=True)
    headers = {"Authorization": f"token {server.token}"}
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise BenchError(f"the server exited:\n{server.log_tail()}")
            try:
                await http.fetch(f"{server.base_url}/api/status", headers=headers)
                return
            except OSError:  # connection refused: not listening yet
                await asyncio.sleep(0.1)
            except HTTPClientError as exc:
                raise BenchError(f"GET /api/status while waiting: {exc}") from None
        raise BenchError(f"the server did not answer within {timeout:.0f} s:\n{server.log_tail()}")
    finally:
        http.close()


# -- the run --------------------------------------------------------------------------------


@dataclass
class Cell:
    """An endpoint at one concurrency, over every round."""

    endpoint: Endpoint
    clients: int
    samples: list[Sample] = field(default_factory=list)


async def measure(server: Server, points: list[Endpoint], profile: Profile) -> list[Cell]:
    """Warm up, then every cell once per round, the reference first in each round."""
    await wait_ready(server)
    for endpoint in points:
        await drive(server, endpoint, max(CONCURRENCY), profile.warmup, profile.seconds * 2)
    cells = [Cell(endpoint, clients) for clients in CONCURRENCY for endpoint in points]
    for _ in range(profile.rounds):
        for cell in cells:
            sample = await drive(
                server, cell.endpoint, cell.clients, profile.requests, profile.seconds
            )
            cell.samples.append(sample)
    return cells


def table_rows(cells: list[Cell]) -> list[list[str]]:
    """One row per cell; ratios against the reference at the same concurrency and round."""
    reference = {c.clients: c for c in cells if c.endpoint.paths == ("/api/status",)}
    rows = []
    for cell in cells:
        base = reference[cell.clients]
        ratios = [s.rate / r.rate for s, r in zip(cell.samples, base.samples, strict=True)]
        latencies = [x for s in cell.samples for x in s.latencies]
        requests = len(latencies)
        server_cpu = [s.server_cpu for s in cell.samples if s.server_cpu is not None]
        rows.append(
            [
                cell.endpoint.label,
                str(cell.clients),
                f"{requests:,}",
                f"{statistics.median(s.rate for s in cell.samples):,.0f}",
                f"{percentile(latencies, 50) * 1e3:.2f}",
                f"{percentile(latencies, 99) * 1e3:.2f}",
                f"{statistics.median(ratios):.2f}x",
                spread([s.rate for s in cell.samples]),
                f"{sum(server_cpu) / requests * 1e3:.2f}" if server_cpu else "-",
                f"{sum(s.client_cpu for s in cell.samples) / requests * 1e3:.2f}",
            ]
        )
    return rows


HEADERS = [
    "endpoint",
    "clients",
    "requests",
    "req/s",
    "p50 ms",
    "p99 ms",
    "req/s vs /api/status",
    "req/s spread",
    "server CPU ms/req",
    "client CPU ms/req",
]


def report(cells: list[Cell], catalog: Catalog, profile: Profile) -> None:
    """The table and the notes a reader needs to trust it."""
    print_table(
        f"REST API throughput and latency, {profile.datasets:,} datasets, loopback "
        f"(median of {profile.rounds} rounds)",
        HEADERS,
        table_rows(cells),
    )
    print(
        f"\n  Each cell: up to {profile.requests:,} requests or {profile.seconds:g} s per round, "
        f"{profile.rounds} rounds; p50/p99 over all rounds' requests."
    )
    print("  req/s vs /api/status: the median over rounds of (req/s / the same round's")
    print("  /api/status req/s at the same concurrency); spread: half the range of req/s.")
    print(
        "  CPU ms/req: CPU time of the server process (all threads) and of the load"
        " generator, per request."
    )
    print(
        f"  Catalog seeded through DatasetService.register in {catalog.seconds:.1f} s; "
        f"'{READER}' sees {len(catalog.visible):,} of {profile.datasets:,} datasets."
    )
    print("  Client: tornado AsyncHTTPClient, one event loop, a new connection per request.")


def parse_args(argv: Sequence[str] | None) -> Profile:
    """The command line, as the profile to run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="50 datasets, short cells (< 40 s)")
    parser.add_argument("--rounds", type=int, help="rounds per cell (default: 3, quick: 2)")
    parser.add_argument("--no-kept-answers", action="store_true",
                        help="the server keeps no answers (LeptonLabApp.keep_answers = False): "
                        "every request is computed, as on PostgreSQL or MariaDB")  # fmt: skip
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else FULL
    if args.rounds is not None:
        if args.rounds < 1:
            parser.error("--rounds must be at least 1")
        profile = dataclasses.replace(profile, rounds=args.rounds)
    if args.no_kept_answers:
        name = f"{profile.name}, no kept answers"
        profile = dataclasses.replace(profile, name=name, kept_answers=False)
    return profile


def exit_on_sigterm(signum: int, frame: FrameType | None) -> NoReturn:
    """SIGTERM unwinds like Ctrl-C, so the server is stopped and the workspace removed."""
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Seed, serve, measure, print; always clean up."""
    profile = parse_args(argv)
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    print(machine_header("bench/api.py", profile.name, PACKAGES), flush=True)
    root = Path(tempfile.mkdtemp(prefix="lepton-bench-api-"))
    try:
        catalog = seed(root / "workspace", profile.datasets)
        with running_server(root, root / "workspace", profile.kept_answers) as server:
            cells = asyncio.run(measure(server, endpoints(catalog), profile))
        report(cells, catalog, profile)
    except BenchError as exc:
        print(f"\nbench/api.py: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
