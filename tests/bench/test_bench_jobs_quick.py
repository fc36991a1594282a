"""The jobs benchmark keeps working: ``bench/jobs.py --quick`` runs end to end, its shared
mode (a real ``lepton-lab serve`` and an HTTP runner) included."""

from __future__ import annotations

import re

import pytest

from tests.bench.support import run_bench


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_quick_run_prints_the_burst_and_shared_mode_tables() -> None:
    done = run_bench("jobs.py", "--quick", "--concurrency", "2", "--pool", "2", timeout=380)

    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.startswith("bench/jobs.py (quick)")
    rows = {
        cells[0]: cells[1:]
        for line in out.splitlines()
        if len(cells := [c.strip() for c in line.split(" | ")]) == 8
    }
    papermill = rows["papermill command, one after another"]
    forked = rows["Lepton Lab runner (2 at once, pool of 2; forked kernels)"]
    execd = rows["Lepton Lab runner (2 at once, pool of 2; kernels by exec, --no-fork-kernels)"]
    for figures in (papermill, forked, execd):
        assert figures[:2] == ["4", "0"], out  # four jobs, none failed
        assert all(re.fullmatch(r"\d+\.\d+", f) for f in figures[2:6]), out
    assert papermill[6] == "1.00x"
    assert re.fullmatch(r"\d+\.\d\dx", forked[6]) and re.fullmatch(r"\d+\.\d\dx", execd[6]), out

    # Shared mode beside personal mode, on the dataset template: every job succeeded.
    personal = rows["personal mode (database runner)"]
    shared = rows["shared mode (HTTP runner, job token, one pinned dataset staged)"]
    for figures in (personal, shared):
        assert figures[:2] == ["4", "0"], out
        assert all(re.fullmatch(r"\d+\.\d+", f) for f in figures[2:]), out
    assert re.search(r"per job, shared minus personal: run median [-+][\d,]+ ms", out), out

    # The parts, measured directly: figures in milliseconds, never judged.
    parts = {
        cells[0]: cells[1:]
        for line in out.splitlines()
        if len(cells := [c.strip() for c in line.split(" | ")]) == 5
    }
    for name in ("job token: issue + resolve + revoke", "staging one pinned dataset (5,000 rows)"):
        assert parts[name][0] == "5", out
        assert all(re.fullmatch(r"\d+\.\d", f) for f in parts[name][1:3]), out
    assert re.search(r"job token \+ staging: \d+\.\d ms per job", out), out


def test_bad_arguments_are_refused() -> None:
    done = run_bench("jobs.py", "--jobs", "0", timeout=60)

    assert done.returncode == 2
    assert "--jobs and --concurrency must be at least 1" in done.stderr
