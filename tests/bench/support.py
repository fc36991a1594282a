"""Running a benchmark script the way a person does, for the --quick smoke tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"


def run_bench(
    script: str, *args: str, timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``bench/<script>`` with this interpreter from the repository root, unbuffered."""
    return subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        cwd=BENCH.parent,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
