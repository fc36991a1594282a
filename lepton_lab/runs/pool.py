"""A warm pool of fresh kernels: each kernel serves one job and is then thrown away.

Starting a kernel takes a second or more, so for jobs without GPUs the pool keeps, per
kernel name, a few kernels already started and answering, each in a fresh folder of its
own under the staging root, with ``CUDA_VISIBLE_DEVICES=""``.  A job takes one, its folder
is renamed to the job's (the kernel's working directory follows a rename), and a
replacement starts in the background.  A GPU job gets a kernel started for it with its
devices in ``CUDA_VISIBLE_DEVICES``: a kernel's devices are fixed at launch, never after.

With ``kernel_users`` (:mod:`~lepton_lab.runs.sandbox`) every kernel runs as an OS user of
its own, in a folder only that user may enter, under a staging root nobody else may list;
its connection file and ``HOME`` are in a private folder of its own, thrown away after.
When the kernel ends, whatever it left running is killed, its folder is taken back
(the runner's, mode 0700) and only then is its user free for another kernel.
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
from typing import Any

import zmq
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager

from lepton_lab.config import SERVER_ONLY_ENV
from lepton_lab.errors import InvalidInput
from lepton_lab.runs.sandbox import (
    KernelUser,
    KernelUsers,
    end_processes,
    hand_over,
    reclaim,
    remove_owned_temp_files,
    seal,
    user_switch_notice,
)

__all__ = ["Kernel", "KernelPool", "kill_kernel"]

log = logging.getLogger(__name__)

_NO_ENV: Mapping[str, str] = MappingProxyType({})
_ENCRYPTION = "auto" if zmq.has("curve") else "disabled"
#: The staging root's folder of kernels' private folders (connection file, HOME, TMPDIR).
PRIVATE_FOLDER = ".kernels"
#: Seconds between two looks for a free kernel user when every one is taken.
_USER_POLL = 0.05


@dataclass(eq=False)
class Kernel:
    """A started kernel that answered ``kernel_info``, ready for one job."""

    name: str
    km: AsyncKernelManager
    kc: AsyncKernelClient
    #: The kernel's working directory: the job's staging folder once taken.
    cwd: Path
    #: The OS user it runs as; None: the runner's own.
    user: KernelUser | None = None
    #: Its private folder (connection file, ``HOME``), with a kernel user; else None.
    home: Path | None = None

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
    variables: a warm kernel starts before its job's own variables are known).  With
    ``inherit_env=False`` nothing of this process's environment is passed on: a kernel's
    environment is exactly ``base_env``, the job's ``env`` and ``CUDA_VISIBLE_DEVICES``
    (with kernel users, also its own ``HOME``, ``TMPDIR``, ``USER`` and ``LOGNAME``).
    ``kernel_users``: run every kernel as an OS user of its own (None: as this process's);
    :class:`~lepton_lab.errors.InvalidInput` if this process may not switch users.
    """

    def __init__(
        self,
        staging_root: Path,
        *,
        size: int = 2,
        base_env: Mapping[str, str] = _NO_ENV,
        start_timeout: float = 60,
        inherit_env: bool = True,
        kernel_users: KernelUsers | None = None,
    ) -> None:
        self.staging_root = Path(staging_root)
        self.size = size
        self.base_env = dict(base_env)
        self.start_timeout = start_timeout
        self.inherit_env = inherit_env
        self.kernel_users = kernel_users
        notice = user_switch_notice() if kernel_users is not None else None
        if notice is not None:  # every kernel would fail to start: say why now, once
            raise InvalidInput(f"kernel users are configured, but {notice}")
        self._sealed = False
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
        cwd = self._folder(job_id, exist_ok=True)
        visible = ",".join(str(d) for d in devices)
        return await self._launch(name, cwd, {**env, "CUDA_VISIBLE_DEVICES": visible})

    async def discard(self, kernel: Kernel) -> None:
        """Kill ``kernel`` and free its resources; its folder stays (with a kernel user:
        taken back, so that only the runner may read it)."""
        kernel.kc.stop_channels()
        await kill_kernel(kernel.km)
        if kernel.user is not None:  # a cancelled caller must not leave the user taken
            await asyncio.shield(self._release(kernel.user, kernel.cwd, kernel.home))

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
            self._folder(cwd.name)
            pool.ready.append(await self._launch(name, cwd, {"CUDA_VISIBLE_DEVICES": ""}))
        except asyncio.CancelledError:
            shutil.rmtree(cwd, ignore_errors=True)
            raise
        except Exception as exc:  # the job that wants it starts its own and reports why
            log.warning("could not start a warm %s kernel: %s", name, exc)
            shutil.rmtree(cwd, ignore_errors=True)
        finally:
            pool.starting.discard(asyncio.current_task())  # type: ignore[arg-type,unused-ignore]

    def _folder(self, name: str, *, exist_ok: bool = False) -> Path:
        """A folder for a kernel under the staging root (sealed first with kernel users)."""
        if self.kernel_users is not None and not self._sealed:
            seal(self.staging_root)
            seal(self.staging_root / PRIVATE_FOLDER)
            self._sealed = True
        folder = self.staging_root / name
        folder.mkdir(parents=True, exist_ok=exist_ok)
        return folder

    async def _launch(self, name: str, cwd: Path, env: Mapping[str, str]) -> Kernel:
        user = await self._take_user()
        home: Path | None = None
        try:
            if user is not None:
                home = self._folder(f"{PRIVATE_FOLDER}/{uuid.uuid4().hex}")
                hand_over(home, user)
                hand_over(cwd, user)
            km, kc = await self._start(name, cwd, self._environment(env, user, home), user, home)
        except BaseException:
            if user is not None:
                await asyncio.shield(self._release(user, cwd, home))
            raise
        return Kernel(name, km, kc, cwd, user, home)

    async def _start(
        self,
        name: str,
        cwd: Path,
        env: Mapping[str, str],
        user: KernelUser | None,
        home: Path | None,
    ) -> tuple[AsyncKernelManager, AsyncKernelClient]:
        # CurveZMQ where the kernel supports it: nothing else on the host can read its traffic.
        km = _KernelManager(kernel_name=name, transport_encryption=_ENCRYPTION)
        as_user: dict[str, Any] = {}
        if user is not None and home is not None:
            # Its private folder: the runner's runtime folder is not the kernel user's to read.
            km.connection_file = str(home / "connection.json")
            km.owner = (user.uid, user.gid)
            as_user = {"user": user.uid, "group": user.gid, "extra_groups": []}
        kc: AsyncKernelClient | None = None
        try:
            # Popen's user/group/extra_groups: jupyter_client passes them through to it.
            await km.start_kernel(cwd=str(cwd), env=dict(env), **as_user)
            if user is not None:
                _check_runs_as(km, user)
            kc = km.client()
            kc.start_channels()
            await kc.wait_for_ready(timeout=self.start_timeout)
        except BaseException:  # cancelled or failed: leave no process behind
            if kc is not None:
                kc.stop_channels()
            await asyncio.shield(kill_kernel(km))
            raise
        kc.allow_stdin = False
        return km, kc

    def _environment(
        self, env: Mapping[str, str], user: KernelUser | None, home: Path | None
    ) -> dict[str, str]:
        """The kernel's environment: this process's (unless not inherited), then the base,
        then the job's; a kernel user's own home and name last."""
        inherited: dict[str, str] = {}
        if self.inherit_env:
            inherited = {k: v for k, v in os.environ.items() if k not in SERVER_ONLY_ENV}
        merged = {**inherited, **self.base_env, **env}
        if user is not None and home is not None:
            # The runner's HOME is not the kernel's to write (nor to read): its own, thrown
            # away with it, so that no job finds another's history, caches or temporary files.
            merged.update(HOME=str(home), TMPDIR=str(home), USER=user.name, LOGNAME=user.name)
        return merged

    async def _take_user(self) -> KernelUser | None:
        """A free kernel user (waiting for one if all are taken), or None when they are off."""
        users = self.kernel_users
        if users is None:
            return None
        user = users.take()
        if user is None:
            log.warning("all %d kernel users are taken: waiting for one", len(users.users))
        while user is None:
            await asyncio.sleep(_USER_POLL)
            user = users.take()
        return user

    async def _release(self, user: KernelUser, cwd: Path, home: Path | None) -> None:
        """Kill what the kernel left running, take its folders back, then free its user."""
        try:
            await end_processes(user)
            await asyncio.to_thread(_tidy, user, cwd, home)
        except Exception:  # reusing the user could hand its leftovers to the next job
            log.exception("kernel user %s retired: what its kernel left is not cleared", user.name)
            return
        if self.kernel_users is not None:
            self.kernel_users.release(user)

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


