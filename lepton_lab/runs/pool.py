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

With ``preload`` a warm kernel imports, before any job is given to it, the modules its
kernelspec's jobs import (what templates declare and earlier jobs imported:
:meth:`KernelPool.add_preload`), as its own user, each in its own try
(:func:`~lepton_lab.runs.bootstrap.preload`).  It does so while no kernel of the pool runs
a job, so that importing never takes CPU from a running job; a job that comes meanwhile
waits for the imports it would otherwise do itself.  Nothing of any job's reaches a warm
kernel: a job's code, parameters and data only ever go to the one kernel that runs it.

With ``fork`` (the default) warm kernels are forked from a fork server per kernelspec
(:mod:`~lepton_lab.runs.forking`): the same fresh kernel, started in a tenth of the CPU.
Kernels started for a job (its GPUs, or no warm one left) are started by ``exec``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
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
from lepton_lab.runs.bootstrap import is_module_name, parse_module_names, preload_request
from lepton_lab.runs.forking import ForkedProvisioner, ForkServers, forkable, supported
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

__all__ = ["MAX_PRELOAD", "Kernel", "KernelPool", "ask", "kill_kernel", "wait_until_ready"]

log = logging.getLogger(__name__)

_NO_ENV: Mapping[str, str] = MappingProxyType({})
_ENCRYPTION = "auto" if zmq.has("curve") else "disabled"
#: The staging root's folder of kernels' private folders (connection file, HOME, TMPDIR).
PRIVATE_FOLDER = ".kernels"
#: Seconds between two looks for a free kernel user when every one is taken.
_USER_POLL = 0.05
#: The most modules one kernelspec's warm kernels pre-import (declared and learned).
MAX_PRELOAD = 2048
#: Seconds a warm kernel may take to pre-import its modules; past it they are given up.
PRELOAD_TIMEOUT = 120.0


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
    #: The modules it imported before its job (none: started for its job, or preload off).
    preloaded: frozenset[str] = frozenset()
    #: Whether it was started warm, before its job was known (not for its job).
    warm: bool = False

    @property
    def pid(self) -> int | None:
        """The kernel process id (a local kernel's), if known."""
        pid = getattr(self.km.provisioner, "pid", None)
        return pid if isinstance(pid, int) else None


