"""The REST API benchmark keeps working: ``bench/api.py --quick`` runs end to end."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.bench.support import run_bench

ENDPOINTS = [
    "GET /api/status (reference)",
    "GET /lepton/api/v1/datasets?limit=20",
    "GET /lepton/api/v1/datasets?q=revenue&limit=20",
    "GET /lepton/api/v1/datasets/<team>/<name>",
]
# requests | req/s | p50 ms | p99 ms | req/s vs /api/status, as the table prints them.
FIGURES = [r"[\d,]+", r"[\d,]+", r"\d+\.\d\d", r"\d+\.\d\d", r"\d+\.\d\dx"]


def table_rows(out: str) -> dict[tuple[str, int], list[str]]:
    """``(endpoint, clients) -> the rest of the cells`` for each row of the printed table."""
    rows = {}
    for line in out.splitlines():
        cells = [cell.strip() for cell in line.split(" | ")]
        if cells[0] in ENDPOINTS and len(cells) > 1 and cells[1].isdigit():
            rows[(cells[0], int(cells[1]))] = cells[2:]
    return rows


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_quick_run_prints_every_row_and_cleans_up(tmp_path: Path) -> None:
    # The script's temporary workspace goes under tmp_path, so leftovers are visible.
    done = run_bench("api.py", "--quick", timeout=150, env={"TMPDIR": str(tmp_path)})

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("bench/api.py (quick)")
    rows = table_rows(done.stdout)
    expected = {(endpoint, clients) for endpoint in ENDPOINTS for clients in (1, 16)}
    assert set(rows) == expected, done.stdout
    for key, cells in rows.items():
        for pattern, cell in zip(FIGURES, cells, strict=False):
            assert re.fullmatch(pattern, cell), f"{key}: {cell!r} in\n{done.stdout}"
        assert float(cells[1].replace(",", "")) > 0, key
    assert rows[(ENDPOINTS[0], 1)][4] == "1.00x"
    # The server was stopped and its workspace removed.
    assert not list(tmp_path.glob("lepton-bench-api-*"))


def test_bad_rounds_is_refused() -> None:
    done = run_bench("api.py", "--rounds", "0", timeout=60)

    assert done.returncode == 2
    assert "--rounds must be at least 1" in done.stderr