def _check_runs_as(km: AsyncKernelManager, user: KernelUser) -> None:
    """Fail closed when the kernel's process does not run as ``user``: a provisioner other
    than jupyter_client's local one may not pass ``user=`` on to the process it starts."""
    pid = getattr(km.provisioner, "pid", None)
    uids: list[str] = []
    if isinstance(pid, int):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:  # it died at once (waiting for it reports that), or no /proc
            return
        uids = next((ln.split()[1:] for ln in status.splitlines() if ln.startswith("Uid:")), [])
    if set(uids) != {str(user.uid)}:  # real, effective, saved and file-system uid
        raise RuntimeError(
            f"kernel {km.kernel_name!r} does not run as kernel user {user.name} (its "
            "provisioner started it another way): kernel users need kernelspecs started "
            "by jupyter_client's local provisioner"
        )


def _tidy(user: KernelUser, cwd: Path, home: Path | None) -> None:
    """Take a finished kernel's folder back, remove its private folder and its temporary
    files: the next kernel of the same OS user finds nothing of this job."""
    if cwd.exists():
        reclaim(cwd)
    if home is not None:
        shutil.rmtree(home, ignore_errors=True)
    remove_owned_temp_files(user)


class _KernelManager(AsyncKernelManager):
    """A kernel manager that gives the connection file to the kernel's own OS user."""

    #: (uid, gid) to hand the connection file to (0600); None: it stays this process's.
    owner: tuple[int, int] | None = None

    def write_connection_file(self, **kwargs: Any) -> None:
        """Write the connection file (keys included), then hand it to :attr:`owner`."""
        super().write_connection_file(**kwargs)
        if self.owner is not None:
            os.chown(self.connection_file, *self.owner)


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
