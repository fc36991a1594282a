"""The dataset benchmark keeps working: ``bench/datasets.py --quick`` runs end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.support import run_bench


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_run_prints_every_table_and_cleans_up(tmp_path: Path) -> None:
    data = tmp_path / "bench-data"
    done = run_bench("datasets.py", "--quick", "--data-dir", str(data), timeout=240)

    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.startswith("bench/datasets.py (quick)")
    assert "1. Preview and profile lookup vs dataset size" in out
    assert "pandas full / Lepton profile" in out
    assert "2. Registration of a large CSV" in out
    assert "Lepton register (streaming)" in out
    assert "3. Catalog search on SQLite" in out
    assert "MISMATCH" not in out
    # Without --keep nothing generated is left behind.
    assert not any(path.is_file() for path in data.rglob("*"))


def test_unknown_section_is_refused(tmp_path: Path) -> None:
    done = run_bench("datasets.py", "--only", "nope", "--data-dir", str(tmp_path), timeout=60)

    assert done.returncode == 2
    assert "unknown section(s) nope" in done.stderr