@dataclass
class _Warm:
    """The kernels kept for one kernel name."""

    ready: deque[Kernel] = field(default_factory=deque)
    #: Kernels on their way to ``ready``: starting, or importing more modules.
    starting: set[asyncio.Task[None]] = field(default_factory=set)
    #: The modules its kernels pre-import, in order; and those that failed to (never again).
    preload: list[str] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)


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
    ``preload``: the modules every warm kernel imports before its job, more added with
    :meth:`add_preload` (None: warm kernels import nothing, and nothing can be added).
    ``fork``: warm kernels are forked from a process per kernelspec that imported
    ipykernel once (:mod:`~lepton_lab.runs.forking`) where they can be; False: all exec'd.
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
        preload: Iterable[str] | None = None,
        fork: bool = True,
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
        self._preload = None if preload is None else tuple(preload)
        self._in_use = 0  # kernels handed out and not yet discarded
        self._forks = ForkServers(start_timeout) if fork and supported() else None

    def prewarm(self, kernel_names: Iterable[str]) -> None:
        """Start filling the pools for ``kernel_names`` (call it on the running event loop)."""
        for name in kernel_names:
            self._fill(name)

    def add_preload(self, name: str, modules: Iterable[str]) -> None:
        """Have ``name``'s warm kernels import ``modules`` too before their jobs (names
        already there, refused earlier, not dotted names or past :data:`MAX_PRELOAD` are
        left out); the kernels already warm import them now, in the background."""
        if self._preload is None or self._closed:
            return
        pool = self._pool(name)
        known = set(pool.preload) | pool.refused
        added = False
        for module in modules:
            if len(pool.preload) >= MAX_PRELOAD:
                break
            if module not in known and is_module_name(module):
                pool.preload.append(module)
                known.add(module)
                added = True
        if added:
            self._preload_ready()

    def preloads(self, name: str) -> tuple[str, ...]:
        """The modules ``name``'s warm kernels import before their jobs."""
        pool = self._warm.get(name)
        return tuple(pool.preload) if pool is not None else self._preload or ()

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
                self._in_use += 1
                self._fill(name)
                return kernel
        cwd = self._folder(job_id, exist_ok=True)
        visible = ",".join(str(d) for d in devices)
        kernel = await self._launch(name, cwd, {**env, "CUDA_VISIBLE_DEVICES": visible})
        self._in_use += 1
        return kernel

    async def discard(self, kernel: Kernel) -> None:
        """Kill ``kernel`` (one :meth:`acquire` gave) and free its resources; its folder
        stays (with a kernel user: taken back, so that only the runner may read it)."""
        self._in_use -= 1
        try:
            await self._kill(kernel)
        finally:
            self._preload_ready()

    async def _kill(self, kernel: Kernel) -> None:
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
                await self._throw_away(pool.ready.popleft())
        if self._forks is not None:
            await self._forks.close()

    async def _throw_away(self, kernel: Kernel) -> None:
        """Discard a kernel no job had, and its folder."""
        await self._kill(kernel)
        shutil.rmtree(kernel.cwd, ignore_errors=True)

    async def _take_warm(self, name: str) -> Kernel | None:
        pool = self._fill(name)
        while True:
            while pool.ready:
                kernel = pool.ready.popleft()
                if await kernel.km.is_alive():
                    return kernel
                log.warning("warm %s kernel in %s died while waiting; discarded", name, kernel.cwd)
                await self._throw_away(kernel)
            if not pool.starting:
                return None
            # One on its way is sooner than starting another.
            await asyncio.wait(set(pool.starting), return_when=asyncio.FIRST_COMPLETED)

    def _pool(self, name: str) -> _Warm:
        pool = self._warm.get(name)
        if pool is None:
            pool = self._warm[name] = _Warm(preload=list(self._preload or ()))
        return pool

    def _fill(self, name: str) -> _Warm:
        """Start kernels until ``size`` are ready or on their way.  With preloading, while
        a job runs and another warm kernel is left, not yet: starting one (and its imports)
        would take CPU from the job; :meth:`_preload_ready` fills the pool once idle."""
        pool = self._pool(name)
        if self._preload is not None and self._in_use > 0 and (pool.ready or pool.starting):
            return pool
        while not self._closed and len(pool.ready) + len(pool.starting) < self.size:
            task = asyncio.create_task(self._start_warm(name, pool))
            pool.starting.add(task)
        return pool

    async def _start_warm(self, name: str, pool: _Warm) -> None:
        cwd = self.staging_root / f".warm-{uuid.uuid4().hex[:12]}"
        try:
            self._folder(cwd.name)
            kernel = await self._launch(name, cwd, {"CUDA_VISIBLE_DEVICES": ""}, fork=True)
            kernel.warm = True
        except asyncio.CancelledError:
            shutil.rmtree(cwd, ignore_errors=True)
            raise
        except Exception as exc:  # the job that wants it starts its own and reports why
            log.warning("could not start a warm %s kernel: %s", name, exc)
            shutil.rmtree(cwd, ignore_errors=True)
        else:
            pool.ready.append(kernel)
            self._preload_ready()
        finally:
            pool.starting.discard(asyncio.current_task())  # type: ignore[arg-type,unused-ignore]

    def _preload_ready(self) -> None:
        """While no kernel runs a job, have the ready kernels import what they lack (each
        is on its way again meanwhile: a job that wants one waits for it)."""
        if self._preload is None or self._closed or self._in_use > 0:
            return
        for name, pool in list(self._warm.items()):
            self._fill(name)
            lacking = [k for k in pool.ready if not set(pool.preload) <= k.preloaded]
            for kernel in lacking:
                pool.ready.remove(kernel)
                pool.starting.add(asyncio.create_task(self._top_up(kernel, pool)))

    async def _top_up(self, kernel: Kernel, pool: _Warm) -> None:
        try:
            await self._ready(kernel, pool)
        finally:
            pool.starting.discard(asyncio.current_task())  # type: ignore[arg-type,unused-ignore]

    async def _ready(self, kernel: Kernel, pool: _Warm) -> None:
        """Have ``kernel`` import what ``pool``'s kernels pre-import, then make it ready; one
        that failed to (or was cancelled meanwhile) is thrown away."""
        try:
            await self._preload_into(kernel, pool)
        except BaseException as exc:
            await asyncio.shield(self._throw_away(kernel))
            if not isinstance(exc, Exception):
                raise
            log.warning("warm %s kernel could not pre-import its modules: %r", kernel.name, exc)
            return
        pool.ready.append(kernel)
        self._preload_ready()  # names added while it was importing

    async def _preload_into(self, kernel: Kernel, pool: _Warm) -> None:
        """Import, in ``kernel``, the modules of ``pool.preload`` it has not imported yet;
        those that fail (or hang past :data:`PRELOAD_TIMEOUT`) are never tried again."""
        missing = [m for m in pool.preload if m not in kernel.preloaded]
        if not missing:
            return
        code, expressions = preload_request(missing)
        try:
            reply = await ask(kernel.kc, code, expressions, PRELOAD_TIMEOUT)
        except (TimeoutError, RuntimeError):  # hung, or the kernel died importing them
            self._refuse(pool, missing)
            raise
        failed = parse_module_names(reply.get("user_expressions", {}), "failed")
        if reply.get("status") != "ok":
            failed = missing
        if failed:
            log.info("%s kernels will not pre-import %s: they failed to", kernel.name, failed)
            self._refuse(pool, failed)
        kernel.preloaded |= set(missing) - set(failed)

    @staticmethod
    def _refuse(pool: _Warm, modules: Iterable[str]) -> None:
        pool.refused.update(modules)
        pool.preload = [m for m in pool.preload if m not in pool.refused]

    def _folder(self, name: str, *, exist_ok: bool = False) -> Path:
        """A folder for a kernel under the staging root (sealed first with kernel users)."""
        if self.kernel_users is not None and not self._sealed:
            seal(self.staging_root)
            seal(self.staging_root / PRIVATE_FOLDER)
            self._sealed = True
        folder = self.staging_root / name
        folder.mkdir(parents=True, exist_ok=exist_ok)
        return folder

    async def _launch(
        self, name: str, cwd: Path, env: Mapping[str, str], *, fork: bool = False
    ) -> Kernel:
        user = await self._take_user()
        home: Path | None = None
        try:
            if user is not None:
                home = self._folder(f"{PRIVATE_FOLDER}/{uuid.uuid4().hex}")
                hand_over(home, user)
                hand_over(cwd, user)
            environment = self._environment(env, user, home)
            km, kc = await self._start(name, cwd, environment, user, home, fork=fork)
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
        *,
        fork: bool = False,
    ) -> tuple[AsyncKernelManager, AsyncKernelClient]:
        # CurveZMQ where the kernel supports it: nothing else on the host can read its traffic.
        km = _KernelManager(kernel_name=name, transport_encryption=_ENCRYPTION)
        spec = km.kernel_spec
        if fork and self._forks is not None and spec is not None and forkable(spec):
            km.kernel_id = str(uuid.uuid4())
            provisioner = ForkedProvisioner(kernel_id=km.kernel_id, kernel_spec=spec, parent=km)
            provisioner.servers = self._forks
            km.provisioner = provisioner
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
            await wait_until_ready(kc, self.start_timeout)
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


