"""Many processes writing one catalog at once: kernels, the server and runners do."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from lepton_lab.config import Settings
from lepton_lab.workspace import Workspace

WORKERS = 8

# Each worker opens the (possibly not yet created) catalog and registers at the same
# instant, so that migrations, team creation and version numbering all race.
_WORKER = """
import pathlib, sys, time
import pandas as pd
from lepton_lab.config import Settings
from lepton_lab.workspace import Workspace

url, home, gate, worker, same = sys.argv[1:]
frame = pd.DataFrame({"worker": [0 if same == "1" else int(worker)] * 1000, "x": range(1000)})
pathlib.Path(gate, f"ready-{worker}").touch()
while not pathlib.Path(gate, "go").exists():
    time.sleep(0.002)
ws = Workspace(Settings(home=home, database_url=url, user="alice"))
version = ws.datasets.register(ws.actor(), frame, "finance/shared")
print(version.version, version.created)
"""


def _race(database_url: str, home: Path, *, same: bool) -> list[tuple[int, bool]]:
    gate = home.parent / "gate"
    gate.mkdir()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WORKER,
                database_url,
                str(home),
                str(gate),
                str(i),
                "1" if same else "0",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(1, WORKERS + 1)
    ]
    # Open the gate once every interpreter has imported pandas and pyarrow.
    deadline = time.time() + 120
    while len(list(gate.glob("ready-*"))) < WORKERS and time.time() < deadline:
        time.sleep(0.01)
    (gate / "go").touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "locked" not in err
        number, created = out.split()
        results.append((int(number), created == "True"))
    return results


@pytest.mark.slow
def test_concurrent_registrations_get_consecutive_versions(
    database_url: str, tmp_path: Path
) -> None:
    results = _race(database_url, tmp_path / "ws", same=False)
    assert sorted(n for n, _ in results) == list(range(1, WORKERS + 1))
    assert all(created for _, created in results)
    ws = Workspace(Settings(home=tmp_path / "ws", database_url=database_url, user="alice"))
    actor = ws.actor()
    workers = {
        int(ws.datasets.load(actor, f"finance/shared@{n}")["worker"][0])
        for n in range(1, WORKERS + 1)
    }
    assert workers == set(range(1, WORKERS + 1))  # nothing lost, nothing overwritten
    ws.close()


@pytest.mark.slow
def test_concurrent_identical_registrations_store_one_version(
    database_url: str, tmp_path: Path
) -> None:
    results = _race(database_url, tmp_path / "ws", same=True)
    assert {n for n, _ in results} == {1}
    assert sum(created for _, created in results) == 1
