"""Which GPUs this machine has, and which of them are free for the next job.

:func:`detect_gpus` asks, in order, and takes the first answer:

1. ``LEPTON_LAB_GPUS=N``: N simulated GPUs (indices 0..N-1), taken as is; for tests, and
   to offer fewer devices when a machine is shared;
2. NVML through ``pynvml`` (the ``nvidia-ml-py`` package, optional);
3. ``nvidia-smi``, when it is on ``PATH``;
4. otherwise no GPUs.

NVML and ``nvidia-smi`` report physical devices.  When ``CUDA_VISIBLE_DEVICES`` is set in
the runner's own environment, only the devices it lists (by index or UUID) are offered,
under their physical indices: the runner hands a kernel those physical indices in the
kernel's ``CUDA_VISIBLE_DEVICES``, which CUDA then numbers from 0 inside the kernel.

:class:`DeviceSlots` hands out device indices to concurrent jobs, lowest first.
"""

from __future__ import annotations

import csv
import importlib
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from lepton_lab.errors import InvalidInput

__all__ = ["GPU", "SIMULATED_NAME", "DeviceSlots", "detect_gpus"]

log = logging.getLogger(__name__)

#: The name of every GPU that ``LEPTON_LAB_GPUS`` makes up.
SIMULATED_NAME = "simulated GPU"

_NVIDIA_SMI_QUERY = [
    "--query-gpu=index,name,driver_version,memory.total,uuid",
    "--format=csv,noheader,nounits",
]
_NVIDIA_SMI_TIMEOUT_S = 10


@dataclass(frozen=True)
class GPU:
    """One GPU as the driver reports it."""

    index: int
    """The physical index (NVML's, and ``nvidia-smi``'s), whatever CUDA_VISIBLE_DEVICES says."""

    name: str
    """The product name, such as ``"NVIDIA H100 80GB HBM3"``."""

    driver: str
    """The driver version (``"simulated"`` for simulated GPUs)."""

    memory_mib: int | None
    """Total memory in MiB; None when unknown."""

    uuid: str = ""
    """The device's UUID (``"GPU-…"``); empty when unknown."""

    def to_dict(self) -> dict[str, object]:
        """JSON form."""
        return {
            "index": self.index,
            "name": self.name,
            "driver": self.driver,
            "memory_mib": self.memory_mib,
            "uuid": self.uuid,
        }

    def row(self) -> dict[str, object]:
        """One line of a listing."""
        return {
            "index": self.index,
            "name": self.name,
            "memory (MiB)": self.memory_mib,
            "driver": self.driver,
            "uuid": self.uuid,
        }


def detect_gpus(env: Mapping[str, str] | None = None) -> list[GPU]:
    """The GPUs jobs may use, in the order of the module docstring (``env``: os.environ).

    Raises :class:`~lepton_lab.errors.InvalidInput` when ``LEPTON_LAB_GPUS`` is not a
    whole number of zero or more.
    """
    env = os.environ if env is None else env
    simulated = env.get("LEPTON_LAB_GPUS", "").strip()
    if simulated:
        return _simulated(simulated)
    found = _from_nvml()
    if found is None:
        found = _from_nvidia_smi(env.get("PATH"))
    visible = env.get("CUDA_VISIBLE_DEVICES")
    return found if visible is None else _only_visible(found, visible)


def _simulated(value: str) -> list[GPU]:
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 0:
        raise InvalidInput(
            f"LEPTON_LAB_GPUS={value!r} is not a number of GPUs; "
            "set it to a whole number such as 0 or 2, or unset it to detect the real ones"
        )
    return [GPU(i, SIMULATED_NAME, "simulated", None) for i in range(count)]


def _from_nvml() -> list[GPU] | None:
    """The GPUs NVML reports, or None when NVML is missing or fails (try nvidia-smi next)."""
    try:
        # Imported by name: nvidia-ml-py is optional and ships no type information.
        pynvml = importlib.import_module("pynvml")
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError and its many subclasses: no driver, no library
        log.debug("NVML unavailable: %s", exc)
        return None
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        found = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle).total
            found.append(
                GPU(
                    index=index,
                    name=_text(pynvml.nvmlDeviceGetName(handle)),
                    driver=driver,
                    memory_mib=int(memory) // (1024 * 1024),
                    uuid=_text(pynvml.nvmlDeviceGetUUID(handle)),
                )
            )
        return found
    except Exception as exc:
        log.debug("NVML query failed: %s", exc)
        return None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception as exc:
            log.debug("NVML shutdown failed: %s", exc)


