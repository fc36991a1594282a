"""bench/gallery.py's last table: does serving grow with the workers given to it?

The serving table's clients are Python: at 16 clients they take most of a core of their
own, and on a small machine a second worker has little left to run on.  Here the load
comes from ``wrk`` (C, one thread, 16 kept-alive connections; Debian's ``wrk`` package),
which needs a small part of a core, so that a server's req/s with 2 workers over its req/s
with 1 shows what a second core gives it.  Each server (``lepton-lab models serve`` and
MLflow's scoring server, the same model and rows as the serving table) is measured once
per round, every other round backwards.  Without ``wrk`` on the PATH the table says so.
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
from pathlib import Path
from typing import Any

from common import fmt_ratio, print_table, spread
from serving import Target

CONNECTIONS = 16


def wrk_rate(target: Target, body: bytes, seconds: float, script: Path) -> tuple[float, float]:
    """``wrk`` against ``target`` for ``seconds``: (requests/s, server CPU ms per request)."""
    lines = ['wrk.method = "POST"', f"wrk.body = {_lua_text(body.decode())}"]
    headers = {"Content-Type": "application/json", **target.headers}
    lines += [f"wrk.headers[{_lua_text(k)}] = {_lua_text(v)}" for k, v in headers.items()]
    script.write_text("\n".join(lines) + "\n")
    url = f"http://127.0.0.1:{target.port}{target.path}"
    duration = max(1, round(seconds))  # wrk takes whole seconds
    before = target.cpu_seconds()
    done = subprocess.run(
        ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{duration}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=True,
    )
    used = target.cpu_seconds() - before
    found = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
    if found is None or "Non-2xx" in done.stdout or "Socket errors" in done.stdout:
        raise RuntimeError(f"wrk against {target.side} did not get clean answers:\n{done.stdout}")
    rate = float(found.group(1))
    return rate, used / (rate * duration) * 1e3


def _lua_text(text: str) -> str:
    """``text`` as a Lua string literal (its backslashes and quotes escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def measure_scaling(
    targets: list[Target], rows: list[dict[str, Any]], rounds: int, seconds: float, root: Path
) -> dict[tuple[str, int], list[tuple[float, float]]]:
    """Each target once per round, every other round backwards, sent ``rows`` in its own
    body: (req/s, CPU ms) each."""
    found: dict[tuple[str, int], list[tuple[float, float]]] = {}
    script = root / "wrk-post.lua"
    for target in targets:  # warm-up
        wrk_rate(target, target.body(rows), 1, script)
    for index in range(rounds):
        for target in targets if index % 2 == 0 else list(reversed(targets)):
            sample = wrk_rate(target, target.body(rows), seconds, script)
            found.setdefault((target.side, target.workers), []).append(sample)
    return found


def report_scaling(found: dict[tuple[str, int], list[tuple[float, float]]], note: str) -> None:
    """The table: req/s, its spread, CPU per request, over 1 worker, and Lepton over MLflow."""
    rate = {key: statistics.median(r for r, _ in samples) for key, samples in found.items()}
    rows = [
        [
            {"Lepton": "lepton-lab models serve"}.get(side, side),
            str(workers),
            f"{rate[(side, workers)]:,.0f}",
            spread([r for r, _ in samples]),
            f"{statistics.median(c for _, c in samples):.2f}",
            fmt_ratio(rate[(side, workers)], rate.get((side, 1))),
            fmt_ratio(rate[(side, workers)], rate.get(("MLflow", workers))),
        ]
        for (side, workers), samples in found.items()
    ]
    print_table(
        f"Serving with more workers: wrk, {CONNECTIONS} kept-alive connections, 1 row per "
        "request (median of rounds)",
        ["server", "workers", "req/s", "spread", "server CPU ms/req", "vs 1 worker", "vs MLflow"],
        rows,
    )
    print(f"\n  {note}")


def have_wrk() -> bool:
    """Whether ``wrk`` is on the PATH."""
    return shutil.which("wrk") is not None