async def ask(
    kc: AsyncKernelClient, code: str, expressions: Mapping[str, str], timeout: float
) -> dict[str, Any]:
    """Run ``code`` silently (no history, no output anyone reads) and evaluate
    ``expressions``; the execute reply's content.  ``TimeoutError`` past ``timeout``,
    ``RuntimeError`` when the kernel died meanwhile."""
    msg_id = kc.execute(code, silent=True, store_history=False, user_expressions=dict(expressions))
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            reply = await kc.get_shell_msg(timeout=min(1.0, timeout))
        except queue.Empty:
            if not await kc.is_alive():
                raise RuntimeError("the kernel died") from None
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no reply in {timeout:g} s") from None
            continue
        if reply["parent_header"].get("msg_id") == msg_id:
            return dict(reply["content"])


async def wait_until_ready(kc: AsyncKernelClient, timeout: float) -> None:
    """Until the kernel answered ``kernel_info`` on its shell channel and a message came on
    IOPub (the subscription is live: no output of the job's first cell can be missed).

    ``wait_for_ready`` without its end: jupyter_client then waits until IOPub has been
    silent for 0.2 s, on the path of every job that takes a lent kernel.  What is left on
    IOPub (the kernel_info's status) answers no request of the job's, so the job's
    client passes over it.  ``RuntimeError`` when the kernel died or ``timeout`` passed.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        kc.kernel_info()
        try:
            reply = await kc.get_shell_msg(timeout=1)
        except queue.Empty:
            reply = None
        # Any kernel_info reply (an earlier request's too: asking again after one went
        # unanswered on IOPub, each reply would be the previous request's).
        if reply is not None and reply["msg_type"] == "kernel_info_reply":
            try:
                await kc.get_iopub_msg(timeout=0.2)
            except queue.Empty:  # not subscribed yet: ask again
                pass
            else:
                kc._handle_kernel_info_reply(reply)  # the protocol version, as jupyter_client
                return
        if not await kc.is_alive():
            raise RuntimeError("Kernel died before replying to kernel_info")
        if loop.time() > deadline:
            raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")


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
