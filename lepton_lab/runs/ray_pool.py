"""Warm kernels on Ray nodes: one pool actor per node and runner, and the task's side of it.

A Ray task is a poor place for a warm pool: its worker serves any task and keeps nothing
between them.  So each runner starts, on every live node that can run jobs, a
:class:`NodePool` actor (``num_cpus=0``, pinned to that node, restarted by Ray when its
process dies) holding a :class:`~lepton_lab.runs.pool.KernelPool`: the local executor's
pool, with the runner's settings (``--pool-size`` kernels per kernelspec, its base
environment, ``inherit_env``, kernel users, preload).  A job's task asks its own node's
actor for a kernel (:class:`LendingPool`): the actor takes a warm one (or starts one, with
the GPUs Ray gave the task in ``CUDA_VISIBLE_DEVICES`` for a GPU job), renames its folder
to the job's, stops listening to it and *lends* it: the task gets the kernel's connection
(its ports and keys) and drives the notebook itself, as the local executor does.

What stays as it was:

* **One job per kernel.** A kernel is lent once; when the job ends the task gives it back
  and the actor kills it (:meth:`KernelPool.discard`).  Nothing of a job's goes to the
  actor: no code, no parameters, no environment; the job's variables (its token) reach
  the kernel when the job starts, through the bootstrap, never its launch environment.
* **Kernel users.** The actor is the one holder of its node's kernel users: no two live
  kernels of the node share one (each task holding users of its own could not know).
* **A dead task frees its kernel.** The actor watches the process of each task it lent
  a kernel to and kills the kernel when that process is gone (a worker killed by a
  forced cancel, a crash); a cancel while the kernel is on its way gives it back too.
* **A dead actor costs no job.** A task that cannot reach its node's actor starts a
  kernel of its own, as before warm pools (with kernel users it does not: users held by
  two processes could be shared, so the job goes back to the queue as lost); a job whose
  kernel died with its actor is lost, not failed, and retried while it has retries.
  Ray restarts the actor; the runner has its new pool filled at its next job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager

from lepton_lab.runs.executor import parse_preload
from lepton_lab.runs.pool import Kernel, KernelPool, kill_kernel, wait_until_ready
from lepton_lab.runs.sandbox import KernelUsers

__all__ = ["LendingPool", "LentKernelManager", "NodePool", "PoolUnavailable", "staging_root"]

log = logging.getLogger(__name__)

#: How often the actor looks for tasks that died holding a kernel.
WATCH_EVERY = 1.0
#: Seconds a task waits for its node's actor to answer (it may be restarting).
ACTOR_TIMEOUT = 120.0


class PoolUnavailable(Exception):
    """The node's pool actor cannot lend kernels now, and the task may not start its own."""


@dataclass
class _Loan:
    """A kernel lent to a task: the process that holds it, as ``(pid, start time)``
    (None where this system has no ``/proc`` to watch it by)."""

    kernel: Kernel
    holder: tuple[int, str] | None


