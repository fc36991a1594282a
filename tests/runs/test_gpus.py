"""GPU detection (simulated, a fake NVML, a fake nvidia-smi) and device slots."""

from __future__ import annotations

import json
import os
import sys
import threading
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from lepton_lab.cli import cli
from lepton_lab.errors import InvalidInput
from lepton_lab.runs import gpus
from lepton_lab.runs.gpus import GPU, DeviceSlots, detect_gpus

SMI_LINES = """\
0, NVIDIA H100 80GB HBM3, 550.54.15, 81559, GPU-aaaa-0000
1, NVIDIA H100 80GB HBM3, 550.54.15, 81559, GPU-bbbb-1111
2, Tesla T4, 550.54.15, [N/A], GPU-cccc-2222
"""

H100 = "NVIDIA H100 80GB HBM3"


@pytest.fixture(autouse=True)
def _no_nvml(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if nvidia-ml-py were not installed (a None in sys.modules fails the import)."""
    monkeypatch.setitem(sys.modules, "pynvml", None)


def fake_smi(tmp_path: Path, body: str) -> str:
    """A folder, to use as PATH, holding an ``nvidia-smi`` shell script with ``body``."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    script = folder / "nvidia-smi"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(folder)


@pytest.fixture
def smi_path(tmp_path: Path) -> str:
    """A PATH whose nvidia-smi lists three GPUs, and fails unless asked the expected query."""
    query = "--query-gpu=index,name,driver_version,memory.total,uuid"
    return fake_smi(
        tmp_path,
        f'[ "$1" = "{query}" ] && [ "$2" = "--format=csv,noheader,nounits" ] || exit 3\n'
        f"cat <<'EOF'\n{SMI_LINES}EOF",
    )


# -- LEPTON_LAB_GPUS ---------------------------------------------------------------------------


def test_simulated_count() -> None:
    found = detect_gpus({"LEPTON_LAB_GPUS": "2"})
    assert found == [
        GPU(0, "simulated GPU", "simulated", None),
        GPU(1, "simulated GPU", "simulated", None),
    ]
    assert detect_gpus({"LEPTON_LAB_GPUS": "0"}) == []


def test_simulated_count_wins_over_the_driver_and_cuda_visible_devices(smi_path: str) -> None:
    env = {"LEPTON_LAB_GPUS": "3", "PATH": smi_path, "CUDA_VISIBLE_DEVICES": "1"}
    assert [g.index for g in detect_gpus(env)] == [0, 1, 2]


def test_simulated_count_from_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEPTON_LAB_GPUS", " 4 ")
    assert len(detect_gpus()) == 4


@pytest.mark.parametrize("value", ["two", "-1", "1.5"])
def test_invalid_simulated_count(value: str) -> None:
    with pytest.raises(InvalidInput, match=rf"LEPTON_LAB_GPUS='{value}' is not a number of GPUs"):
        detect_gpus({"LEPTON_LAB_GPUS": value})


# -- nvidia-smi --------------------------------------------------------------------------------


def test_nvidia_smi_on_path(smi_path: str) -> None:
    assert detect_gpus({"PATH": smi_path}) == [
        GPU(0, H100, "550.54.15", 81559, "GPU-aaaa-0000"),
        GPU(1, H100, "550.54.15", 81559, "GPU-bbbb-1111"),
        GPU(2, "Tesla T4", "550.54.15", None, "GPU-cccc-2222"),
    ]


def test_nvidia_smi_found_through_the_process_path(
    smi_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", f"{smi_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert len(detect_gpus()) == 3


def test_no_driver_no_gpus(tmp_path: Path) -> None:
    assert detect_gpus({"PATH": str(tmp_path)}) == []


def test_failing_nvidia_smi_means_no_gpus(tmp_path: Path) -> None:
    path = fake_smi(tmp_path, "echo 'NVIDIA-SMI has failed' >&2; exit 9")
    assert detect_gpus({"PATH": path}) == []


def test_hanging_nvidia_smi_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpus, "_NVIDIA_SMI_TIMEOUT_S", 0.2)
    path = fake_smi(tmp_path, "exec sleep 5")
    assert detect_gpus({"PATH": path}) == []


def test_lines_that_are_not_gpus_are_skipped() -> None:
    text = "garbage\n\nx, name, 1, 2, u\n3, A100, 535.1, 40960.0, GPU-d\n"
    assert gpus.parse_nvidia_smi(text) == [GPU(3, "A100", "535.1", 40960, "GPU-d")]


# -- CUDA_VISIBLE_DEVICES of the runner --------------------------------------------------------


@pytest.mark.parametrize(
    ("visible", "indices"),
    [
        ("1", [1]),  # physical indices are kept
        ("2,0", [2, 0]),  # in the order listed
        ("GPU-bbbb-1111,GPU-cccc", [1, 2]),  # UUIDs, or a unique prefix of one
        ("GPU-", []),  # a prefix of several names none
        ("1,7,0", [1]),  # as CUDA does, the list ends at the first unknown device
        ("", []),
        ("-1", []),
    ],
)
def test_cuda_visible_devices_limits_the_offer(
    smi_path: str, visible: str, indices: list[int]
) -> None:
    found = detect_gpus({"PATH": smi_path, "CUDA_VISIBLE_DEVICES": visible})
    assert [g.index for g in found] == indices


# -- NVML --------------------------------------------------------------------------------------


def fake_nvml(calls: list[str], *, fail_init: bool = False) -> types.ModuleType:
    """A ``pynvml`` with two devices, answering bytes as older releases do; logs to ``calls``."""
    names = [b"NVIDIA A100-SXM4-40GB", "NVIDIA A100-SXM4-40GB"]

    def init() -> None:
        if fail_init:
            raise RuntimeError("NVML Shared Library Not Found")
        calls.append("init")

    module = types.ModuleType("pynvml")
    module.__dict__.update(
        nvmlInit=init,
        nvmlShutdown=lambda: calls.append("shutdown"),
        nvmlSystemGetDriverVersion=lambda: b"535.104.05",
        nvmlDeviceGetCount=lambda: 2,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=lambda h: names[h],
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(total=40 * 1024**3),
        nvmlDeviceGetUUID=lambda h: f"GPU-nvml-{h}",
    )
    return module


def test_nvml_comes_before_nvidia_smi(smi_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml(calls))
    found = detect_gpus({"PATH": smi_path, "CUDA_VISIBLE_DEVICES": "GPU-nvml-1"})
    assert found == [GPU(1, "NVIDIA A100-SXM4-40GB", "535.104.05", 40960, "GPU-nvml-1")]
    assert calls == ["init", "shutdown"]


def test_failing_nvml_falls_back_to_nvidia_smi(
    smi_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", fake_nvml([], fail_init=True))
    assert [g.driver for g in detect_gpus({"PATH": smi_path})] == ["550.54.15"] * 3


# -- device slots ------------------------------------------------------------------------------


def test_slots_hand_out_the_lowest_free_devices() -> None:
    slots = DeviceSlots([3, 0, 2, 1])
    assert (slots.total, slots.free) == (4, 4)
    assert slots.allocate(0) == ()
    assert slots.allocate(2) == (0, 1)
    assert slots.allocate(3) is None  # only two free: nothing is taken
    assert slots.free == 2
    slots.release((0,))
    assert slots.allocate(2) == (0, 2)
    assert (slots.total, slots.free) == (4, 1)


def test_slots_refuse_a_double_release_and_strangers() -> None:
    slots = DeviceSlots([0, 1])
    taken = slots.allocate(1)
    assert taken == (0,)
    slots.release(taken)
    with pytest.raises(ValueError, match="already free"):
        slots.release(taken)
    with pytest.raises(ValueError, match="already free"):
        slots.release([1])  # never taken
    with pytest.raises(ValueError, match="not managed"):
        slots.release([5])
    with pytest.raises(ValueError, match="cannot allocate -1"):
        slots.allocate(-1)
    with pytest.raises(ValueError, match="repeat"):
        DeviceSlots([0, 0])
    assert slots.free == 2


def test_a_partly_wrong_release_gives_back_nothing() -> None:
    slots = DeviceSlots([0, 1, 2])
    assert slots.allocate(2) == (0, 1)
    with pytest.raises(ValueError, match="already free"):
        slots.release([1, 2])
    assert slots.free == 1


def test_slots_are_never_shared_between_threads() -> None:
    slots = DeviceSlots(range(4))
    held: set[int] = set()
    guard = threading.Lock()
    clashes: list[tuple[int, ...]] = []

    def work() -> None:
        for _ in range(300):
            taken = slots.allocate(2)
            if taken is None:
                continue
            with guard:
                if held.intersection(taken):
                    clashes.append(taken)
                held.update(taken)
            with guard:
                held.difference_update(taken)
            slots.release(taken)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clashes == []
    assert slots.free == 4


# -- lepton-lab kernels gpus -------------------------------------------------------------------


def test_cli_lists_simulated_gpus() -> None:
    runner = CliRunner(env={"LEPTON_LAB_GPUS": "2", "COLUMNS": "80"})
    table = runner.invoke(cli, ["kernels", "gpus"], catch_exceptions=False)
    assert table.exit_code == 0, table.output
    assert table.stdout.count("simulated GPU") == 2
    listed = runner.invoke(cli, ["kernels", "gpus", "--json"], catch_exceptions=False)
    assert [g["index"] for g in json.loads(listed.stdout)] == [0, 1]
    # The global option works as for every other command.
    assert json.loads(runner.invoke(cli, ["--json", "kernels", "gpus"]).stdout) == json.loads(
        listed.stdout
    )


def test_cli_without_gpus_and_with_a_bad_count(tmp_path: Path) -> None:
    runner = CliRunner(env={"PATH": str(tmp_path)})
    assert "no GPUs found" in runner.invoke(cli, ["kernels", "gpus"]).stdout
    bad = CliRunner(env={"LEPTON_LAB_GPUS": "lots"}).invoke(cli, ["kernels", "gpus"])
    assert bad.exit_code == 2
    assert "error: LEPTON_LAB_GPUS='lots' is not a number of GPUs" in bad.stderr
