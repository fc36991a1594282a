"""The ray executor: each job a Ray task on a cluster that allots its GPUs.

    lepton-lab runner --executor ray --address 10.0.0.5:6379

The runner stays what it is (claims, leases, heartbeats, the database as the one record
of a job's state); only running the notebook moves to a Ray worker
(:mod:`lepton_lab.runs.ray_task`).  Each job is one task with ``num_gpus`` = the job's
GPUs and ``num_cpus=1``; Ray picks the node and sets ``CUDA_VISIBLE_DEVICES``.  The
job's kernel is lent by a pool actor the runner keeps on each node that can run jobs
(:mod:`lepton_lab.runs.ray_pool`): warm, as the local executor's, for jobs without GPUs.  Ray never
retries a task (``max_retries=0``): when a worker or node dies the runner requeues the
job or marks it ``lost`` from the job's ``retries``, as it does for a dead runner.

Before a job is submitted, and every few seconds while Ray has not started it, the
cluster's live nodes are checked: a job that no node could hold fails as
``unschedulable`` instead of waiting in Ray's queue forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import ipaddress
import logging
import os
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import nbformat

from lepton_lab.errors import InvalidInput
from lepton_lab.runs.executor import Outcome, RunEvents, RunSpec, notebook_bytes
from lepton_lab.runs.executors import ExecutorOptions, WorkerLost
from lepton_lab.runs.info import RecordInfo

__all__ = ["CANCEL_GRACE", "RAY_MISSING", "RayExecutor"]

log = logging.getLogger(__name__)

RAY_MISSING = "the ray executor needs Ray: pip install 'lepton-lab[ray]'"
#: Seconds a cancelled job's task gets to stop its kernel before its worker is killed.
CANCEL_GRACE = 10.0
#: How often the runner collects the events its jobs posted.
_DRAIN_EVERY = 0.2
#: How often a job Ray has not started yet is checked against the live nodes.
_RECHECK_EVERY = 5.0
#: Seconds the pool actors get to stop their kernels when the runner stops.
_POOL_CLOSE_TIMEOUT = 30.0
#: Ray's switch between its single-machine ("0") and multi-node modes.
_SINGLE_MACHINE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"

# One Ray connection per process, shared by the runners in it (tests run several).
_connection_lock = threading.Lock()
_connection_users = 0
_connection_owned = False


class RayExecutor:
    """Runs each job as a Ray task on the cluster at ``options.address``.

    ``address`` is what ``ray.init`` takes: ``HOST:PORT`` of the cluster's GCS (the runner's
    machine is then a node of the cluster), ``auto`` (the cluster this machine joined with
    ``ray start``) or ``ray://HOST:10001`` (Ray Client); empty means ``RAY_ADDRESS``.
    """

    #: Ray assigns GPUs; the runner does not count its own.
    allots_gpus = True

    def __init__(self, options: ExecutorOptions) -> None:
        self.address = options.address or os.environ.get("RAY_ADDRESS", "")
        if not self.address:
            raise InvalidInput(
                "the ray executor needs the cluster's address: --address HOST:PORT "
                "(LEPTON_LAB_RAY_ADDRESS, c.LeptonLabApp.ray_address or RAY_ADDRESS)"
            )
        # Ray replaces a loopback address with this machine's network address unless told
        # the cluster is a single machine: a loopback cluster then stays on loopback.
        # (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=1 set by hand keeps Ray's own behaviour.)
        loopback = _is_loopback(self.address)
        if loopback:
            os.environ.setdefault(_SINGLE_MACHINE, "0")
        self._ray = require_ray()
        if loopback and os.environ[_SINGLE_MACHINE] == "0" and _multi_node_mode(self._ray):
            raise InvalidInput(
                f"Ray was imported before the runner could keep {self.address} on loopback; "
                "set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 before importing ray, or start the "
                "runner in a process of its own (lepton-lab runner)"
            )
        self.options = options
        self._mailbox: Any = None
        self._task: Any = None
        self._drainer: asyncio.Task[None] | None = None
        self._drain_lock = asyncio.Lock()
        self._connect_lock = asyncio.Lock()
        self._events: dict[str, RunEvents] = {}
        self._started: set[str] = set()
        self._refs: dict[str, Any] = {}
        self._closed = False
        #: The kernel pool actor of each node that can run jobs, by node id.
        self._pools: dict[str, Any] = {}
        self._pool_class: Any = None
        self._kernel_names: tuple[str, ...] = ()
        self._id = uuid.uuid4().hex[:8]  # names this runner's actors in Ray's listings
        self._warming: list[Any] = []  # tasks that start Ray workers ahead of jobs

    async def prewarm(self, kernel_names: Iterable[str]) -> None:
        """Connect to the cluster, have each node's pool actor start warm kernels, and as
        many Ray workers as jobs run at once import the task's code."""
        self._kernel_names = tuple(kernel_names)
        await self._connect()
        self._keep_pools(await asyncio.to_thread(self._live_nodes))
        from lepton_lab.runs.ray_task import warm_worker

        # Ray starts a worker process for a task when none is idle; one started here has
        # imported what a job's task needs (seconds on a busy node) before a job comes.
        warm = self._ray.remote(warm_worker).options(num_cpus=1, max_retries=0)
        self._warming = [warm.remote() for _ in range(self.options.concurrency)]

    async def run(self, spec: RunSpec, events: RunEvents, cancel: asyncio.Event) -> Outcome:
        """Run ``spec`` as a Ray task; raise :class:`WorkerLost` when its worker died."""
        await self._connect()
        nodes = await asyncio.to_thread(self._live_nodes)
        self._keep_pools(nodes)
        unfit = self._unfit(spec.gpus, nodes)
        if unfit is not None:
            return self._unstarted(spec, "failed", unfit)
        job_id = spec.job_id
        self._events[job_id] = events
        events.progress(0, 0, "waiting for a Ray worker")
        ref = self._task.options(
            num_gpus=spec.gpus, num_cpus=1, max_retries=0, name=f"lepton-lab job {job_id}"
        ).remote(self._payload(spec), self._mailbox)
        self._refs[job_id] = ref
        try:
            return await self._wait(spec, ref, cancel)
        finally:
            if not ref.future().done():  # the runner itself is stopping
                self._ray.cancel(ref, force=True)
            with contextlib.suppress(Exception):
                await self._drain()  # the job's last events, posted before it returned
            if self._mailbox is not None:  # None once closed
                self._mailbox.forget.remote(job_id)
            self._events.pop(job_id, None)
            self._started.discard(job_id)
            self._refs.pop(job_id, None)

    async def close(self) -> None:
        """Stop the jobs still running, the pools' kernels, the mailbox, and this runner's
        use of Ray."""
        self._closed = True
        if self._mailbox is None:
            return
        for ref in list(self._refs.values()):
            self._ray.cancel(ref, force=True)
        if self._drainer is not None:
            self._drainer.cancel()
        await self._close_pools()
        self._ray.kill(self._mailbox)
        self._mailbox = None
        await asyncio.to_thread(_disconnect, self._ray)

    # -- connecting -----------------------------------------------------------------------

    async def _connect(self) -> None:
        async with self._connect_lock:  # jobs starting together connect once
            if self._mailbox is None:
                await self._open()

    async def _open(self) -> None:
        if self._closed:
            raise RuntimeError("the ray executor was closed")
        await asyncio.to_thread(_connect, self._ray, self.address)
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from lepton_lab.runs.ray_pool import NodePool
        from lepton_lab.runs.ray_task import Mailbox, run_job

        # On the runner's own node when it is one: the mailbox lives and dies with it.
        here = self._ray.get_runtime_context().get_node_id()
        near = NodeAffinitySchedulingStrategy(here, soft=True)
        actor = self._ray.remote(num_cpus=0, max_restarts=0)(Mailbox)
        self._mailbox = actor.options(scheduling_strategy=near).remote()
        self._task = self._ray.remote(run_job)
        self._pool_class = self._ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0)(
            NodePool
        )
        self._drainer = asyncio.create_task(self._drain_loop())
        log.info("ray executor: connected to %s", self.cluster)

    @property
    def cluster(self) -> str:
        """The cluster's GCS address as Ray reports it (for messages)."""
        try:
            return str(self._ray.get_runtime_context().gcs_address)
        except Exception:  # not connected, or a Ray Client connection
            return self.address

    def _payload(self, spec: RunSpec) -> dict[str, Any]:
        return {
            "job_id": spec.job_id,
            "notebook": notebook_bytes(spec.notebook).decode("utf-8"),
            "parameters": spec.parameters,
            "kernel": spec.kernel,
            "seed": spec.seed,
            "user": spec.user,
            "timeout": spec.timeout,
            # The kernel starts with base_env; the job's own variables (its token) are set
            # when the job starts, so they are never in the kernel process's environ.
            "base_env": dict(self.options.base_env),
            "env": dict(spec.env),
            # Shared mode: the kernel gets the allow-listed variables and the job token,
            # nothing of the Ray worker's own, and stages the pinned datasets itself.
            "inherit_env": self.options.inherit_env,
            "kernel_users": self.options.kernel_users,
            "stage": [list(pin) for pin in spec.stage],
            "staging_root": str(self.options.staging_root),
            "preload": self.options.preload,
            # Each node's pool actor: the task borrows its kernel from its own node's.
            "pools": dict(self._pools),
        }

    # -- the nodes' kernel pools ----------------------------------------------------------

    def _keep_pools(self, nodes: list[dict[str, Any]]) -> None:
        """A pool actor on each live node that can run a job (one CPU); none on the rest."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if self._pool_class is None:  # closed meanwhile
            return
        fit = {n["NodeID"] for n in nodes if n.get("Resources", {}).get("CPU", 0) >= 1}
        for node_id in set(self._pools) - fit:  # the node left: Ray ends its actor with it
            with contextlib.suppress(Exception):
                self._ray.kill(self._pools.pop(node_id), no_restart=True)
        for node_id in fit - set(self._pools):
            here = NodeAffinitySchedulingStrategy(node_id, soft=False)
            self._pools[node_id] = self._pool_class.options(
                scheduling_strategy=here, name=f"lepton-lab-kernels-{self._id}-{node_id[:12]}"
            ).remote(self._pool_settings())
        # Each time: an actor Ray restarted since starts filling its pool now, not once a
        # job reaches its node (for the others it is a no-op, not waited for).
        for actor in self._pools.values():
            actor.prewarm.remote()

    def _pool_settings(self) -> dict[str, Any]:
        options = self.options
        return {
            "staging_root": str(options.staging_root),
            "pool_size": options.pool_size,
            "base_env": dict(options.base_env),
            "inherit_env": options.inherit_env,
            "kernel_users": options.kernel_users,
            "preload": options.preload,
            "fork_kernels": options.fork_kernels,
            "kernel_names": list(self._kernel_names),
        }

    async def _close_pools(self) -> None:
        """Have every pool actor kill its kernels, then end the actors."""
        pools, self._pools, self._pool_class = list(self._pools.values()), {}, None
        closing = [asyncio.wrap_future(actor.close.remote().future()) for actor in pools]
        if closing:
            done, late = await asyncio.wait(closing, timeout=_POOL_CLOSE_TIMEOUT)
            for task in late:
                task.cancel()
            for task in done:
                if task.exception() is not None:
                    log.warning("ray executor: a pool actor did not close: %r", task.exception())
        for actor in pools:
            with contextlib.suppress(Exception):
                self._ray.kill(actor, no_restart=True)

    # -- while it runs --------------------------------------------------------------------

    async def _wait(self, spec: RunSpec, ref: Any, cancel: asyncio.Event) -> Outcome:
        result = asyncio.wrap_future(ref.future())
        waiter = asyncio.create_task(cancel.wait())
        try:
            while not result.done() and not cancel.is_set():
                await asyncio.wait(
                    {result, waiter}, timeout=_RECHECK_EVERY, return_when=asyncio.FIRST_COMPLETED
                )
                if result.done() or cancel.is_set() or spec.job_id in self._started:
                    continue
                unfit = self._unfit(spec.gpus, await asyncio.to_thread(self._live_nodes))
                if unfit is not None:  # a node left while the job waited for it
                    await self._stop(spec.job_id, ref, result, force=True)
                    return self._unstarted(spec, "failed", unfit)
        finally:
            waiter.cancel()
        if not result.done():
            started = spec.job_id in self._started
            await self._stop(spec.job_id, ref, result, force=not started)
        return self._outcome(spec, result, cancel.is_set())

    async def _stop(
        self, job_id: str, ref: Any, result: asyncio.Future[Any], *, force: bool
    ) -> None:
        """Cancel the task: ask it to stop its kernel, kill its worker if it does not."""
        if not force:
            await self._mailbox.cancel.remote(job_id)
            await asyncio.wait({result}, timeout=CANCEL_GRACE)
        if not result.done():
            self._ray.cancel(ref, force=True)  # the orphaned kernel exits with its worker
            await asyncio.wait({result}, timeout=60)

    def _outcome(self, spec: RunSpec, result: asyncio.Future[Any], cancelled: bool) -> Outcome:
        """The task's outcome, or what its Ray error means for the job."""
        errors = self._ray.exceptions
        try:
            data = result.result()
        except errors.TaskCancelledError:
            message = "cancelled; its Ray worker was stopped" + _before(spec, self._started)
            return self._unstarted(spec, "cancelled", {"kind": "cancelled", "message": message})
        except errors.OutOfMemoryError as exc:
            message = f"Ray's memory monitor killed the job's worker (the node ran low): {exc}"
            return self._unstarted(spec, "failed", {"kind": "kernel_died", "message": message})
        except (
            errors.WorkerCrashedError,
            errors.NodeDiedError,
            errors.LocalRayletDiedError,
            errors.ObjectLostError,
            errors.RaySystemError,
        ) as exc:
            if cancelled:
                message = "cancelled; its Ray worker was killed"
                return self._unstarted(spec, "cancelled", {"kind": "cancelled", "message": message})
            raise WorkerLost(f"its Ray worker died ({type(exc).__name__})") from exc
        except errors.RayTaskError as exc:  # the task itself failed: not the notebook's fault
            message = (
                f"the job's Ray task failed: {exc.cause!r}; the Ray workers need the same "
                "lepton-lab version as the runner, and the workspace's database and blob store"
            )
            return self._unstarted(spec, "failed", {"kind": "worker_error", "message": message})
        if "lost" in data:  # its kernel's pool actor died: not the job's fault
            raise WorkerLost(data["lost"])
        saved = data["notebook"]
        notebook = nbformat.reads(saved.decode("utf-8"), as_version=4)  # type: ignore[no-untyped-call]
        return Outcome(
            data["status"],
            data["reason"],
            notebook,
            saved,
            Path(data["staging"]),
            data["kernel_info"],
            data["placement"],
        )

    def _unstarted(self, spec: RunSpec, status: str, reason: dict[str, Any]) -> Outcome:
        """An outcome with the snapshot as the output notebook (the job never ran on Ray)."""
        staging = self.options.staging_root / spec.job_id
        return Outcome(status, reason, spec.notebook, notebook_bytes(spec.notebook), staging, {})

    def _live_nodes(self) -> list[dict[str, Any]]:
        """The cluster's live nodes, as ``ray.nodes()`` describes them (blocks: a thread)."""
        return [n for n in self._ray.nodes() if n.get("Alive")]

    def _unfit(self, gpus: int, live: list[dict[str, Any]]) -> dict[str, Any] | None:
        """None when a live node could hold the job (``gpus`` GPUs, one CPU), else why not."""
        nodes = [n.get("Resources", {}) for n in live]
        most_gpus = max((int(r.get("GPU", 0)) for r in nodes), default=0)
        if any(r.get("GPU", 0) >= gpus and r.get("CPU", 0) >= 1 for r in nodes):
            return None
        if most_gpus < gpus:
            message = (
                f"job asks for {gpus} GPUs; the largest node of the Ray cluster at "
                f"{self.cluster} has {most_gpus}; submit with fewer GPUs (--gpus), or add a "
                "node with more GPUs to the cluster"
            )
        else:
            message = (
                f"job asks for {gpus} GPUs and 1 CPU; no live node of the Ray cluster at "
                f"{self.cluster} has both; add a node with CPUs for jobs"
            )
        return {"kind": "unschedulable", "message": message}

    # -- events ---------------------------------------------------------------------------

    async def _drain_loop(self) -> None:
        while True:
            await asyncio.sleep(_DRAIN_EVERY)
            try:
                await self._drain()
            except Exception:  # the next round tries again; the jobs' outcomes still arrive
                log.exception("ray executor: collecting job events failed")

    async def _drain(self) -> None:
        """Hand the events posted so far to each job's :class:`RunEvents`, in order."""
        async with self._drain_lock:  # one take at a time, or batches could overtake
            if self._mailbox is None:
                return
            posted = await self._mailbox.take.remote()
            for job_id, batch in posted.items():
                events = self._events.get(job_id)
                if events is not None:
                    self._dispatch(job_id, events, batch)

    def _dispatch(self, job_id: str, events: RunEvents, batch: list[tuple[str, Any]]) -> None:
        for kind, payload in batch:
            if kind == "progress":
                events.progress(*payload)
            elif kind == "log":
                events.log(*payload)
            elif kind == "record":
                events.record(RecordInfo.from_dict(payload))
            elif kind == "started":
                self._started.add(job_id)
                events.progress(0, 0, f"starting a kernel on Ray node {payload['node_ip']}")