class NodePool:
    """The Ray actor holding one runner's warm kernels on one node.

    ``settings``: ``staging_root``, ``pool_size``, ``base_env``, ``inherit_env``,
    ``kernel_users`` (the runner's setting), ``preload``, ``fork_kernels`` and
    ``kernel_names`` (pre-warmed).
    """

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self._pool = KernelPool(
            staging_root(str(settings["staging_root"])),
            size=int(settings["pool_size"]),
            base_env=settings["base_env"],
            inherit_env=bool(settings["inherit_env"]),
            kernel_users=KernelUsers.from_setting(str(settings["kernel_users"])),
            preload=parse_preload(str(settings["preload"])),
            fork=bool(settings.get("fork_kernels", True)),
        )
        self._names = tuple(settings.get("kernel_names", ()))
        self._lent: dict[str, _Loan] = {}
        self._forsaken: set[str] = set()
        self._watcher: asyncio.Task[None] | None = None
        self._counts = {"warm": 0, "started": 0}

    async def prewarm(self, kernel_names: Iterable[str] = ()) -> None:
        """Start filling the pool for ``kernel_names`` (and the runner's), in the background."""
        self._watch()
        self._pool.prewarm([*self._names, *kernel_names])

    async def acquire(
        self, loan: str, name: str, job_id: str, holder: int, devices: list[int]
    ) -> dict[str, Any] | None:
        """Lend a fresh kernel for ``job_id`` to the task in process ``holder``: its
        connection, folder and process id; None when the task gave up on it meanwhile."""
        self._watch()
        kernel = await self._pool.acquire(name, job_id, devices=tuple(devices))
        self._counts["warm" if kernel.warm else "started"] += 1
        # The task listens from now on; the actor's client would only pile up its output.
        kernel.kc.stop_channels()
        started = _started(holder)
        self._lent[loan] = _Loan(kernel, None if started is None else (holder, started))
        if loan in self._forsaken:
            await self.discard(loan)
            return None
        info = kernel.km.get_connection_info(session=False)
        return {
            "connection": dict(info),
            "kernel_name": name,
            "cwd": str(kernel.cwd),
            "pid": kernel.pid,
            "warm": kernel.warm,
            "preloaded": sorted(kernel.preloaded),
        }

    # Each call about a loan answers None when this actor does not know the loan: Ray
    # restarted it since, and the kernel died with its previous process.

    async def is_alive(self, loan: str) -> bool | None:
        """Whether the lent kernel's process runs."""
        lent = self._lent.get(loan)
        return None if lent is None else bool(await lent.kernel.km.is_alive())

    async def interrupt(self, loan: str) -> bool | None:
        """Interrupt the lent kernel (a job past its deadline)."""
        lent = self._lent.get(loan)
        if lent is None:
            return None
        await lent.kernel.km.interrupt_kernel()
        return True

    async def kill(self, loan: str) -> bool | None:
        """Kill the lent kernel's process now; the loan stays until :meth:`discard`."""
        lent = self._lent.get(loan)
        if lent is None:
            return None
        await kill_kernel(lent.kernel.km)
        return True

    async def discard(self, loan: str) -> bool | None:
        """The job ended (or gave up on the kernel): kill it and free what it held."""
        self._forsaken.discard(loan)
        lent = self._lent.pop(loan, None)
        if lent is None:
            return None
        await self._pool.discard(lent.kernel)
        return True

    async def forsake(self, loan: str) -> None:
        """The task stopped waiting for ``loan``: discard the kernel now or once lent."""
        if loan in self._lent:
            await self.discard(loan)
        else:
            self._forsaken.add(loan)

    async def add_preload(self, name: str, modules: list[str]) -> None:
        """What a job's notebook declares or a job imported: ``name``'s next warm kernels
        import it too (:meth:`KernelPool.add_preload`)."""
        self._pool.add_preload(name, modules)

    async def stats(self) -> dict[str, Any]:
        """Kernels lent warm and started for their job so far, those lent now (their
        process ids) and those ready per kernelspec."""
        names = {*self._names, *(lent.kernel.name for lent in self._lent.values())}
        return {
            **self._counts,
            "lent": [lent.kernel.pid for lent in self._lent.values()],
            "ready": {name: self._pool.ready(name) for name in sorted(names)},
            "node_pid": os.getpid(),
        }

    async def close(self) -> None:
        """Kill every kernel: the warm ones and those still lent (the runner is stopping)."""
        if self._watcher is not None:
            self._watcher.cancel()
        for loan in list(self._lent):
            await self.discard(loan)
        await self._pool.close()

    def _watch(self) -> None:
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch_loop())

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(WATCH_EVERY)
            for loan, lent in list(self._lent.items()):
                if lent.holder is None:
                    continue
                pid, started = lent.holder
                if _started(pid) != started:  # the task's process died (or is another now)
                    log.warning("the task holding kernel %s died: kernel killed", lent.kernel.cwd)
                    try:
                        await self.discard(loan)
                    except Exception:  # the next round tries again
                        log.exception("could not discard kernel %s", lent.kernel.cwd)


