"""A warm pool of fresh kernels: each kernel serves one job and is then thrown away.

Starting a kernel takes a second or more, so for jobs without GPUs the pool keeps, per
kernel name, a few kernels already started and answering, each in a fresh folder of its
own under the staging root, with ``CUDA_VISIBLE_DEVICES=""``.  A job takes one, its folder
is renamed to the job's (the kernel's working directory follows a rename), and a
replacement starts in the background.  A GPU job gets a kernel started for it with its
devices in ``CUDA_VISIBLE_DEVICES``: a kernel's devices are fixed at launch, never after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import zmq
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager

from lepton_lab.config import SERVER_ONLY_ENV

__all__ = ["Kernel", "KernelPool", "kill_kernel"]

log = logging.getLogger(__name__)

_NO_ENV: Mapping[str, str] = MappingProxyType({})
_ENCRYPTION = "auto" if zmq.has("curve") else "disabled"


@dataclass(eq=False)
class Kernel:
    """A started kernel that answered ``kernel_info``, ready for one job."""

    name: str
    km: AsyncKernelManager
    kc: AsyncKernelClient
    #: The kernel's working directory: the job's staging folder once taken.
    cwd: Path

    @property
    def pid(self) -> int | None:
        """The kernel process id (a local kernel's), if known."""
        pid = getattr(self.km.provisioner, "pid", None)
        return pid if isinstance(pid, int) else None


@dataclass
class _Warm:
    """The kernels kept for one kernel name."""

    ready: deque[Kernel] = field(default_factory=deque)
    starting: set[asyncio.Task[None]] = field(default_factory=set)


class KernelPool:
    """Fresh kernels for jobs, some of them started ahead of time.

    ``size`` kernels are kept warm per kernel name (0: start each one on demand);
    ``base_env`` is added to this process's environment for every kernel (the workspace's
    variables: a warm kernel starts before its job's own variables are known).
    """

    def __init__(
        self,
        staging_root: Path,
        *,
        size: int = 2,
        base_env: Mapping[str, str] = _NO_ENV,
        start_timeout: float = 60,
    ) -> None:
        self.staging_root = Path(staging_root)
        self.size = size
        self.base_env = dict(base_env)
        self.start_timeout = start_timeout
        self._warm: dict[str, _Warm] = {}
        self._closed = False

    def prewarm(self, kernel_names: Iterable[str]) -> None:
        """Start filling the pools for ``kernel_names`` (call it on the running event loop)."""
        for name in kernel_names:
            self._fill(name)

    def ready(self, name: str) -> int:
        """How many warm kernels for ``name`` are ready now."""
        pool = self._warm.get(name)
        return len(pool.ready) if pool is not None else 0

    async def acquire(
        self,
        name: str,
        job_id: str,
        *,
        devices: tuple[int, ...] = (),
        env: Mapping[str, str] = _NO_ENV,
    ) -> Kernel:
        """A fresh kernel for job ``job_id``, working in ``staging_root / job_id`` if it can.

        Raises what starting the kernel raised (``NoSuchKernel``, ``RuntimeError`` when it
        did not answer in time or died, ``OSError``).
        """
        if not devices:
            kernel = await self._take_warm(name)
            if kernel is not None:
                self._move(kernel, job_id)
                return kernel
        cwd = self.staging_root / job_id
        cwd.mkdir(parents=True, exist_ok=True)
        visible = ",".join(str(d) for d in devices)
        return await self._launch(name, cwd, {**env, "CUDA_VISIBLE_DEVICES": visible})

    async def discard(self, kernel: Kernel) -> None:
        """Kill ``kernel`` and free its resources; its folder stays."""
        kernel.kc.stop_channels()
        await kill_kernel(kernel.km)

    async def close(self) -> None:
        """Stop the background starts and kill every warm kernel."""
        self._closed = True
        warm, self._warm = list(self._warm.values()), {}
        for pool in warm:
            for task in pool.starting:
                task.cancel()
            await asyncio.gather(*pool.starting, return_exceptions=True)
            while pool.ready:
                kernel = pool.ready.popleft()
                await self.discard(kernel)
                shutil.rmtree(kernel.cwd, ignore_errors=True)

    async def _take_warm(self, name: str) -> Kernel | None:
        pool = self._fill(name)
        while True:
            while pool.ready:
                kernel = pool.ready.popleft()
                self._fill(name)
                if await kernel.km.is_alive():
                    return kernel
                log.warning("warm %s kernel in %s died while waiting; discarded", name, kernel.cwd)
                await self.discard(kernel)
                shutil.rmtree(kernel.cwd, ignore_errors=True)
            if not pool.starting:
                return None
            # One on its way is sooner than starting another.
            await asyncio.wait(set(pool.starting), return_when=asyncio.FIRST_COMPLETED)

    def _fill(self, name: str) -> _Warm:
        pool = self._warm.setdefault(name, _Warm())
        while not self._closed and len(pool.ready) + len(pool.starting) < self.size:
            task = asyncio.create_task(self._start_warm(name, pool))
            pool.starting.add(task)
        return pool

    async def _start_warm(self, name: str, pool: _Warm) -> None:
        cwd = self.staging_root / f".warm-{uuid.uuid4().hex[:12]}"
        try:
            cwd.mkdir(parents=True)
            pool.ready.append(await self._launch(name, cwd, {"CUDA_VISIBLE_DEVICES": ""}))
        except asyncio.CancelledError:
            shutil.rmtree(cwd, ignore_errors=True)
            raise
        except Exception as exc:  # the job that wants it starts its own and reports why
            log.warning("could not start a warm %s kernel: %s", name, exc)
            shutil.rmtree(cwd, ignore_errors=True)
        finally:
            pool.starting.discard(asyncio.current_task())  # type: ignore[arg-type,unused-ignore]

    async def _launch(self, name: str, cwd: Path, env: Mapping[str, str]) -> Kernel:
        # CurveZMQ where the kernel supports it: nothing else on the host can read its traffic.
        km = AsyncKernelManager(kernel_name=name, transport_encryption=_ENCRYPTION)
        kc: AsyncKernelClient | None = None
        try:
            inherited = {k: v for k, v in os.environ.items() if k not in SERVER_ONLY_ENV}
            await km.start_kernel(cwd=str(cwd), env={**inherited, **self.base_env, **env})
            kc = km.client()
            kc.start_channels()
            await kc.wait_for_ready(timeout=self.start_timeout)
        except BaseException:  # cancelled or failed: leave no process behind
            if kc is not None:
                kc.stop_channels()
            await asyncio.shield(kill_kernel(km))
            raise
        kc.allow_stdin = False
        return Kernel(name, km, kc, cwd)

    def _move(self, kernel: Kernel, job_id: str) -> None:
        """Rename the kernel's folder to the job's; keep the old name if that fails.

        A retried job's earlier attempt keeps its folder: the retry takes ``{id}.2``, ….
        """
        target, attempt = self.staging_root / job_id, 1
        while target.exists():
            attempt += 1
            target = self.staging_root / f"{job_id}.{attempt}"
        try:
            kernel.cwd.rename(target)
        except OSError as exc:
            log.warning("kept %s as job %s's folder: %s", kernel.cwd, job_id, exc)
        else:
            kernel.cwd = target


async def kill_kernel(km: AsyncKernelManager) -> None:
    """Kill a kernel at once (it served its job; nothing in it needs a clean exit)."""
    try:
        if km.has_kernel and await km.is_alive():
            await km.shutdown_kernel(now=True)
    except RuntimeError as exc:  # "No kernel is running!": it died by itself
        log.debug("kernel shutdown: %s", exc)
    finally:
        with contextlib.suppress(Exception):
            await km.cleanup_resources()