def require_ray() -> Any:
    """The ``ray`` module, or :class:`~lepton_lab.errors.InvalidInput` saying how to get it."""
    # Set before Ray is imported (it reads it then): a call while not connected must fail,
    # not start a private Ray instance of its own, bound to this machine's network address.
    os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")
    try:
        return importlib.import_module("ray")
    except ImportError as exc:
        raise InvalidInput(RAY_MISSING) from exc


def _connect(ray: Any, address: str) -> None:
    global _connection_users, _connection_owned
    with _connection_lock:
        if not ray.is_initialized():
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
            _connection_owned = True
        _connection_users += 1


def _disconnect(ray: Any) -> None:
    global _connection_users, _connection_owned
    with _connection_lock:
        _connection_users -= 1
        if _connection_users == 0 and _connection_owned:
            ray.shutdown()
            _connection_owned = False


def _multi_node_mode(ray: Any) -> bool:
    """Whether Ray, as imported, will rewrite a loopback address (its multi-node mode)."""
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    return bool(getattr(constants, "ENABLE_RAY_CLUSTER", False))


def _is_loopback(address: str) -> bool:
    host = address.removeprefix("ray://").rpartition(":")[0].strip("[]") or address
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _before(spec: RunSpec, started: set[str]) -> str:
    return "" if spec.job_id in started else " before the job started"
