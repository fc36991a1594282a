"""GPU slots with the GPU count simulated: devices are handed out, fixed at kernel launch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lepton_lab.client import LocalClient
from lepton_lab.workspace import Workspace
from tests.runner_support import RunnerThread
from tests.runs.helpers import make_notebook


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_jobs_get_free_devices_and_never_share_them(
    client: LocalClient, local_workspace: Workspace, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("LEPTON_LAB_GPUS", "2")
    notebook = tmp_path / "gpu.ipynb"
    notebook.write_bytes(
        make_notebook(
            "import os, time\nimport lepton_lab as ll\n"
            "ll.record('visible', os.environ['CUDA_VISIBLE_DEVICES'])\ntime.sleep(1.5)"
        )
    )
    singles = [client.jobs.submit(notebook, gpus=1) for _ in range(3)]
    pair = client.jobs.submit(notebook, gpus=2)
    cpu = client.jobs.submit(notebook)
    never = client.jobs.submit(notebook, gpus=3)
    runner = RunnerThread(local_workspace, concurrency=3).start()
    try:
        infos = [j.wait(timeout=240).info for j in [*singles, pair, cpu, never]]
    finally:
        runner.stop()
    *ran, refused = infos
    assert [i.status for i in ran] == ["succeeded"] * 5
    for info in ran:
        visible = client.jobs.records(info.id)[0].value
        assert visible == ",".join(str(d) for d in info.devices)  # what the kernel saw
        assert len(info.devices) == info.gpus
        assert [g["name"] for g in info.manifest["gpus"]] == ["simulated GPU"] * info.gpus
    assert ran[4].devices == [] and client.jobs.records(ran[4].id)[0].value == ""
    # Jobs that overlapped in time never held the same device.
    for a in ran:
        for b in ran:
            overlap = a.id < b.id and a.started_at < b.ended_at and b.started_at < a.ended_at  # type: ignore[operator]
            if overlap:
                assert not set(a.devices) & set(b.devices), (a.devices, b.devices)
    assert refused.status == "failed" and refused.reason is not None
    assert refused.reason["kind"] == "unschedulable"
    assert "asks for 3 GPU(s) and the largest runner has 2" in refused.reason["message"]
