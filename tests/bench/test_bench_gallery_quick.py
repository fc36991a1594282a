"""The gallery benchmark keeps working: ``bench/gallery.py --quick`` runs end to end."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.bench.support import run_bench

MODELS = ["logistic_regression", "hist_gradient_boosting", "random_forest", "mlp"]
SIZE = r"\d+(\.\d)? (B|KiB|MiB|GiB)"
MS = r"[\d,]+\.\d"
RATIO = r"[\d,]+\.\d\dx"
# pickle size | Lepton size | ten timings | four ratios, as the table prints them.
FIGURES = [SIZE, SIZE, *[MS] * 10, *[RATIO] * 4]
SKOPS_CELLS = (7, 8, 12)
"""Plain skops's two loads and the ratio against it: "-" for the torch network."""

PREDICT = "POST /lepton/api/v1/models/<team>/<name>/versions/<v>/predict"
STATUS = "GET /api/status (reference)"
SERVED = [STATUS, f"{PREDICT}, 1 row", f"{PREDICT}, 100 rows"]
IN_PROCESS = [
    "ll.models.load(ref).predict(frame), 1 row (in-process)",
    "ll.models.load(ref).predict(frame), 100 rows (in-process)",
]
COUNT = r"[\d,]+"
MS2 = r"\d+\.\d\d"
# requests | req/s | p50 ms | p99 ms | vs /api/status | spread | server CPU | client CPU |
# vs in-process, as the predict table prints them ("-": not measured for that row).
SERVING = [COUNT, COUNT, MS2, MS2, RATIO, r"±\d+%", MS2, MS2, RATIO]


def serving_rows(out: str) -> dict[tuple[str, int], list[str]]:
    """``(endpoint, clients) -> the rest of the cells`` for each row of the predict table."""
    rows = {}
    for line in out.splitlines():
        cells = [cell.strip() for cell in line.split(" | ")]
        if cells[0] in SERVED + IN_PROCESS and len(cells) > 1 and cells[1].isdigit():
            rows[(cells[0], int(cells[1]))] = cells[2:]
    return rows


@pytest.mark.slow
@pytest.mark.timeout(620)
def test_quick_run_prints_the_table_with_figures(tmp_path: Path) -> None:
    # The script's temporary workspace goes under tmp_path, so leftovers are visible.
    done = run_bench("gallery.py", "--quick", timeout=600, env={"TMPDIR": str(tmp_path)})

    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.startswith("bench/gallery.py (quick)")
    assert "Save and load: pickle and joblib vs the gallery's safe formats" in out
    rows = {
        cells[0]: cells[1:]
        for cells in ([c.strip() for c in line.split(" | ")] for line in out.splitlines())
        if cells[0] in MODELS
    }
    assert list(rows) == MODELS, out
    for model, figures in rows.items():
        assert len(figures) == len(FIGURES), f"{model}: {figures}"
        for index, (pattern, cell) in enumerate(zip(FIGURES, figures, strict=True)):
            if model == "mlp" and index in SKOPS_CELLS:
                assert cell == "-", f"{model}: plain skops stored a torch network?\n{out}"
            else:
                assert re.fullmatch(pattern, cell), f"{model}: {cell!r} in\n{out}"
    assert re.search(r"Random forest \(.*\): cold load .* repeated load .* within 1\.5x", out)

    assert "Predict endpoint throughput and latency" in out
    served = serving_rows(out)
    expected = {(endpoint, clients) for endpoint in SERVED for clients in (1, 16)}
    assert set(served) == expected | {(label, 1) for label in IN_PROCESS}, out
    for (endpoint, clients), figures in served.items():
        assert len(figures) == len(SERVING), f"{endpoint}: {figures}"
        for index, (pattern, cell) in enumerate(zip(SERVING, figures, strict=True)):
            not_measured = (endpoint == STATUS and index == 8) or (
                endpoint in IN_PROCESS and index in (6, 8)
            )
            if not_measured:
                assert cell == "-", f"{endpoint} x {clients}: {cell!r} in\n{out}"
            else:
                assert re.fullmatch(pattern, cell), f"{endpoint} x {clients}: {cell!r} in\n{out}"
        assert float(figures[1].replace(",", "")) > 0, (endpoint, clients)
    assert served[(STATUS, 1)][4] == served[(STATUS, 16)][4] == "1.00x"

    assert "Serving one model: lepton-lab models serve vs MLflow's scoring server" in out
    assert "MLflow: not run (--quick)" in out
    own = own_serving_rows(out)
    expected_own = {
        ("lepton-lab models serve", rows, clients) for rows in (1, 100) for clients in (1, 16)
    }
    assert set(own) == expected_own | {("in-process", 1, 1), ("in-process", 100, 1)}, out
    for key, figures in own.items():
        assert len(figures) == len(OWN), f"{key}: {figures}"
        for index, (pattern, cell) in enumerate(zip(OWN, figures, strict=True)):
            in_process = key[0] == "in-process"
            if (index == 5 and in_process) or index == 7:  # no server; no MLflow in --quick
                assert cell == "-", f"{key}: {cell!r} in\n{out}"
            else:
                assert re.fullmatch(pattern, cell), f"{key}: {cell!r} in\n{out}"
    # The server was stopped and its workspace removed.
    assert not list(tmp_path.glob("lepton-bench-gallery-*"))


OWN = [COUNT, COUNT, MS2, MS2, r"±\d+%", MS2, RATIO, RATIO]
"""requests | req/s | p50 | p99 | spread | server CPU | vs in-process | vs MLflow, as the
serving table prints them after its server, workers, rows and clients."""


def own_serving_rows(out: str) -> dict[tuple[str, int, int], list[str]]:
    """``(server, rows, clients) -> the figures`` for each row of the serving table."""
    rows = {}
    for line in out.splitlines():
        cells = [cell.strip() for cell in line.split(" | ")]
        if cells[0] in ("lepton-lab models serve", "in-process") and len(cells) == 12:
            assert cells[1] == ("1" if cells[0] != "in-process" else "-"), line
            rows[(cells[0], int(cells[2]), int(cells[3]))] = cells[4:]
    return rows


def test_bad_rounds_is_refused() -> None:
    done = run_bench("gallery.py", "--rounds", "0", timeout=60)

    assert done.returncode == 2
    assert "--rounds must be at least 1" in done.stderr
