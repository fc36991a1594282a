"""bench/gallery.py's serving table: ``lepton-lab models serve`` beside MLflow's scoring server.

Both serve the same fitted pipeline (MLflow's copy is that pipeline pickled, saved with
``mlflow.sklearn.save_model``) with the same number of workers, on loopback; the same
closed-loop clients send the same rows to each.  Unlike bench/api.py's client (a fresh
connection per request, as tornado's simple client does), these clients keep one HTTP/1.1
connection each, as ``requests.Session`` or any production client does: at one client the
figure is then the server's cost per request, not the cost of opening connections.

MLflow is installed for the benchmark only, into a virtual environment of its own (never
into Lepton Lab's): bench/README.md gives the command.  When it is absent, its cells say so.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import api
import numpy as np
import pandas as pd
from common import fmt_ratio, percentile, print_table, spread

MLFLOW_VENV = Path("/tmp/lepton-bench-mlflow")
"""Where bench/README.md installs MLflow (``--mlflow-venv`` to use another)."""


class BenchError(RuntimeError):
    """A server did not start or answered wrongly: the figures would be meaningless."""


@dataclass
class Target:
    """One running server: how to reach its predict endpoint and what its body looks like."""

    side: str
    """``Lepton`` or ``MLflow``."""
    workers: int
    process: subprocess.Popen[bytes]
    port: int
    path: str
    headers: dict[str, str]
    body: Callable[[list[dict[str, Any]]], bytes]
    predictions: Callable[[Any], list[Any]]
    """The predictions in a decoded answer."""
    log: Path

    def cpu_seconds(self) -> float:
        """CPU time of the server and every process under it (workers, uvicorn)."""
        return sum(_cpu(pid) for pid in _tree(self.process.pid))


def _tree(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, IndexError, ValueError):
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += [child for child, parent in parents.items() if parent == pid]
    return found


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


BASELINE = "Lepton baseline"
"""The side of a ``models serve`` run from another checkout (``--baseline DIR``)."""


@contextmanager
def lepton_server(
    root: Path, workspace: Path, ref: str, workers: int, token: str, code: Path | None = None
) -> Iterator[Target]:
    """``lepton-lab models serve REF --workers N`` as the benchmark's reader, on loopback;
    with ``code``, the ``lepton_lab`` package of that checkout (side :data:`BASELINE`)."""
    tokens = root / "serving-tokens.json"
    tokens.write_text(json.dumps({token: api.READER}))
    port = api.free_port()
    command = [str(Path(sys.executable).with_name("lepton-lab")), "--home", str(workspace)]
    command += ["--user", api.READER, "models", "serve", ref, "--port", str(port)]
    command += ["--workers", str(workers), "--tokens-file", str(tokens)]
    team, name = ref.split("@")[0].split("/")
    env = dict(os.environ)
    if code is not None:  # found first on the path, before this checkout's package
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))
    side = "Lepton" if code is None else BASELINE
    log_name = f"lepton-{workers}{'' if code is None else '-baseline'}.log"
    with _started(command, root / log_name, env) as (process, log):
        yield Target(
            side,
            workers,
            process,
            port,
            f"{api.API}/models/{team}/{name}/versions/1/predict",
            {"Authorization": f"token {token}"},
            lambda rows: json.dumps({"rows": rows}).encode(),
            lambda answer: list(answer["predictions"]),
            log,
        )


@contextmanager
def mlflow_server(venv: Path, model_dir: Path, workers: int, root: Path) -> Iterator[Target]:
    """``mlflow models serve -m DIR --workers N --env-manager local`` on loopback."""
    port = api.free_port()
    command = [str(venv / "bin" / "mlflow"), "models", "serve", "-m", str(model_dir)]
    command += ["-h", "127.0.0.1", "-p", str(port), "--workers", str(workers)]
    command += ["--env-manager", "local"]
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '')}"}
    with _started(command, root / f"mlflow-{workers}.log", env) as (process, log):
        yield Target(
            "MLflow",
            workers,
            process,
            port,
            "/invocations",
            {},
            lambda rows: json.dumps({"dataframe_records": rows}).encode(),
            lambda answer: list(answer["predictions"]),
            log,
        )


@contextmanager
def _started(
    command: list[str], log: Path, env: Any
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        yield process, log
    finally:
        api._stop(process)


def save_for_mlflow(venv: Path, model: Any, folder: Path) -> Path:
    """The fitted pipeline as an MLflow model, saved by MLflow's own Python."""
    pickled = folder / "model.pkl"
    pickled.write_bytes(pickle.dumps(model, protocol=5))
    target = folder / "mlflow-model"
    # cloudpickle, MLflow's long-standing format: its newer skops default asks for a list of
    # trusted types.  The format changes how the server starts, not how it predicts.
    script = (
        "import pickle, sys, mlflow.sklearn; "
        "mlflow.sklearn.save_model(pickle.load(open(sys.argv[1], 'rb')), sys.argv[2], "
        "serialization_format='cloudpickle')"
    )
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", script, str(pickled), str(target)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode:
        raise BenchError(f"saving the model for MLflow failed:\n{done.stderr[-2000:]}")
    return target


