"""The template-job benchmark keeps working: ``bench/template_jobs.py --quick`` runs end to
end (the ``papermill`` command, a runner without and with pre-imported kernels)."""

from __future__ import annotations

import pytest

from tests.bench.support import run_bench


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_quick_run_prints_both_tables_and_no_job_fails() -> None:
    done = run_bench("template_jobs.py", "--quick", timeout=540)

    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.startswith("bench/template_jobs.py (quick)")
    assert "Submit-to-done, one job at a time" in out
    assert "Where a runner job's time goes" in out
    rows = [line for line in out.splitlines() if "preload" in line and "|" in line]
    assert rows, out
    # Every side ran its jobs and none failed (the "failed" column is 0).
    for line in rows:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if cells[1].isdigit():
            assert cells[2] == "0", line