def _text(value: str | bytes) -> str:
    # Older nvidia-ml-py releases answer bytes, newer ones str.
    return value.decode() if isinstance(value, bytes) else str(value)


def _from_nvidia_smi(path: str | None) -> list[GPU]:
    """The GPUs ``nvidia-smi`` lists; none when it is missing, fails or hangs."""
    executable = shutil.which("nvidia-smi", path=path)
    if executable is None:
        return []
    try:
        done = subprocess.run(
            [executable, *_NVIDIA_SMI_QUERY],
            capture_output=True,
            text=True,
            timeout=_NVIDIA_SMI_TIMEOUT_S,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.debug("nvidia-smi failed: %s", exc)
        return []
    return parse_nvidia_smi(done.stdout)


def parse_nvidia_smi(text: str) -> list[GPU]:
    """GPUs from ``nvidia-smi --query-gpu=index,name,driver_version,memory.total,uuid``.

    Lines that do not read as a GPU are skipped (and logged), not fatal.
    """
    found = []
    for row in csv.reader(text.splitlines(), skipinitialspace=True):
        if not row:
            continue
        try:
            index, name, driver, memory, uuid = (field.strip() for field in row)
            found.append(GPU(int(index), name, driver, _mib(memory), uuid))
        except ValueError:
            log.debug("skipping an nvidia-smi line: %r", row)
    return found


def _mib(value: str) -> int | None:
    # nvidia-smi prints "[N/A]" (or "[Not Supported]") when it does not know.
    try:
        return int(float(value))
    except ValueError:
        return None


def _only_visible(found: list[GPU], visible: str) -> list[GPU]:
    """The devices ``CUDA_VISIBLE_DEVICES`` lists, in its order, with physical indices.

    Entries are indices or UUIDs (a unique UUID prefix will do, as for CUDA).  As CUDA
    does, the list ends at the first entry naming no device, so ``""`` or ``"-1"`` hide all.
    """
    chosen: list[GPU] = []
    for entry in (e.strip() for e in visible.split(",")):
        match = _find(found, entry) if entry else None
        if match is None:
            break
        if match not in chosen:
            chosen.append(match)
    return chosen


def _find(found: Iterable[GPU], entry: str) -> GPU | None:
    if entry.isdigit():
        return next((gpu for gpu in found if gpu.index == int(entry)), None)
    matches = [gpu for gpu in found if gpu.uuid and gpu.uuid.startswith(entry)]
    return matches[0] if len(matches) == 1 else None


class DeviceSlots:
    """Device indices handed to jobs and given back; safe to share between threads.

    Devices are handed out lowest index first, so a lone job always gets the same ones.
    """

    def __init__(self, devices: Sequence[int]) -> None:
        """Manage ``devices`` (GPU indices; no repeats), all free at first."""
        if len(set(devices)) != len(devices):
            raise ValueError(f"device indices repeat: {list(devices)}")
        self._devices = frozenset(devices)
        self._free = set(devices)
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        """How many devices are managed."""
        return len(self._devices)

    @property
    def free(self) -> int:
        """How many devices are free now."""
        with self._lock:
            return len(self._free)

    def allocate(self, n: int) -> tuple[int, ...] | None:
        """Take the ``n`` lowest free devices, or None when fewer are free now.

        ``n`` over :attr:`total` can never be met: callers check that before waiting.
        """
        if n < 0:
            raise ValueError(f"cannot allocate {n} devices")
        with self._lock:
            if n > len(self._free):
                return None
            taken = tuple(sorted(self._free)[:n])
            self._free.difference_update(taken)
            return taken

    def release(self, devices: Iterable[int]) -> None:
        """Give ``devices`` back; all or none, refusing unknown or already free ones."""
        given = list(devices)
        with self._lock:
            unknown = [d for d in given if d not in self._devices]
            if unknown:
                raise ValueError(f"devices {unknown} are not managed here")
            if len(set(given)) != len(given) or self._free.intersection(given):
                raise ValueError(f"devices {given} are already free (released twice?)")
            self._free.update(given)