def wait_answering(target: Target, rows: list[dict[str, Any]], timeout: float = 300) -> Any:
    """Poll with one predict request until the server answers 200; its decoded answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if target.process.poll() is not None:
            raise BenchError(f"{target.side} exited:\n{_tail(target.log)}")
        request = urllib.request.Request(
            f"http://127.0.0.1:{target.port}{target.path}",
            data=target.body(rows),
            headers={**target.headers, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            raise BenchError(f"{target.side} answered {exc.code}: {exc.read()[:300]!r}") from None
        except OSError:  # not listening yet
            time.sleep(0.3)
    raise BenchError(f"{target.side} did not answer within {timeout:.0f} s:\n{_tail(target.log)}")


def _tail(log: Path) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-30:]) if log.exists() else ""


def check_same(target: Target, rows: list[dict[str, Any]], expected: np.ndarray[Any, Any]) -> None:
    """The server predicts exactly what the model does in-process."""
    answer = wait_answering(target, rows)
    if not np.array_equal(np.asarray(target.predictions(answer)), expected):
        raise BenchError(f"{target.side} ({target.workers} workers) predicts differently")


# -- the load ---------------------------------------------------------------------------------


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, message: bytes
) -> tuple[int, bytes]:
    """One request on a kept-alive connection: (status, body)."""
    writer.write(message)
    status = int((await reader.readline()).split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        elif name.strip().lower() == b"transfer-encoding":
            raise BenchError("a chunked answer: this client reads Content-Length only")
    return status, await reader.readexactly(length)


async def drive(
    target: Target, body: bytes, clients: int, limit: int, seconds: float
) -> api.Sample:
    """``clients`` closed-loop clients, one kept-alive connection each, until ``limit``
    requests or ``seconds``."""
    head = [f"POST {target.path} HTTP/1.1", f"Host: 127.0.0.1:{target.port}"]
    head += [f"{k}: {v}" for k, v in target.headers.items()]
    head += ["Content-Type: application/json", f"Content-Length: {len(body)}", "", ""]
    message = "\r\n".join(head).encode() + body
    latencies: list[float] = []
    sent = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal sent
        reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
        try:
            while sent < limit and time.perf_counter() < deadline:
                sent += 1
                t0 = time.perf_counter()
                status, answer = await _exchange(reader, writer, message)
                latencies.append(time.perf_counter() - t0)
                if status != 200:
                    raise BenchError(f"{target.side} answered {status}: {answer[:300]!r}")
        finally:
            writer.close()

    server_cpu, client_cpu = target.cpu_seconds(), time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    used = target.cpu_seconds() - server_cpu
    return api.Sample(latencies, elapsed, time.process_time() - client_cpu, used)


@dataclass
class Cell:
    """One server (or in-process) at one row count and concurrency, over every round."""

    side: str
    workers: int
    rows: int
    clients: int
    samples: list[api.Sample] = field(default_factory=list)


def measure(
    targets: list[Target],
    features: pd.DataFrame,
    counts: tuple[int, ...],
    profile: api.Profile,
    in_process: Callable[[pd.DataFrame, int, float], api.Sample],
) -> list[Cell]:
    """Warm every server up, then each cell once per round, every other round backwards
    (background load falls on all alike); the in-process cells in every round too."""
    bodies = {
        (t.side, n): t.body(features.head(n).to_dict("records")) for t in targets for n in counts
    }
    cells = [
        Cell(t.side, t.workers, n, clients)
        for t in targets
        for n in counts
        for clients in api.CONCURRENCY
    ]
    cells += [Cell("in-process", 0, n, 1) for n in counts]
    by_cell = {
        id(c): next((t for t in targets if (t.side, t.workers) == (c.side, c.workers)), None)
        for c in cells
    }
    for target in targets:
        for n in counts:
            asyncio.run(
                drive(target, bodies[(target.side, n)], 16, profile.warmup, profile.seconds)
            )
    for index in range(profile.rounds):
        order = cells if index % 2 == 0 else list(reversed(cells))
        for cell in order:
            target = by_cell[id(cell)]
            if target is None:
                cell.samples.append(
                    in_process(features.head(cell.rows), profile.requests, profile.seconds)
                )
                continue
            body = bodies[(target.side, cell.rows)]
            sample = asyncio.run(
                drive(target, body, cell.clients, profile.requests, profile.seconds)
            )
            cell.samples.append(sample)
    return cells


_LABELS = {"Lepton": "lepton-lab models serve", BASELINE: "models serve (--baseline)"}

HEADERS = [
    "server",
    "workers",
    "rows/request",
    "clients",
    "requests",
    "req/s",
    "p50 ms",
    "p99 ms",
    "req/s spread",
    "server CPU ms/req",
    "vs in-process",
    "Lepton vs MLflow",
]


def report(cells: list[Cell], profile: api.Profile, mlflow_note: str, baseline: str = "") -> None:
    """The table: each cell's figures, its req/s over in-process calls/s at the same rows,
    and Lepton's req/s over MLflow's at the same workers, rows and clients."""
    rate = {
        (c.side, c.workers, c.rows, c.clients): statistics.median(s.rate for s in c.samples)
        for c in cells
    }
    rows = []
    for c in cells:
        latencies = [x for s in c.samples for x in s.latencies]
        cpu = [s.server_cpu for s in c.samples if s.server_cpu is not None]
        mine = rate[(c.side, c.workers, c.rows, c.clients)]
        mlflow = rate.get(("MLflow", c.workers, c.rows, c.clients))
        rows.append(
            [
                _LABELS.get(c.side, c.side),
                str(c.workers) if c.workers else "-",
                str(c.rows),
                str(c.clients),
                f"{len(latencies):,}",
                f"{mine:,.0f}",
                f"{percentile(latencies, 50) * 1e3:.2f}",
                f"{percentile(latencies, 99) * 1e3:.2f}",
                spread([s.rate for s in c.samples]),
                f"{sum(cpu) / len(latencies) * 1e3:.2f}" if cpu and c.workers else "-",
                fmt_ratio(mine, rate[("in-process", 0, c.rows, 1)]),
                fmt_ratio(mine, mlflow) if c.side in _LABELS else "-",
            ]
        )
    print_table(
        "Serving one model: lepton-lab models serve vs MLflow's scoring server, same workers, "
        f"kept-alive connections, loopback (median of {profile.rounds} rounds)",
        HEADERS,
        rows,
    )
    print(
        f"\n  Each cell: up to {profile.requests:,} requests (in-process: calls) or "
        f"{profile.seconds:g} s per round; p50/p99 over all rounds.  Lepton answers "
        "predictions and class probabilities, MLflow predictions alone; in-process is "
        "ll.models.load(ref).predict(frame), one caller."
    )
    print(f"  MLflow: {mlflow_note}")
    if baseline:
        print(f"  models serve (--baseline): the lepton_lab of {baseline}, in the same rounds")
