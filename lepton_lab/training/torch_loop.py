"""The PyTorch training loop: device choice, precision, threads, determinism, early stopping.

* **Device**: ``auto`` takes CUDA when torch sees a GPU, else the CPU; ``cuda``/``cuda:N``
  when no such GPU is visible is an error, not a silent fall-back.
* **Precision**: on CUDA, autocast to bfloat16 where the GPU does it natively (Ampere and
  later), else float16 with a gradient scaler; the CPU trains in float32.
* **Batches**: the data is copied to the device once; each epoch draws a permutation from
  a seeded ``torch.Generator`` and slices it, so no per-row Python runs in the loop, and
  the loss is summed on the device (one synchronisation per epoch, not per batch).
* **Threads**: torch's intra-op thread count is per OS thread, so it is set in the thread
  that trains (a widget's background thread does not see a count set in another thread
  afterwards): the CPUs this process may use (affinity and cgroup quota) less one for
  the kernel, never more than torch would use anyway; restored afterwards.  See
  :func:`cpu_threads` and docs/training.md for the measurements behind the choice.
* **Determinism**: seeded, and ``torch.use_deterministic_algorithms`` on the CPU (on CUDA
  only when ``CUBLAS_WORKSPACE_CONFIG`` is set, without which cuBLAS refuses).
* **Budget**: a number of epochs, not wall-clock time, so that a run reproduces; early
  stopping on a held-out share of the training rows, restoring the best epoch's weights.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lepton_lab.errors import InvalidInput
from lepton_lab.training.progress import Progress
from lepton_lab.training.seeding import seed_everything

__all__ = [
    "LoopConfig",
    "LoopOutcome",
    "amp_dtype",
    "cpu_threads",
    "describe_device",
    "fit_loop",
    "precision_name",
    "predict_batches",
    "resolve_device",
    "torch_session",
]

PREDICT_BATCH = 8192


def resolve_device(device: str) -> torch.device:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` as a torch device that exists here."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    index = device.removeprefix("cuda").removeprefix(":")
    if not device.startswith("cuda") or (index and not index.isdigit()):
        raise InvalidInput(f"unknown device {device!r}; allowed: auto, cpu, cuda, cuda:N")
    if not torch.cuda.is_available():
        raise InvalidInput(
            f"device {device!r} asked for, but torch sees no CUDA GPU here (torch "
            f"{torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); "
            "use device='auto' or 'cpu'"
        )
    count = torch.cuda.device_count()
    if index and int(index) >= count:
        allowed = ", ".join(f"cuda:{i}" for i in range(count))
        raise InvalidInput(f"no GPU {device!r}; this machine has {allowed}")
    return torch.device(f"cuda:{index}" if index else "cuda")


def amp_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast type on ``device``: bf16 on GPUs doing it natively, else fp16; CPU: None."""
    if device.type != "cuda":
        return None
    # Emulated bf16 (pre-Ampere) is slower than fp16 with a scaler, so it does not count.
    native_bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
    return torch.bfloat16 if native_bf16 else torch.float16


