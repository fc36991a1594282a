"""Device choice, precision, threads and determinism; the GPU is simulated, no kernel runs."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from lepton_lab.errors import InvalidInput
from lepton_lab.training import torch_loop, train
from lepton_lab.training.torch_loop import (
    amp_dtype,
    cpu_threads,
    describe_device,
    precision_name,
    resolve_device,
    torch_session,
)


def _gpus(monkeypatch: pytest.MonkeyPatch, count: int, *, bf16: bool = True) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: bf16)


def test_auto_takes_the_gpu_when_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    _gpus(monkeypatch, 0)
    assert resolve_device("auto") == torch.device("cpu")
    _gpus(monkeypatch, 2)
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    assert resolve_device("cpu") == torch.device("cpu")


def test_missing_gpus_are_errors_not_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    _gpus(monkeypatch, 0)
    with pytest.raises(InvalidInput, match=r"torch sees no CUDA GPU here .* use device='auto'"):
        resolve_device("cuda")
    _gpus(monkeypatch, 2)
    with pytest.raises(InvalidInput, match="no GPU 'cuda:2'; this machine has cuda:0, cuda:1"):
        resolve_device("cuda:2")
    with pytest.raises(InvalidInput, match="allowed: auto, cpu, cuda, cuda:N"):
        resolve_device("cuda:x")


def test_a_missing_gpu_fails_before_the_data_is_read(
    monkeypatch: pytest.MonkeyPatch, iris: pd.DataFrame
) -> None:
    _gpus(monkeypatch, 0)

    class Untouchable:
        def version(self, ref: str) -> Any:
            raise AssertionError("the dataset was read")

        def load(self, ref: str) -> pd.DataFrame:
            raise AssertionError("the dataset was read")

    with pytest.raises(InvalidInput, match="no CUDA GPU"):
        train(Untouchable(), "uci/iris", "species", model="mlp", device="cuda")
    # sklearn families ignore the device: no error for them.
    assert train(None, iris, "species", model="knn", device="cuda").spec["device"] == "cpu"


def test_mixed_precision_only_on_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    _gpus(monkeypatch, 1, bf16=True)
    assert amp_dtype(torch.device("cuda")) == torch.bfloat16
    assert precision_name("cuda:0") == "bf16"
    _gpus(monkeypatch, 1, bf16=False)  # e.g. a V100 or T4: fp16 with a gradient scaler
    assert amp_dtype(torch.device("cuda")) == torch.float16
    assert precision_name("cuda") == "fp16"
    assert amp_dtype(torch.device("cpu")) is None
    assert precision_name("cpu") == "fp32"


def test_the_spec_names_the_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    _gpus(monkeypatch, 2, bf16=True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: f"NVIDIA H200 #{index}")
    described = describe_device("cuda")
    assert described["device"] == "cuda:1" and described["gpu"] == "NVIDIA H200 #1"
    assert described["precision"] == "bf16" and "threads" not in described
    assert describe_device("cpu", 3) == {"device": "cpu", "precision": "fp32", "threads": 3}


def test_thread_count_leaves_a_cpu_to_the_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch_loop.os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setattr(torch_loop.torch, "get_num_threads", lambda: 16)
    monkeypatch.setattr(torch_loop, "_cgroup_cpus", lambda: None)
    assert cpu_threads() == 7
    monkeypatch.setattr(torch_loop, "_cgroup_cpus", lambda: 4)  # a container's CPU quota
    assert cpu_threads() == 3
    monkeypatch.setattr(torch_loop.torch, "get_num_threads", lambda: 2)  # OMP_NUM_THREADS=2
    assert cpu_threads() == 2
    monkeypatch.setattr(torch_loop.os, "sched_getaffinity", lambda pid: {0})
    assert cpu_threads() == 1


def test_cgroup_quota_is_read(tmp_path: Path) -> None:
    quota = tmp_path / "cpu.max"
    quota.write_text("250000 100000\n")
    assert torch_loop._cgroup_cpus(quota) == 2
    quota.write_text("max 100000\n")
    assert torch_loop._cgroup_cpus(quota) is None
    assert torch_loop._cgroup_cpus(tmp_path / "absent") is None


def test_session_sets_threads_and_determinism_in_the_training_thread() -> None:
    seen: dict[str, Any] = {}

    def work() -> None:
        before = torch.get_num_threads()
        with torch_session(torch.device("cpu"), seed=1):
            seen["threads"] = torch.get_num_threads()
            seen["deterministic"] = torch.are_deterministic_algorithms_enabled()
        seen["restored"] = torch.get_num_threads() == before

    thread = threading.Thread(target=work)  # as the train widget runs it
    thread.start()
    thread.join()
    assert seen == {"threads": cpu_threads(), "deterministic": True, "restored": True}
    assert not torch.are_deterministic_algorithms_enabled()


def test_cuda_determinism_needs_cublas_workspace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    with torch_session(torch.device("cuda"), seed=1):
        assert not torch.are_deterministic_algorithms_enabled()
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    with torch_session(torch.device("cuda"), seed=1):
        assert torch.are_deterministic_algorithms_enabled()
    assert not torch.are_deterministic_algorithms_enabled()
