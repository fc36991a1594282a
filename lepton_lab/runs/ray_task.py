"""The Ray side of a job: the task body that runs on a Ray worker, and the mailbox actor.

:func:`run_job` is what :class:`~lepton_lab.runs.ray_executor.RayExecutor` submits as a Ray
task.  On the worker it runs the notebook with the same machinery as the local executor
(papermill's pieces, a fresh kernel in a staging folder, seeding, output cap, timeout);
the kernel is lent by the node's pool actor (:mod:`lepton_lab.runs.ray_pool`): a warm one,
or for a GPU job one started with ``CUDA_VISIBLE_DEVICES`` set to the GPUs Ray assigned.
Progress, logs and recorded values go to the runner through a :class:`Mailbox` actor, in
batches; the reply to each batch says whether the job was cancelled.  The task returns a plain dict
(the outcome and where it ran); it never writes to the database itself: the runner
records the final state, fenced by its lease.

Ray is imported inside the functions: this module is shipped to workers by reference and
imported by the runner only once the ray executor is chosen.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any

import nbformat

from lepton_lab.runs.executor import LocalExecutor, RunSpec
from lepton_lab.runs.gpus import detect_gpus
from lepton_lab.runs.info import RecordInfo
from lepton_lab.runs.ray_pool import LendingPool, staging_root
from lepton_lab.runs.sandbox import KernelUsers

__all__ = ["Mailbox", "run_job", "warm_worker"]

log = logging.getLogger(__name__)

#: How often a running job sends what it buffered (and learns whether it was cancelled).
FLUSH_EVERY = 0.3

#: One event as it travels: ("started" | "progress" | "log" | "record", payload).
Event = tuple[str, Any]


class Mailbox:
    """Events of running jobs on their way to the runner; one actor per runner.

    Workers :meth:`post`; the runner :meth:`take` s everything posted so far and marks jobs
    to :meth:`cancel`.  An actor runs one call at a time, so no lock is needed.
    """

    def __init__(self) -> None:
        self._events: dict[str, list[Event]] = {}
        self._cancelled: set[str] = set()

    def post(self, job_id: str, events: list[Event]) -> bool:
        """Queue ``events`` of ``job_id``; True when the job should stop (cancelled)."""
        if events:
            self._events.setdefault(job_id, []).extend(events)
        return job_id in self._cancelled

    def take(self) -> dict[str, list[Event]]:
        """Everything posted since the last call, per job, in the order posted."""
        events, self._events = self._events, {}
        return events

    def cancel(self, job_id: str) -> None:
        """Tell ``job_id``'s task to stop at its next post."""
        self._cancelled.add(job_id)

    def forget(self, job_id: str) -> None:
        """The job ended: drop what is left of it."""
        self._cancelled.discard(job_id)
        self._events.pop(job_id, None)


def run_job(job: dict[str, Any], mailbox: Any) -> dict[str, Any]:
    """The Ray task: run one job on this worker and return its outcome as a plain dict.

    ``job`` holds the fields of a :class:`~lepton_lab.runs.executor.RunSpec` (the notebook
    as JSON) and ``staging_root``; ``mailbox`` is the runner's :class:`Mailbox` actor.
    """
    return asyncio.run(_run(job, mailbox))


async def _run(job: dict[str, Any], mailbox: Any) -> dict[str, Any]:
    placement = placement_here()
    outbox = _Outbox(mailbox, job["job_id"])
    outbox.send("started", placement)
    await outbox.flush()  # the runner learns at once where the job runs
    spec = RunSpec(
        job_id=job["job_id"],
        notebook=nbformat.reads(job["notebook"], as_version=4),  # type: ignore[no-untyped-call]
        parameters=job["parameters"],
        kernel=job["kernel"],
        devices=tuple(placement["gpu_ids"]),
        seed=job["seed"],
        user=job["user"],
        timeout=job["timeout"],
        env=job["env"],
        gpus=len(placement["gpu_ids"]),
        stage=tuple((str(url), str(sha)) for url, sha in job.get("stage", ())),
    )
    # The kernel comes from this node's pool actor (ray_pool.py): warm for a job without
    # GPUs, started with the devices Ray gave this task for one with GPUs.
    pool = LendingPool(
        job.get("pools", {}).get(placement["node_id"]),
        staging_root(job["staging_root"]),
        base_env=job["base_env"],
        inherit_env=job.get("inherit_env", True),
        kernel_users=KernelUsers.from_setting(job.get("kernel_users", "off")),
    )
    executor = _NodeExecutor(pool, preload=job.get("preload", "auto"))
    flusher = asyncio.create_task(outbox.flush_loop())
    try:
        outcome = await executor.run(spec, outbox, outbox.cancel)
    finally:
        flusher.cancel()
        await executor.close()
    await outbox.flush()
    result = {
        "status": outcome.status,
        "reason": outcome.reason,
        "notebook": outcome.saved,  # as the worker saved it: the runner stores these bytes
        "staging": str(outcome.staging),
        "kernel_info": outcome.kernel_info,
        "placement": {**placement, "warm_kernel": pool.warm},
    }
    if pool.lost is not None and outcome.status != "succeeded":
        result["lost"] = pool.lost  # not the job's fault: the runner retries it
    return result


