"""The runner: a long-lived process that claims jobs and has its executor run them.

    lepton-lab runner --concurrency 2
    lepton-lab runner --executor ray --address 10.0.0.5:6379

One event loop drives everything: a claim loop (take jobs while there is room and GPUs),
a heartbeat loop (extend leases, pick up cancels), and one task per running job that
feeds the executor's progress, logs and recorded values to the database in batches.
Database calls run in worker threads; the executor is asynchronous (nbclient on this
machine, awaited Ray tasks on a cluster), so many jobs share this one process and no job
pays for importing papermill.  Whatever the executor, the runner alone writes a job's
state, fenced by its lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lepton_lab.errors import InvalidInput
from lepton_lab.runs.executors import ExecutorOptions, WorkerLost, create_executor
from lepton_lab.runs.job_events import JobEvents
from lepton_lab.runs.leases import Lease, check_interval, new_runner_id
from lepton_lab.runs.link import DatabaseLink, Ending, RunnerLink, workspace_env
from lepton_lab.runs.notebook import read_notebook
from lepton_lab.runs.queue import MAX_GPUS

if TYPE_CHECKING:
    from lepton_lab.runs.executor import Outcome
    from lepton_lab.runs.executors import Executor
    from lepton_lab.runs.gpus import GPU, DeviceSlots
    from lepton_lab.workspace import Workspace

__all__ = ["SCHEDULE_POLL", "Runner", "RunnerConfig", "run_until_done", "serve", "workspace_env"]

#: Seconds between two looks for due schedules (one indexed query when none is due).
SCHEDULE_POLL = 0.5

log = logging.getLogger("lepton_lab.runner")


@dataclass
class RunnerConfig:
    """How one runner behaves; every field is a ``lepton-lab runner`` option."""

    concurrency: int = 2
    """Jobs run at once."""

    pool_size: int | None = None
    """Fresh kernels kept started per kernelspec (default: ``concurrency``)."""

    gpus: list[int] | None = None
    """GPU indices this runner hands out (None: detect; ``LEPTON_LAB_GPUS=N`` simulates)."""

    poll_seconds: float = 0.5
    """How often an idle runner looks for new jobs."""

    idle_exit: float | None = None
    """Exit after this many seconds without jobs (runners started on demand use it)."""

    prewarm: tuple[str, ...] = ("python3",)
    """Kernelspecs whose pools are filled at start, before any job asks."""

    max_jobs: int | None = None
    """Exit after running this many jobs (tests, draining)."""

    executor: str = "local"
    """Where jobs run: ``local`` (kernels on this machine) or ``ray`` (a Ray cluster)."""

    address: str = ""
    """The cluster of the ray executor (``HOST:PORT``, ``auto``, ``ray://…``)."""

    kernel_users: str = "off"
    """Each job's kernel as its own unprivileged OS user: ``off``, ``auto``, ``N`` or
    ``name,name`` (docs/jobs.md); a runner on a shared server uses ``auto``."""

    preload: str = "auto"
    """What warm kernels import before their jobs: ``auto`` (what templates declare and
    earlier jobs imported), ``off``, or ``module,module`` (docs/jobs.md, "Pre-imported
    kernels")."""

    fork_kernels: bool = True
    """Start warm kernels by forking a process per kernelspec that imported ipykernel
    once, rather than by ``exec`` (docs/jobs.md, "Forked kernels")."""


@dataclass
class _Running:
    lease: Lease
    devices: tuple[int, ...]
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    lost: bool = False


class Runner:
    """Claims and runs jobs until stopped (or idle, or ``max_jobs`` reached).

    ``queue`` is a workspace (the runner then reaches its database: personal mode) or a
    :class:`~lepton_lab.runs.link.RunnerLink` (``HttpLink``: a shared server over HTTP).
    """

    def __init__(self, queue: Workspace | RunnerLink, config: RunnerConfig | None = None) -> None:
        from lepton_lab.runs.gpus import DeviceSlots, detect_gpus
        from lepton_lab.workspace import Workspace

        self.config = config = config or RunnerConfig()
        if isinstance(queue, Workspace):
            queue = DatabaseLink(queue, new_runner_id())
        self.link: RunnerLink = queue
        self.id = queue.runner_id
        if not queue.inherit_env:  # shared mode: no process of this user reads our memory
            _seal_process(config.kernel_users)
        # Made now, so that an unknown executor or a missing Ray fails before any claim.
        self._executor: Executor = create_executor(config.executor, self._options())
        # A cluster that allots GPUs needs none of this machine's.
        cluster = self._executor.allots_gpus
        if cluster and config.gpus is not None:
            raise InvalidInput(
                f"the {config.executor} executor's cluster allots GPUs to jobs; "
                "leave out --gpus (it hands out this machine's GPUs to the local executor)"
            )
        self.inventory: list[GPU] = [] if cluster else detect_gpus()
        devices = config.gpus
        if devices is None or cluster:
            devices = [g.index for g in self.inventory]
        self.slots: DeviceSlots = DeviceSlots(devices)
        self.running: dict[str, _Running] = {}
        self.finished = 0
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()

    def _options(self) -> ExecutorOptions:
        pool = self.config.pool_size
        return ExecutorOptions(
            staging_root=self.link.staging_root,
            concurrency=self.config.concurrency,
            pool_size=self.config.concurrency if pool is None else pool,
            base_env=self.link.base_env,
            inherit_env=self.link.inherit_env,
            kernel_users=self.config.kernel_users,
            address=self.config.address,
            preload=self.config.preload,
            fork_kernels=self.config.fork_kernels,
        )

    def stop(self) -> None:
        """Stop claiming; the jobs running now finish first."""
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        """Look for jobs now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Register, claim and run jobs until stopped; then wait for the running ones."""
        # A runner on a cluster registers as able to hold any job: the cluster, not the
        # sweep, says which jobs no node can hold (RayExecutor checks its live nodes).
        gpus = MAX_GPUS if self._executor.allots_gpus else self.slots.total
        await asyncio.to_thread(self.link.register, gpus=gpus, capacity=self.config.concurrency)
        where = "the cluster's" if self._executor.allots_gpus else f"{gpus} local"
        log.info("runner %s: %d slots, %s executor, %s GPUs", self.id, self.config.concurrency,
                 self.config.executor, where)  # fmt: skip
        heartbeat = asyncio.create_task(self._heartbeat_loop())
        schedules = asyncio.create_task(self._schedule_loop())
        try:
            await self._executor.prewarm(self.config.prewarm)
            await self._claim_loop()
            while self.running:
                await asyncio.sleep(0.05)
        finally:
            heartbeat.cancel()
            schedules.cancel()
            for job in self.running.values():
                job.cancel.set()
            await self._executor.close()
            await asyncio.to_thread(self.link.unregister)

    # -- claiming -------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        idle_since = time.monotonic()
        last_sweep = 0.0
        sweep_every = check_interval(self.link.lease_seconds)
        while not self._stop.is_set():
            # Every live runner reclaims the jobs of dead ones, busy or idle, so that they
            # run again without anyone submitting (leases.py: the timings).
            try:
                if time.monotonic() - last_sweep > sweep_every:
                    await asyncio.to_thread(self.link.sweep)
                    last_sweep = time.monotonic()
                await self._claim_while_room()
            except Exception:  # the server restarting, a database blip: the next poll retries
                log.exception("runner %s: claiming failed", self.id)
            if self.running:
                idle_since = time.monotonic()
            elif self._limit_reached() or self._idle_for(idle_since):
                return
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.poll_seconds)

    async def _claim_while_room(self) -> None:
        while len(self.running) < self.config.concurrency and not self._limit_reached():
            lease = await asyncio.to_thread(self.link.claim, self._free_gpus())
            if lease is None:
                return
            self._start(lease)

    def _free_gpus(self) -> int:
        return MAX_GPUS if self._executor.allots_gpus else self.slots.free

    def _limit_reached(self) -> bool:
        limit = self.config.max_jobs
        return limit is not None and self.finished + len(self.running) >= limit

    def _idle_for(self, since: float) -> bool:
        idle = self.config.idle_exit
        return idle is not None and time.monotonic() - since > idle

    def _start(self, lease: Lease) -> None:
        # Taken now, before the next claim reads how many are free: the claim only handed
        # out a job that fits, so this cannot come up short.
        devices = () if self._executor.allots_gpus else self.slots.allocate(lease.job.gpus)
        if devices is None:  # pragma: no cover - would be a bug in the claim
            raise RuntimeError(f"job {lease.job.id} was claimed without free GPUs")
        job = _Running(lease, devices)
        self.running[lease.job.id] = job
        task = asyncio.create_task(self._execute(job))
        task.add_done_callback(lambda _: self._done(lease.job.id))

    def _done(self, job_id: str) -> None:
        self.running.pop(job_id, None)
        self.finished += 1
        self._wake.set()

    # -- schedules ------------------------------------------------------------------------

    async def _schedule_loop(self) -> None:
        """Fire the schedules that are due (each due time once, whichever firer gets it),
        every :data:`SCHEDULE_POLL` seconds: a schedule fires within that of its time."""
        if not self.link.tends:  # over HTTP the server fires them
            return
        while True:
            try:
                # Pipelines move on here too, and ended jobs' notifications go out from a
                # thread of their own (notify.py).
                queued = await asyncio.to_thread(self.link.tend)
            except Exception:  # a database blip must not kill the runner; the next poll retries
                log.exception("runner %s: firing schedules failed", self.id)
            else:
                if queued:
                    self._wake.set()  # claim the new job now, not at the next poll
            await asyncio.sleep(SCHEDULE_POLL)

    # -- heartbeats -----------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        interval = check_interval(self.link.lease_seconds)
        while True:
            try:
                beat = await asyncio.to_thread(self.link.heartbeat, list(self.running))
            except Exception:  # a database blip must not kill the runner; the next beat retries
                log.exception("runner %s: heartbeat failed", self.id)
            else:
                for job_id in beat.cancel | beat.lost:
                    job = self.running.get(job_id)
                    if job is not None:
                        job.lost = job_id in beat.lost
                        job.cancel.set()
            await asyncio.sleep(interval)

    # -- one job --------------------------------------------------------------------------

    async def _execute(self, job: _Running) -> None:
        lease, info, devices = job.lease, job.lease.job, job.devices
        events = JobEvents(self.link, lease)
        try:
            manifest = self._manifest(lease, devices)
            await asyncio.to_thread(self.link.start, lease, devices, manifest)
            outcome = await self._run(lease, devices, events, job.cancel)
            await events.close()
            await self._finish(lease, outcome, manifest, job)
        except WorkerLost as exc:  # the database decides: retry or lost, as for a dead runner
            log.warning("runner %s: job %s: %s", self.id, info.id, exc)
            await events.close()
            await asyncio.to_thread(self.link.lose, lease, str(exc))
        except Exception as exc:  # report the job failed rather than leave it to its lease
            log.exception("runner %s: job %s failed inside the runner", self.id, info.id)
            await events.close()
            reason = {"kind": "runner_error", "message": f"the runner failed: {exc!r}"}
            await asyncio.to_thread(
                self.link.complete, lease, Ending("failed", reason, output=b"", manifest={})
            )
        finally:
            self.slots.release(devices)

    async def _run(
        self, lease: Lease, devices: tuple[int, ...], events: JobEvents, cancel: asyncio.Event
    ) -> Outcome:
        from lepton_lab.runs.executor import RunSpec

        info = lease.job
        content = await asyncio.to_thread(self.link.notebook, lease)
        spec = RunSpec(
            job_id=info.id,
            notebook=read_notebook(content, f"the notebook of job {info.id}"),
            parameters=info.parameters,
            kernel=info.kernel,
            devices=devices,
            seed=info.seed,
            user=info.submitted_by,
            timeout=info.timeout,
            gpus=info.gpus,
            env=self.link.job_env(lease),
            stage=self.link.stage(lease),
        )
        return await self._executor.run(spec, events, cancel)

    async def _finish(
        self, lease: Lease, outcome: Outcome, manifest: dict[str, Any], job: _Running
    ) -> None:
        if job.lost:
            log.warning("runner %s: job %s was taken over; result dropped", self.id, lease.job.id)
            return
        manifest = {**manifest, **_kernel_manifest(outcome.kernel_info), "ended_at": _now()}
        manifest["staging"] = str(outcome.staging)
        devices = None
        if outcome.placement:  # where the cluster ran it, GPUs as that node reports them
            placement = dict(outcome.placement)
            manifest["gpus"] = placement.pop("gpus", [])
            devices = placement.get("gpu_ids", [])
            manifest["devices"] = devices
            manifest[self.config.executor] = placement  # manifest["ray"]: node, worker
        # The bytes the executor saved in the staging folder: one serialisation, so the
        # stored output notebook and output.ipynb are the same file.
        ending = Ending(outcome.status, outcome.reason, outcome.saved, manifest, devices)
        await asyncio.to_thread(self.link.complete, lease, ending)

    def _manifest(self, lease: Lease, devices: tuple[int, ...]) -> dict[str, Any]:
        """What makes the run reproducible, as known before the kernel starts."""
        info = lease.job
        gpus = [
            {"index": g.index, "name": g.name, "driver": g.driver, "memory_mib": g.memory_mib}
            for g in self.inventory
            if g.index in devices
        ]
        return {
            "template": info.template,
            "template_version": info.template_version,
            "template_sha256": info.notebook_sha256,
            "parameters": info.parameters,
            "datasets": lease.pins,
            "seed": info.seed,
            "kernel": info.kernel,
            "devices": list(devices),
            "gpus": gpus,
            "host": socket.gethostname(),
            "runner": self.id,
            "attempt": lease.attempt,
            "started_at": _now(),
        }


