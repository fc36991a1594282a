"""The dataset benchmark keeps working: ``bench/datasets.py --quick`` runs end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "datasets.py"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_run_prints_every_table_and_cleans_up(tmp_path: Path) -> None:
    data = tmp_path / "bench-data"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--data-dir", str(data)],
        cwd=SCRIPT.parents[1],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

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
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--only", "nope", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2
    assert "unknown section(s) nope" in done.stderr
