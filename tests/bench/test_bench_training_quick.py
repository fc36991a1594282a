"""The training benchmark keeps working: ``bench/training.py --quick`` runs end to end."""

from __future__ import annotations

import re

import pytest

from tests.bench.support import run_bench

PAIRS = [
    ("hist_gradient_boosting", "wine"),
    ("random_forest", "wine"),
    ("logistic_regression", "wine"),
    ("mlp", "breast_cancer"),
    ("cnn", "digits"),
]
VIEWS = ["no callbacks", "Throttle(no-op)", "status line, every event", "Throttle(status line)"]
SECONDS = r"\d+\.\d{3}"
PERCENT = r"[+-]\d+\.\d%"
# plain s | Lepton fit s | Lepton whole s | overhead % (fit) | overhead % (whole) |
# fit - plain ms, as the first table prints them.
PAIR_FIGURES = [SECONDS, SECONDS, SECONDS, PERCENT, PERCENT, r"[+-]\d+\.\d"]
# seconds | overhead % | events delivered | us/event (replay), as the second table prints them.
VIEW_FIGURES = [SECONDS, PERCENT, r"[\d,]+|-", r"\d+\.\d|0"]


def cells_of(out: str) -> list[list[str]]:
    """Every printed table row, as its stripped cells."""
    return [[cell.strip() for cell in line.split(" | ")] for line in out.splitlines()]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_quick_run_prints_both_tables_with_figures() -> None:
    done = run_bench("training.py", "--quick", timeout=200)

    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.startswith("bench/training.py (quick)")
    assert "1. Training overhead" in out and "2. Progress view cost" in out
    rows = cells_of(out)

    pairs = {(r[0], r[1]): r[2:] for r in rows if len(r) > 2 and (r[0], r[1]) in PAIRS}
    assert set(pairs) == set(PAIRS), out
    for key, figures in pairs.items():
        for pattern, cell in zip(PAIR_FIGURES, figures, strict=False):
            assert re.fullmatch(pattern, cell), f"{key}: {cell!r} in\n{out}"
        assert float(figures[0]) > 0, key
        assert figures[-1] == "yes", f"{key}: the two sides trained different models\n{out}"

    views = {r[0]: r[1:] for r in rows if len(r) > 1 and r[0] in VIEWS}
    assert set(views) == set(VIEWS), out
    for view, figures in views.items():
        for pattern, cell in zip(VIEW_FIGURES, figures, strict=False):
            assert re.fullmatch(pattern, cell), f"{view}: {cell!r} in\n{out}"
    assert views["no callbacks"][1] == "+0.0%"
    assert float(views["status line, every event"][3]) > 0


def test_bad_rounds_is_refused() -> None:
    done = run_bench("training.py", "--rounds", "0", timeout=60)

    assert done.returncode == 2
    assert "--rounds must be at least 1" in done.stderr
