"""The runner: a long-lived process that claims jobs and runs them on this machine.

    lepton-lab runner --concurrency 2

One event loop drives everything: a claim loop (take jobs while there is room and GPUs),
a heartbeat loop (extend leases, pick up cancels), and one task per running job that
feeds the executor's progress, logs and recorded values to the database in batches.
Database calls run in worker threads; the executor is asynchronous (nbclient), so many
jobs share this one process and no job pays for importing papermill.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import nbformat

from lepton_lab.runs.info import RecordInfo
from lepton_lab.runs.leases import Lease, Leases, new_runner_id
from lepton_lab.runs.notebook import read_notebook

if TYPE_CHECKING:
    from lepton_lab.runs.executor import LocalExecutor, Outcome
    from lepton_lab.runs.gpus import GPU, DeviceSlots
    from lepton_lab.workspace import Workspace

__all__ = ["Runner", "RunnerConfig", "run_until_done", "workspace_env"]

log = logging.getLogger("lepton_lab.runner")

# Progress is written at most this often per job: a notebook of 500 tiny cells must not
# turn into 500 transactions.
_PROGRESS_EVERY = 0.25
_LOGS_EVERY = 0.3


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


def workspace_env(workspace: Workspace) -> dict[str, str]:
    """What a job's kernel needs to reach the same workspace as its runner."""
    settings = workspace.settings
    return {
        "LEPTON_LAB_HOME": str(settings.home),
        "LEPTON_LAB_DATABASE_URL": workspace.db.url.render_as_string(hide_password=False),
        "LEPTON_LAB_BLOB_ROOT": settings.blob_root,
        # A job's kernel must never start a runner of its own.
        "LEPTON_LAB_AUTO_RUNNER": "0",
    }


@dataclass
class _Running:
    lease: Lease
    devices: tuple[int, ...]
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    lost: bool = False


class Runner:
    """Claims and runs jobs until stopped (or idle, or ``max_jobs`` reached)."""

    def __init__(self, workspace: Workspace, config: RunnerConfig | None = None) -> None:
        from lepton_lab.runs.gpus import DeviceSlots, detect_gpus

        self.workspace = workspace
        self.config = config or RunnerConfig()
        self.id = new_runner_id()
        lease = workspace.settings.job_lease_seconds
        self.leases = Leases(workspace.db, self.id, lease_seconds=lease)
        self.inventory: list[GPU] = detect_gpus()
        devices = self.config.gpus
        if devices is None:
            devices = [g.index for g in self.inventory]
        self.slots: DeviceSlots = DeviceSlots(devices)
        self.running: dict[str, _Running] = {}
        self.finished = 0
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._executor: LocalExecutor | None = None

    def stop(self) -> None:
        """Stop claiming; the jobs running now finish first."""
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        """Look for jobs now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Register, claim and run jobs until stopped; then wait for the running ones."""
        from lepton_lab.runs.executor import LocalExecutor

        pool = self.config.pool_size
        if pool is None:
            pool = self.config.concurrency
        root = self.workspace.settings.home / "jobs"
        self._executor = LocalExecutor(root, pool_size=pool, base_env=workspace_env(self.workspace))
        await asyncio.to_thread(
            self.leases.register, gpus=self.slots.total, capacity=self.config.concurrency
        )
        log.info("runner %s: %d slots, GPUs %s", self.id, self.config.concurrency, self.slots.total)
        heartbeat = asyncio.create_task(self._heartbeat_loop())
        try:
            await self._executor.prewarm(self.config.prewarm)
            await self._claim_loop()
            while self.running:
                await asyncio.sleep(0.05)
        finally:
            heartbeat.cancel()
            for job in self.running.values():
                job.cancel.set()
            await self._executor.close()
            await asyncio.to_thread(self.leases.unregister)

    # -- claiming -------------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        idle_since = time.monotonic()
        last_sweep = 0.0
        while not self._stop.is_set():
            if time.monotonic() - last_sweep > self.leases.lease.total_seconds() / 3:
                await asyncio.to_thread(self.leases.sweep)
                last_sweep = time.monotonic()
            while len(self.running) < self.config.concurrency and not self._limit_reached():
                lease = await asyncio.to_thread(self.leases.claim, self.slots.free)
                if lease is None:
                    break
                self._start(lease)
            if self.running:
                idle_since = time.monotonic()
            elif self._limit_reached() or self._idle_for(idle_since):
                return
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.config.poll_seconds)

    def _limit_reached(self) -> bool:
        limit = self.config.max_jobs
        return limit is not None and self.finished + len(self.running) >= limit

    def _idle_for(self, since: float) -> bool:
        idle = self.config.idle_exit
        return idle is not None and time.monotonic() - since > idle

    def _start(self, lease: Lease) -> None:
        # Taken now, before the next claim reads how many are free: the claim only handed
        # out a job that fits, so this cannot come up short.
        devices = self.slots.allocate(lease.job.gpus)
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

    # -- heartbeats -----------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        interval = self.leases.lease.total_seconds() / 3
        while True:
            try:
                beat = await asyncio.to_thread(self.leases.heartbeat, list(self.running))
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
        events = _Events(self.leases, lease)
        try:
            manifest = self._manifest(lease, devices)
            await asyncio.to_thread(self.leases.start, lease, devices, manifest)
            outcome = await self._run(lease, devices, events, job.cancel)
            await events.close()
            await self._finish(lease, outcome, manifest, job)
        except Exception as exc:  # report the job failed rather than leave it to its lease
            log.exception("runner %s: job %s failed inside the runner", self.id, info.id)
            await events.close()
            reason = {"kind": "runner_error", "message": f"the runner failed: {exc!r}"}
            await asyncio.to_thread(
                self.leases.finish, lease, "failed", reason, output_sha256="", manifest={}
            )
        finally:
            self.slots.release(devices)

    async def _run(
        self, lease: Lease, devices: tuple[int, ...], events: _Events, cancel: asyncio.Event
    ) -> Outcome:
        from lepton_lab.runs.executor import RunSpec

        assert self._executor is not None
        info = lease.job
        content = await asyncio.to_thread(self.workspace.blobs.read_bytes, info.notebook_sha256)
        spec = RunSpec(
            job_id=info.id,
            notebook=read_notebook(content, f"the notebook of job {info.id}"),
            parameters=info.parameters,
            kernel=info.kernel,
            devices=devices,
            seed=info.seed,
            user=info.submitted_by,
            timeout=info.timeout,
        )
        return await self._executor.run(spec, events, cancel)

    async def _finish(
        self, lease: Lease, outcome: Outcome, manifest: dict[str, Any], job: _Running
    ) -> None:
        if job.lost:
            log.warning("runner %s: job %s was taken over; result dropped", self.id, lease.job.id)
            return
        data = nbformat.writes(outcome.notebook).encode("utf-8")  # type: ignore[no-untyped-call]
        stored = await asyncio.to_thread(self.workspace.blobs.put_bytes, data)
        manifest = {**manifest, **_kernel_manifest(outcome.kernel_info), "ended_at": _now()}
        manifest["staging"] = str(outcome.staging)
        await asyncio.to_thread(
            self.leases.finish,
            lease,
            outcome.status,
            outcome.reason,
            output_sha256=stored.sha256,
            manifest=manifest,
        )

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
            "datasets": self._pins(info.id),
            "seed": info.seed,
            "kernel": info.kernel,
            "devices": list(devices),
            "gpus": gpus,
            "host": socket.gethostname(),
            "runner": self.id,
            "attempt": lease.attempt,
            "started_at": _now(),
        }

    def _pins(self, job_id: str) -> dict[str, Any]:
        from lepton_lab.store.tables import Job

        with self.workspace.db.read() as session:
            row = session.get(Job, job_id)
            return dict(row.pins) if row is not None else {}