def _seal_process(kernel_users: str) -> None:
    """Undumpable (no same-user process reads this runner's environment or memory), and
    say at start when kernels share this runner's OS user."""
    from lepton_lab.runs.sandbox import make_undumpable, user_switch_notice

    make_undumpable()
    if kernel_users in ("", "off"):
        notice: str | None = "kernel users are off: kernels run as the runner's own user"
    elif kernel_users == "auto":  # off by itself where this process may not switch users
        notice = user_switch_notice()
    else:  # named users: the pool refuses to start where it may not switch to them
        notice = None
    if notice:
        log.warning("%s (docs/jobs.md, 'Kernels as separate OS users')", notice)


def _kernel_manifest(kernel_info: dict[str, Any]) -> dict[str, Any]:
    return {
        "python": kernel_info.get("python", ""),
        "executable": kernel_info.get("executable", ""),
        "packages": kernel_info.get("packages", {}),
        "kernel_host": kernel_info.get("hostname", ""),
    }


def _now() -> str:
    return datetime.now(UTC).isoformat()


async def run_until_done(
    workspace: Workspace, job_ids: list[str], config: RunnerConfig | None = None
) -> None:
    """Run a runner in this process until the given jobs have ended (demos, scripts)."""
    from lepton_lab.runs.info import FINAL_STATES
    from lepton_lab.store.tables import Job

    runner = Runner(workspace, config)
    task = asyncio.create_task(runner.run())

    def all_done() -> bool:
        with workspace.db.read() as session:
            return all(
                (row := session.get(Job, job_id)) is None or row.status in FINAL_STATES
                for job_id in job_ids
            )

    while not task.done() and not await asyncio.to_thread(all_done):
        await asyncio.sleep(0.1)
    runner.stop()
    await task


async def serve(runner: Runner) -> None:
    """Run ``runner`` until SIGINT or SIGTERM: the first lets running jobs finish, a second
    stops at once (those jobs are retried elsewhere when their lease expires)."""
    loop = asyncio.get_running_loop()
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            runner.stop()
        else:
            for task in asyncio.all_tasks(loop):
                task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    await runner.run()
