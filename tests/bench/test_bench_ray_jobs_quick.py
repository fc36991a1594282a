"""The ray executor benchmark keeps working: ``bench/ray_jobs.py --quick`` runs end to end."""

from __future__ import annotations

import importlib.util
import re

import pytest

from tests.bench.support import run_bench


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # beside the other Ray tests, not on top of them
@pytest.mark.timeout(400)
def test_quick_run_prints_both_executors() -> None:
    # Looked up, not imported: Ray fixes its cluster mode at import (see tests/conftest.py).
    if importlib.util.find_spec("ray") is None:
        pytest.skip("the ray executor benchmark needs 'lepton-lab[ray]'")
    done = run_bench("ray_jobs.py", "--quick", "--concurrency", "2", timeout=380)

    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.startswith("bench/ray_jobs.py (quick)")
    rows = {
        cells[0]: cells[1:]
        for line in out.splitlines()
        if len(cells := [c.strip() for c in line.split(" | ")]) == 10
    }
    local = rows["local executor (2 at once, pool of 2)"]
    ray = rows["ray executor (2 at once, 1 node)"]
    for figures in (local, ray):
        assert figures[:2] == ["4", "0"], out  # four jobs, none failed
        assert all(re.fullmatch(r"\d+\.\d+", f) for f in figures[2:7]), out
    assert local[7:] == ["+0", "1.00x"], out
    assert re.fullmatch(r"[+-]\d+", ray[7]) and re.fullmatch(r"\d+\.\d\dx", ray[8]), out


def test_bad_arguments_are_refused() -> None:
    done = run_bench("ray_jobs.py", "--jobs", "0", timeout=60)

    assert done.returncode == 2
    assert "--jobs and --concurrency must be at least 1" in done.stderr
