"""The gallery benchmark keeps working: ``bench/gallery.py --quick`` runs end to end."""

from __future__ import annotations

import re

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


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_quick_run_prints_the_table_with_figures() -> None:
    done = run_bench("gallery.py", "--quick", timeout=150)

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


def test_bad_rounds_is_refused() -> None:
    done = run_bench("gallery.py", "--rounds", "0", timeout=60)

    assert done.returncode == 2
    assert "--rounds must be at least 1" in done.stderr
