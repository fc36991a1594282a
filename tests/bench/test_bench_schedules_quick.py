"""The schedules benchmark keeps working: ``bench/schedules.py --quick`` runs end to end."""

from __future__ import annotations

import pytest

from tests.bench.support import run_bench


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_run_prints_both_tables() -> None:
    done = run_bench("schedules.py", "--quick", timeout=280)

    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.startswith("bench/schedules.py (quick)")
    rows = [[c.strip() for c in line.split(" | ")] for line in out.splitlines() if " | " in line]
    fired = next(r for r in rows if r[0] == "2")
    assert fired[1] == "2" and float(fired[2]) < 5 and float(fired[3]) < 5, out
    loop = {r[0]: r[1:] for r in rows if r[0][0].isdigit() and r[0].endswith("schedules")}
    assert set(loop) == {"0 schedules", "100 schedules", "1,000 schedules"}, out
    assert all(cells[0].endswith("%") for cells in loop.values()), out