class _NodeExecutor(LocalExecutor):
    """The local executor, its kernels borrowed from the node's pool actor."""

    def __init__(self, pool: LendingPool, *, preload: str) -> None:
        super().__init__(pool.staging_root, pool_size=0, preload=preload)
        self._pool = pool


def warm_worker() -> int:
    """A task that does nothing: the Ray worker that runs it has imported this module (and
    the executor's: papermill, nbclient, jupyter_client) when a job's task comes."""
    return os.getpid()


def placement_here() -> dict[str, Any]:
    """Where this task runs: Ray node, host, worker process and the GPUs Ray assigned.

    ``gpus`` describes the assigned devices as this node's driver reports them (NVML,
    ``nvidia-smi``, or ``LEPTON_LAB_GPUS`` for simulated ones).
    """
    import ray

    context = ray.get_runtime_context()
    gpu_ids = [int(i) for i in ray.get_gpu_ids()]
    return {
        "node_id": context.get_node_id(),
        "node_ip": ray.util.get_node_ip_address(),  # type: ignore[no-untyped-call]
        "hostname": socket.gethostname(),
        "worker_pid": os.getpid(),
        "gpu_ids": gpu_ids,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
        "gpus": [g.to_dict() for g in detect_gpus() if g.index in gpu_ids],
    }


class _Outbox:
    """The job's :class:`~lepton_lab.runs.executor.RunEvents`, buffered and posted in batches."""

    def __init__(self, mailbox: Any, job_id: str) -> None:
        self._mailbox, self._job_id = mailbox, job_id
        self._batch: list[Event] = []
        self._progress: tuple[int, int, str] | None = None
        self._warned = False
        self.cancel = asyncio.Event()

    def send(self, kind: str, payload: Any) -> None:
        """Queue one event for the next post."""
        self._batch.append((kind, payload))

    def progress(self, cells_done: int, cells_total: int, current: str) -> None:
        """Keep only the latest: the runner writes progress at most every 0.25 s anyway."""
        self._progress = (cells_done, cells_total, current)

    def log(self, stream: str, text: str) -> None:
        """Queue text, joined to the previous chunk of the same stream."""
        last = self._batch[-1] if self._batch else None
        if last is not None and last[0] == "log" and last[1][0] == stream:
            self._batch[-1] = ("log", (stream, last[1][1] + text))
        else:
            self._batch.append(("log", (stream, text)))

    def record(self, record: RecordInfo) -> None:
        """Queue a recorded value."""
        self._batch.append(("record", record.to_dict()))

    async def flush(self) -> None:
        """Post what is buffered; a cancel in the reply sets :attr:`cancel`."""
        batch, self._batch = self._batch, []
        if self._progress is not None:
            batch.append(("progress", self._progress))
            self._progress = None
        try:
            if await self._mailbox.post.remote(self._job_id, batch):
                self.cancel.set()
        except Exception as exc:  # the runner is gone: Ray stops this task soon after
            if not self._warned:
                log.warning("job %s: cannot reach the runner's mailbox: %s", self._job_id, exc)
                self._warned = True

    async def flush_loop(self) -> None:
        """Post every :data:`FLUSH_EVERY` seconds, also when idle (to hear of a cancel)."""
        while True:
            await asyncio.sleep(FLUSH_EVERY)
            await self.flush()