class LentKernelManager(AsyncKernelManager):
    """A kernel manager, in the task, for a kernel its node's actor lent it: whether it
    lives, interrupting and killing it are asked of the actor.

    When the actor cannot be reached or no longer knows the kernel (it died: the kernel
    is an orphan), the kernel's process is killed from here; :attr:`orphaned` says so.
    """

    def __init__(self, actor: Any, loan: str, pid: int | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.actor, self.loan, self.kernel_pid = actor, loan, pid
        self.orphaned = False
        self._ended = False

    @property
    def has_kernel(self) -> bool:
        """True until the kernel was killed or given back."""
        return not self._ended

    async def is_alive(self) -> bool:  # type: ignore[override]
        """Whether the kernel's process runs (asked of the actor)."""
        return await self._async_is_alive()

    async def _async_is_alive(self) -> bool:
        # What the manager's clients call (jupyter_client's own name for it).
        if self._ended:
            return False
        try:
            return bool(await self._ask("is_alive"))
        except PoolUnavailable:  # an orphan: nothing frees what it holds; end it now
            _kill(self.kernel_pid)
            return False

    async def interrupt_kernel(self) -> None:  # type: ignore[override]
        """Interrupt the kernel (its actor sends the signal or message)."""
        with contextlib.suppress(PoolUnavailable):
            await self._ask("interrupt")

    async def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:  # type: ignore[override]
        """Kill the kernel at once (a lent kernel never gets a clean exit: it served)."""
        try:
            await self._ask("kill")
        except PoolUnavailable:
            _kill(self.kernel_pid)
        self._ended = True

    async def cleanup_resources(self, restart: bool = False) -> None:  # type: ignore[override]
        """Nothing here: the actor owns the kernel's files."""

    async def give_back(self) -> None:
        """The job ended: the actor kills the kernel and frees what it held."""
        self._ended = True
        try:
            await self._ask("discard")
        except PoolUnavailable:
            _kill(self.kernel_pid)

    async def _ask(self, method: str) -> Any:
        if self.orphaned:
            raise PoolUnavailable("the node's pool actor died")
        try:
            answer = await _call(getattr(self.actor, method), self.loan)
            if answer is None:  # the actor was restarted: the kernel died with the old one
                raise PoolUnavailable("the node's kernel pool actor died and was restarted")
        except PoolUnavailable as exc:
            log.warning("job's kernel: %s", exc)
            self.orphaned = True
            raise
        return answer


class LendingPool(KernelPool):
    """The task's pool: kernels borrowed from its node's :class:`NodePool` actor.

    When the actor cannot be reached, a kernel is started here, as without warm pools,
    unless kernel users are configured (:class:`PoolUnavailable`: only the actor may hand
    out its node's users).  A job's own variables are never given to a kernel's launch:
    the bootstrap sets them when the job starts.
    """

    def __init__(self, actor: Any, staging_root: Path, **options: Any) -> None:
        super().__init__(staging_root, size=0, **options)
        self.actor = actor
        #: Whether the last kernel came warm from the actor.
        self.warm = False
        #: Why the job is lost rather than failed (the actor died), else None.
        self.lost: str | None = None

    async def acquire(
        self,
        name: str,
        job_id: str,
        *,
        devices: tuple[int, ...] = (),
        env: Mapping[str, str] | None = None,
    ) -> Kernel:
        """A kernel from the node's actor, else one started here (see the class)."""
        if self.actor is not None:
            try:
                return await self._borrow(name, job_id, devices)
            except PoolUnavailable as exc:
                if self.kernel_users is not None:
                    self.lost = f"{exc}; with kernel users a task starts no kernel of its own"
                    raise
                log.warning("job %s: starting a kernel of its own", job_id)
        return await super().acquire(name, job_id, devices=devices)

    async def discard(self, kernel: Kernel) -> None:
        """Give a borrowed kernel back to the actor, or kill one started here."""
        if not isinstance(kernel.km, LentKernelManager):
            await super().discard(kernel)
            return
        kernel.kc.stop_channels()
        await kernel.km.give_back()
        if kernel.km.orphaned:
            self.lost = "the job's kernel died with its node's kernel pool actor"

    def add_preload(self, name: str, modules: Iterable[str]) -> None:
        """Tell the actor: its next warm kernels of ``name`` import ``modules`` too."""
        if self.actor is not None:
            self.actor.add_preload.remote(name, list(modules))

    async def _borrow(self, name: str, job_id: str, devices: tuple[int, ...]) -> Kernel:
        loan = uuid.uuid4().hex
        try:
            lent = await _call(self.actor.acquire, loan, name, job_id, os.getpid(), list(devices))
        except BaseException:  # cancelled, or the actor died: a kernel lent late goes back
            with contextlib.suppress(Exception):
                self.actor.forsake.remote(loan)
            raise
        if lent is None:
            raise PoolUnavailable("the node's pool actor gave the kernel up")
        km = LentKernelManager(self.actor, loan, lent["pid"], kernel_name=name)
        km.load_connection_info(lent["connection"])
        # The manager's client: it asks the manager (the actor) whether the kernel lives,
        # rather than waiting for heartbeats first, as a client of no manager would.
        kc: AsyncKernelClient = km.client()
        try:
            kc.start_channels()
            # One kernel_info round trip, and one message on IOPub: listening from here.
            await wait_until_ready(kc, self.start_timeout)
        except BaseException:
            kc.stop_channels()
            await asyncio.shield(km.give_back())
            raise
        kc.allow_stdin = False
        self.warm = bool(lent["warm"])
        return Kernel(name, km, kc, Path(lent["cwd"]), preloaded=frozenset(lent["preloaded"]))


async def _call(method: Any, *args: Any) -> Any:
    """``method.remote(*args)``'s result; :class:`PoolUnavailable` when the actor died or
    did not answer in :data:`ACTOR_TIMEOUT`, the error itself when the call raised one."""
    from ray.exceptions import RayActorError, RayTaskError

    ref = method.remote(*args)
    try:
        return await asyncio.wait_for(asyncio.wrap_future(ref.future()), ACTOR_TIMEOUT)
    except RayTaskError as exc:  # e.g. the kernel could not start: what the local pool says
        cause = exc.cause
        raise (cause if isinstance(cause, Exception) else RuntimeError(str(exc))) from None
    except (RayActorError, TimeoutError) as exc:
        raise PoolUnavailable(f"the node's kernel pool actor died ({type(exc).__name__})") from exc


def _started(pid: int | None) -> str | None:
    """The process's start time (its ``/proc`` stat field), None when it does not run."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    if fields and fields[0] == "Z":  # a zombie: dead, not yet reaped
        return None
    return fields[19] if len(fields) > 19 else ""


def staging_root(wanted: str) -> Path:
    """The runner's staging folder when this node can write there (a shared file system,
    or the runner's own machine), else one under this node's temporary folder."""
    root = Path(wanted)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fallback = Path(tempfile.gettempdir()) / "lepton-lab-jobs"
        log.warning("cannot write %s on this Ray node (%s); staging in %s", root, exc, fallback)
        fallback.mkdir(parents=True, exist_ok=True)
        return fallback
    return root


def _kill(pid: int | None) -> None:
    if pid is not None:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