def _cgroup_cpus(path: Path = Path("/sys/fs/cgroup/cpu.max")) -> int | None:
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return max(1, int(int(quota) // int(period)))


def cpu_threads() -> int:
    """Threads for training on the CPU: the CPUs this process may use, less one, at least one.

    One CPU is left to the kernel's main thread (the widget's messages, the notebook's
    other work): OpenMP's worker threads wait for each other at every operation, so a
    team of threads with one of them preempted runs several times slower than a smaller
    team (docs/training.md has the measurements).  Never more than torch's own choice,
    which ``OMP_NUM_THREADS`` or ``torch.set_num_threads`` lowers.
    """
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    usable = min(usable or 1, _cgroup_cpus() or usable or 1)
    return max(1, min(torch.get_num_threads(), usable - 1))


@contextlib.contextmanager
def torch_session(device: torch.device, seed: int) -> Iterator[None]:
    """Threads, determinism and seeds for one fit, in this thread; all restored after."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    benchmark = torch.backends.cudnn.benchmark
    torch.set_num_threads(cpu_threads())
    if device.type == "cpu" or os.environ.get("CUBLAS_WORKSPACE_CONFIG"):
        torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    seed_everything(seed)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        torch.backends.cudnn.benchmark = benchmark


@dataclass(frozen=True)
class LoopConfig:
    """The loop's budget and optimiser settings."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.0
    patience: int = 0
    """Epochs without a better validation loss before stopping; 0: never stop early."""
    validation_fraction: float = 0.1
    seed: int = 0


@dataclass
class LoopOutcome:
    """What the loop did: one dict per epoch, the epoch whose weights were kept, a stop."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    stopped: bool = False
    """True when ``stop_event`` ended the run early."""


def _holdout(
    n: int, config: LoopConfig, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor | None]:
    n_val = round(n * config.validation_fraction) if config.patience > 0 else 0
    order = torch.randperm(n, generator=generator)
    if n_val < 1 or n - n_val < 1:
        return order, None
    return order[n_val:], order[:n_val]


@dataclass
class _Run:
    """The state one fit carries from batch to batch."""

    module: nn.Module
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    optimizer: torch.optim.Optimizer
    device: torch.device
    amp: torch.dtype | None
    scaler: torch.amp.GradScaler | None

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            out = self.module(x)
        # The loss in float32: a half-precision loss loses the small differences that matter.
        return self.loss_fn(out.float(), y)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = self.loss(x, y)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            torch.autograd.backward(self.scaler.scale(loss))
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            torch.autograd.backward(loss)
            self.optimizer.step()
        return loss.detach()


def _train_epoch(
    run: _Run,
    x: torch.Tensor,
    y: torch.Tensor,
    config: LoopConfig,
    generator: torch.Generator,
    progress: Progress,
    epoch: int,
) -> float:
    run.module.train()
    n = len(x)
    order = torch.randperm(n, generator=generator).to(run.device)
    total = torch.zeros((), device=run.device)
    steps = -(-n // config.batch_size)
    for step, start in enumerate(range(0, n, config.batch_size), 1):
        index = order[start : start + config.batch_size]
        total += run.step(x[index], y[index]) * len(index)
        if progress.active:
            progress.emit("step", epoch=epoch, step=step, total=steps)
    return float(total.item()) / n


def _mean_loss(run: _Run, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    run.module.eval()
    total = torch.zeros((), device=run.device)
    with torch.no_grad():
        for start in range(0, len(x), batch):
            x_batch, y_batch = x[start : start + batch], y[start : start + batch]
            total += run.loss(x_batch, y_batch) * len(x_batch)
    return float(total.item()) / len(x)


class _Best:
    """Early stopping: the best validation loss so far, its epoch and its weights."""

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.loss = float("inf")
        self.epoch: int | None = None
        self.state: dict[str, torch.Tensor] | None = None

    def should_stop(self, module: nn.Module, epoch: int, val_loss: float | None) -> bool:
        """Keep the weights when ``val_loss`` improved; True once patience has run out."""
        if val_loss is None:
            return False
        if val_loss < self.loss:
            self.loss, self.epoch = val_loss, epoch
            # Copied: the optimiser keeps changing the live tensors.
            self.state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            return False
        return epoch - (self.epoch or 0) >= self.patience


def _make_run(
    module: nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    config: LoopConfig,
    device: torch.device,
) -> _Run:
    amp = amp_dtype(device)
    optimizer = torch.optim.AdamW(
        module.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    # bf16 keeps float32's range, so only fp16 needs its gradients scaled.
    scaler = torch.amp.GradScaler(device.type) if amp == torch.float16 else None
    return _Run(module, loss_fn, optimizer, device, amp, scaler)


def fit_loop(
    module: nn.Module,
    x: np.ndarray[Any, Any],
    y: np.ndarray[Any, Any],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    config: LoopConfig,
    device: torch.device,
    *,
    progress: Progress | None = None,
    stop_event: threading.Event | None = None,
) -> LoopOutcome:
    """Train ``module`` (already on ``device``) on ``x``/``y`` within the epoch budget."""
    progress = progress or Progress()
    generator = torch.Generator().manual_seed(config.seed)
    x_all, y_all = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    train_index, val_index = _holdout(len(x), config, generator)
    x_train, y_train = x_all[train_index.to(device)], y_all[train_index.to(device)]
    if val_index is not None:
        x_val, y_val = x_all[val_index.to(device)], y_all[val_index.to(device)]
    run, best, outcome = (
        _make_run(module, loss_fn, config, device),
        _Best(config.patience),
        LoopOutcome(),
    )
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        loss = _train_epoch(run, x_train, y_train, config, generator, progress, epoch)
        val_loss = None if val_index is None else _mean_loss(run, x_val, y_val, PREDICT_BATCH)
        seconds = time.perf_counter() - started
        outcome.history.append(
            {"epoch": epoch, "loss": loss, "val_loss": val_loss, "seconds": seconds}
        )
        progress.emit(
            "epoch_end", epoch=epoch, total=config.epochs, loss=loss, metrics={"val_loss": val_loss}
        )
        if best.should_stop(module, epoch, val_loss):
            break
        if stop_event is not None and stop_event.is_set():
            outcome.stopped = True
            break
    if best.state is not None:
        module.load_state_dict(best.state)
    outcome.best_epoch = best.epoch or len(outcome.history)
    return outcome


def predict_batches(
    module: nn.Module, x: np.ndarray[Any, Any], device: torch.device
) -> np.ndarray[Any, Any]:
    """The module's float32 outputs for ``x``, computed in batches on ``device``."""
    module.eval()
    data = torch.from_numpy(x).to(device)
    amp = amp_dtype(device)
    outputs = []
    with torch.no_grad():
        for start in range(0, len(data), PREDICT_BATCH):
            with torch.autocast(device.type, dtype=amp) if amp else contextlib.nullcontext():
                outputs.append(module(data[start : start + PREDICT_BATCH]).float())
    return torch.cat(outputs).cpu().numpy()


def precision_name(device: str) -> str:
    """What training on ``device`` computes in: bf16, fp16 (autocast on CUDA) or fp32."""
    amp = amp_dtype(torch.device(device))
    if amp is None:
        return "fp32"
    return "bf16" if amp == torch.bfloat16 else "fp16"


def describe_device(device: str, threads: int | None = None) -> dict[str, Any]:
    """What a run's spec records of where it trained: device, precision, GPU or threads."""
    where = torch.device(device)
    described: dict[str, Any] = {"device": str(where), "precision": precision_name(device)}
    if where.type == "cuda":
        index = where.index if where.index is not None else torch.cuda.current_device()
        described |= {
            "device": f"cuda:{index}",
            "gpu": torch.cuda.get_device_name(index),
            "cuda": torch.version.cuda,
        }
    else:
        described["threads"] = threads
    return described