class _Events:
    """The executor's callbacks, batched into few database writes off the event loop."""

    def __init__(self, leases: Leases, lease: Lease) -> None:
        self._leases, self._lease = leases, lease
        self._logs: list[tuple[str, str]] = []
        self._positions: dict[str, int] = {}
        self._records: list[tuple[RecordInfo, int]] = []
        self._record_lock = asyncio.Lock()
        self._progress: tuple[int, int, str] | None = None
        self._last_progress = 0.0
        self._pending: set[asyncio.Task[Any]] = set()
        self._flusher = asyncio.create_task(self._flush_loop())

    def progress(self, cells_done: int, cells_total: int, current: str) -> None:
        """Keep the latest; written now if the last write is old enough."""
        self._progress = (cells_done, cells_total, current)
        if time.monotonic() - self._last_progress > _PROGRESS_EVERY:
            self._write_progress()

    def log(self, stream: str, text: str) -> None:
        """Buffer; the flush loop writes in batches."""
        if self._logs and self._logs[-1][0] == stream:
            self._logs[-1] = (stream, self._logs[-1][1] + text)  # fewer, larger chunks
        else:
            self._logs.append((stream, text))

    def record(self, record: RecordInfo) -> None:
        """Write soon (records are few and the job view shows them at once).

        Writes go one at a time, in the order the kernel recorded: a name recorded twice
        keeps its last value, at the place it was first recorded.
        """
        position = self._positions.setdefault(record.name, len(self._positions))
        self._records.append((record, position))
        self._spawn(self._flush_records())

    async def _flush_records(self) -> None:
        async with self._record_lock:
            pending, self._records = self._records, []
            for record, position in pending:
                await asyncio.to_thread(self._leases.write_record, self._lease, record, position)

    def _write_progress(self) -> None:
        if self._progress is not None:
            done, total, current = self._progress
            self._last_progress = time.monotonic()
            self._progress = None
            self._spawn(asyncio.to_thread(self._leases.progress, self._lease, done, total, current))

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(_LOGS_EVERY)
            await self._flush()

    async def _flush(self) -> None:
        chunks, self._logs = self._logs, []
        if chunks:
            await asyncio.to_thread(self._leases.write_logs, self._lease, chunks)
        self._write_progress()

    async def close(self) -> None:
        """Write everything still buffered."""
        self._flusher.cancel()
        await self._flush()
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)


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
