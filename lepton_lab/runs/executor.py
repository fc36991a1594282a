"""Run a job's notebook on this machine the way papermill does, on a fresh kernel.

papermill's own pieces decide everything a user can see: the injected parameters cell
(its typed translators), the notebook and cell metadata, where execution stops and
whether the job failed (``raise_for_execution_errors``: ``sys.exit(0)`` stops early and
succeeds), and the error marker cells.  This module drives the cells itself, async, so
that it can also stream logs and recorded values to the runner, cap huge output, stop a
job at its deadline or on cancel, and tell a dead kernel from a failing cell.

With ``preload`` (``auto``, the default) the warm kernels of a kernelspec import, before
any job is given to them, what its templates declare (``lepton.preload``) and what its
jobs imported (asked of each kernel once its job succeeded): docs/jobs.md, "Pre-imported
kernels".
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

import nbformat
from nbclient.exceptions import CellExecutionError, DeadKernelError
from nbformat import NotebookNode
from papermill.engines import NotebookExecutionManager
from papermill.exceptions import PapermillExecutionError
from papermill.execute import (
    prepare_notebook_metadata,
    raise_for_execution_errors,
    remove_error_markers,
)
from papermill.parameterize import parameterize_notebook
from papermill.utils import nb_language

from lepton_lab.errors import InvalidInput
from lepton_lab.runs import bootstrap
from lepton_lab.runs.capture import JobClient, OutputCapture
from lepton_lab.runs.info import RecordInfo
from lepton_lab.runs.notebook import preload_modules
from lepton_lab.runs.pool import Kernel, KernelPool, ask, kill_kernel
from lepton_lab.runs.sandbox import KernelUsers, write_into

__all__ = [
    "LocalExecutor",
    "Outcome",
    "RunEvents",
    "RunSpec",
    "notebook_bytes",
    "parse_preload",
]

log = logging.getLogger(__name__)

#: How long a timed-out job's kernel gets, once interrupted, before it is killed.
INTERRUPT_GRACE = 3.0
#: Seconds a finished job's kernel has to say which modules the job imported.
IMPORTED_TIMEOUT = 5.0
_NO_ENV: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class RunSpec:
    """One job to run: its notebook snapshot and everything the kernel must be given."""

    job_id: str
    #: The snapshot, not yet parameterised (it is left untouched).
    notebook: NotebookNode
    #: Validated, typed values, injected with papermill's translators; {} for none.
    parameters: dict[str, Any]
    #: The kernelspec name, e.g. "python3" or "lepton-cpu".
    kernel: str
    #: GPUs assigned to the job; () hides every GPU (``CUDA_VISIBLE_DEVICES=""``).
    devices: tuple[int, ...]
    seed: int
    #: ``LEPTON_LAB_USER`` inside the kernel.
    user: str
    #: Seconds the whole job may take, None for no limit.
    timeout: float | None
    #: More environment for the kernel (``LEPTON_LAB_HOME``, ``DATABASE_URL``, ...).
    env: Mapping[str, str] = field(default_factory=dict)
    #: GPUs the job asks for (an executor whose cluster allots GPUs reads it).
    gpus: int = 0
    #: ``(url, sha256)`` of the pinned dataset versions to stage into the job's folder
    #: with the job's token (``env["LEPTON_LAB_TOKEN"]``) before its cells run (shared
    #: mode: staging.py); empty when the kernel reads the catalog itself.
    stage: tuple[tuple[str, str], ...] = ()


class RunEvents(Protocol):
    """What a running job tells the runner; called on the event loop, so cheap and no raising."""

    def progress(self, cells_done: int, cells_total: int, current: str) -> None:
        """A cell starts (``current`` is its first line), or the run ended (``current`` "")."""

    def log(self, stream: str, text: str) -> None:
        """Text a cell wrote to ``stream`` (stdout or stderr)."""

    def record(self, record: RecordInfo) -> None:
        """A value a cell recorded with ``ll.record``."""


@dataclass
class Outcome:
    """How a job ended: status, why, and the executed notebook (always there)."""

    #: succeeded, failed or cancelled.
    status: str
    #: None on success, else {"kind", "message"} and for a cell "cell", "ename", "evalue".
    reason: dict[str, Any] | None
    #: The output notebook, with papermill's error markers on a failure.
    notebook: NotebookNode
    #: ``notebook`` as saved (:func:`notebook_bytes`): the bytes of ``output.ipynb``, and
    #: of the output notebook the runner stores.
    saved: bytes
    #: The job's working folder (the kernel's cwd); ``output.ipynb`` is written there.
    staging: Path
    #: {"python", "executable", "packages", "hostname"} from the kernel; {} if it never ran.
    kernel_info: dict[str, Any]
    #: Where a cluster ran it (the manifest's "ray" entry, its "gpus"); {} when local.
    placement: dict[str, Any] = field(default_factory=dict)


class LocalExecutor:
    """Runs jobs on fresh local kernels, from a warm pool for jobs without GPUs.

    ``base_env`` goes to every kernel at launch (warm kernels start before their job is
    known; a job's own ``env`` is set when it starts); ``kernel_names`` are pre-warmed by
    :meth:`start`; ``max_output_bytes`` caps the stream text a cell keeps in the notebook
    and the log text a job sends to its events.  ``preload``: ``auto`` (warm kernels
    pre-import what templates declare and jobs imported), ``off``, or comma-separated
    modules every warm kernel imports, nothing else (:func:`parse_preload`).
    ``fork_kernels``: warm kernels forked from a process that imported ipykernel once
    (:mod:`~lepton_lab.runs.forking`), not started by ``exec``.
    """

    #: GPUs come from this runner's own slots (``RunSpec.devices``).
    allots_gpus = False

    def __init__(
        self,
        staging_root: Path,
        *,
        pool_size: int = 2,
        start_timeout: float = 60,
        max_output_bytes: int = 4 * 2**20,
        base_env: Mapping[str, str] = _NO_ENV,
        inherit_env: bool = True,
        kernel_users: KernelUsers | None = None,
        kernel_names: Iterable[str] = ("python3",),
        preload: str = "auto",
        fork_kernels: bool = True,
    ) -> None:
        self.staging_root = Path(staging_root)
        self.max_output_bytes = max_output_bytes
        self._kernel_names = tuple(kernel_names)
        modules = parse_preload(preload)
        #: Whether templates' declarations and jobs' imports add to the preloaded modules.
        self.learns = preload.strip() == "auto"
        self._pool = KernelPool(
            self.staging_root,
            size=pool_size,
            base_env=base_env,
            inherit_env=inherit_env,
            kernel_users=kernel_users,
            start_timeout=start_timeout,
            preload=modules,
            fork=fork_kernels,
        )
        self._running: set[Kernel] = set()

    async def start(self) -> None:
        """Start filling the warm pools in the background; returns at once."""
        await self.prewarm(self._kernel_names)

    async def prewarm(self, kernel_names: Iterable[str]) -> None:
        """Start warm kernels for ``kernel_names`` too, in the background; returns at once."""
        self._pool.prewarm(kernel_names)

    def warm(self, kernel_name: str) -> int:
        """How many warm kernels are ready for ``kernel_name`` now."""
        return self._pool.ready(kernel_name)

    def preloads(self, kernel_name: str) -> tuple[str, ...]:
        """The modules warm kernels of ``kernel_name`` import before their jobs."""
        return self._pool.preloads(kernel_name)

    async def run(self, spec: RunSpec, events: RunEvents, cancel: asyncio.Event) -> Outcome:
        """Run ``spec`` to its end, its deadline or ``cancel``; never raises for a job's fault."""
        deadline = None if spec.timeout is None else _now() + spec.timeout
        nb = _prepare(spec)
        if self.learns:  # before taking a kernel: its replacement imports them already
            self._pool.add_preload(spec.kernel, preload_modules(spec.notebook))
        kernel = await self._acquire(spec, cancel, deadline)
        if not isinstance(kernel, Kernel):
            return await _unstarted(nb, self.staging_root / spec.job_id, kernel)
        self._running.add(kernel)
        try:
            if spec.stage:
                staged = await _stage(spec, kernel)
                if isinstance(staged, Outcome):
                    return staged
                spec = staged
            job = _Job(spec, events, nb, kernel, self.max_output_bytes)
            outcome = await job.run(cancel, deadline)
            if self.learns and outcome.status == "succeeded":
                self._pool.add_preload(spec.kernel, await _imported(kernel))
            return outcome
        finally:
            self._running.discard(kernel)
            await self._pool.discard(kernel)

    async def _acquire(
        self, spec: RunSpec, cancel: asyncio.Event, deadline: float | None
    ) -> Kernel | tuple[str, dict[str, Any]]:
        """The job's kernel, or the status and reason why there is none."""
        acquiring = asyncio.create_task(
            self._pool.acquire(
                spec.kernel, spec.job_id, devices=spec.devices, env=_launch_env(spec)
            )
        )
        stop = await _race(acquiring, cancel, deadline)
        if stop is not None:
            acquiring.cancel()  # the pool kills a kernel it was starting for us
        await asyncio.wait({acquiring})
        failure = None if acquiring.cancelled() else acquiring.exception()
        if stop is None and failure is None:
            return acquiring.result()
        if failure is None and not acquiring.cancelled():  # it came just too late
            await self._pool.discard(acquiring.result())
        if stop is not None:
            return _stopped(stop, spec, None)
        message = (
            f"could not start kernel {spec.kernel!r}: {type(failure).__name__}: {failure}; "
            "`lepton-lab kernels list` shows the kernels installed"
        )
        return "failed", {"kind": "kernel_start", "message": message}

    async def close(self) -> None:
        """Kill every kernel: warm ones and those of running jobs (they end as kernel_died)."""
        for kernel in list(self._running):
            await kill_kernel(kernel.km)
        await self._pool.close()


def parse_preload(setting: str) -> tuple[str, ...] | None:
    """The modules warm kernels start with for ``auto`` (none yet), ``off`` (None) or
    ``a,b.c``; :class:`~lepton_lab.errors.InvalidInput` for what is no module name."""
    text = setting.strip()
    if text == "off":
        return None
    if text == "auto":
        return ()
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    bad = [n for n in names if not bootstrap.is_module_name(n)]
    if bad or not names:
        raise InvalidInput(
            f"preload {setting!r}: give auto, off or module names separated by commas "
            "(e.g. pandas,sklearn,matplotlib.pyplot)"
        )
    return names


async def _imported(kernel: Kernel) -> list[str]:
    """The modules the job imported, as its kernel says ([] when it does not answer)."""
    try:
        reply = await ask(kernel.kc, "", bootstrap.IMPORTED_EXPRESSION, IMPORTED_TIMEOUT)
    except (TimeoutError, RuntimeError, OSError) as exc:
        log.debug("job's kernel did not say what it imported: %r", exc)
        return []
    return bootstrap.parse_module_names(reply.get("user_expressions", {}), "imported")


def _launch_env(spec: RunSpec) -> dict[str, str]:
    """What of the job's ``env`` a kernel started for it may be launched with: all but the
    job token, which reaches the kernel through the bootstrap only, as with a warm kernel
    (a launch environment stays readable in ``/proc/<pid>/environ`` while the kernel lives)."""
    return {k: v for k, v in spec.env.items() if k != "LEPTON_LAB_TOKEN"}


async def _stage(spec: RunSpec, kernel: Kernel) -> RunSpec | Outcome:
    """The pinned datasets in the job's folder, and the spec whose kernel looks there; or
    the failed outcome when one could not be staged."""
    from lepton_lab.errors import StorageError
    from lepton_lab.runs.staging import stage_datasets

    token = spec.env.get("LEPTON_LAB_TOKEN", "")
    try:
        home = await asyncio.to_thread(stage_datasets, kernel.cwd, spec.stage, token)
    except StorageError as exc:
        reason = {"kind": "staging", "message": exc.message}
        return await _unstarted(_prepare(spec), kernel.cwd, ("failed", reason))
    return replace(spec, env={**spec.env, "LEPTON_LAB_HOME": str(home)})


class _Job:
    """One run of a notebook on one kernel; :meth:`run` gives its outcome."""

    def __init__(
        self, spec: RunSpec, events: RunEvents, nb: NotebookNode, kernel: Kernel, limit: int
    ) -> None:
        self.spec, self.events, self.kernel = spec, events, kernel
        self.output_path = kernel.cwd / "output.ipynb"
        self.nb = prepare_notebook_metadata(nb, "", str(self.output_path))
        self.nb_man = NotebookExecutionManager(self.nb, output_path=None, progress_bar=False)
        self.capture = OutputCapture(events, limit)
        self.client = JobClient(self.nb_man, kernel, self.capture)
        self.kernel_info: dict[str, Any] = {}
        self.current: int | None = None  # the cell running, or the last one that ran
        self.done = 0
        self.total = len(self.nb.cells)  # before any error marker is added
        self.stop: str | None = None  # "cancelled" or "timeout"
        self.setup_error: str | None = None
        self.lost: BaseException | None = None  # why the kernel stopped answering

    async def run(self, cancel: asyncio.Event, deadline: float | None) -> Outcome:
        """Drive the cells until done, deadline or cancel; mark the notebook and judge it."""
        driver = asyncio.create_task(self._drive())
        try:
            self.stop = await _race(driver, cancel, deadline)
            if self.stop == "timeout":  # interrupted first, so the traceback shows where
                with contextlib.suppress(RuntimeError):  # it may have died meanwhile
                    await self.kernel.km.interrupt_kernel()
                await asyncio.wait({driver}, timeout=INTERRUPT_GRACE)
            if not driver.done():
                await kill_kernel(self.kernel.km)
                driver.cancel()  # nbclient turns this into DeadKernelError for the cell
            await asyncio.wait({driver})
        finally:
            driver.cancel()
        if not driver.cancelled() and driver.exception() is not None:
            self.lost = driver.exception()
        status, reason = self._judge()
        self.capture.finish()
        # The cells the run had: papermill's error markers, just inserted, are not cells
        # that ran, and counting them made one template's total vary between runs.
        self.events.progress(self.done, self.total, "")
        saved = await _save(self.nb, self.output_path)
        return Outcome(status, reason, self.nb, saved, self.kernel.cwd, self.kernel_info)

    async def _drive(self) -> None:
        self.nb_man.notebook_start()
        try:
            if await self._setup():
                await self._cells()
            self.client.set_widgets_metadata()
        finally:
            self.nb_man.notebook_complete()

    async def _setup(self) -> bool:
        """Send the bootstrap code and ask for kernel info; False (and why) if it failed."""
        # nbclient's async_setup_kernel is skipped on purpose: it installs loop-wide SIGINT and
        # SIGTERM handlers and removes them afterwards, clobbering the host process's own.
        self.client.kc = kc = self.kernel.kc
        spec = self.spec
        info = await self.client.async_wait_for_reply(kc.kernel_info())
        if info is not None and "language_info" in info["content"]:
            self.nb.metadata["language_info"] = info["content"]["language_info"]
        code, expressions = bootstrap.request(spec.job_id, spec.user, spec.seed, spec.env)
        reply = await self.client.async_wait_for_reply(
            kc.execute(code, silent=True, store_history=False, user_expressions=expressions)
        )
        content = reply["content"] if reply is not None else {}
        if content.get("status") != "ok":
            self.setup_error = f"{content.get('ename', 'no reply')}: {content.get('evalue', '')}"
            return False
        self.kernel_info = bootstrap.parse_kernel_info(content.get("user_expressions", {}))
        return True

    async def _cells(self) -> None:
        total = self.total
        for index, cell in enumerate(self.nb.cells):
            if self.stop:
                break
            self.current = index
            self.events.progress(index, total, _first_line(cell.source))
            try:
                self.nb_man.cell_start(cell, index)
                await self.client.async_execute_cell(cell, index)
            except CellExecutionError as exc:
                self.nb_man.cell_exception(self.nb.cells[index], cell_index=index, exception=exc)
                break
            except Exception as exc:  # DeadKernelError, or the kernel's channels failing
                self.lost = exc
                self.nb_man.cell_exception(self.nb.cells[index], cell_index=index, exception=exc)
                break
            finally:
                self.nb_man.cell_complete(self.nb.cells[index], cell_index=index)
                self.done = index + 1
            await _save(self.nb, self.output_path)

    def _judge(self) -> tuple[str, dict[str, Any] | None]:
        """Status and reason; inserts papermill's error marker cells where it would."""
        try:
            raise_for_execution_errors(self.nb, None)  # output_path None: it writes nothing
            error = None
        except PapermillExecutionError as exc:
            error = exc
        if self.stop:
            return _stopped(self.stop, self.spec, self.current)
        if self.setup_error is not None:
            message = f"the job's setup code failed in kernel {self.spec.kernel!r}: "
            return "failed", {"kind": "kernel_start", "message": message + self.setup_error}
        if self.lost is not None:
            return "failed", _died_reason(self.current, self.lost)
        if error is None:
            return "succeeded", None
        message = f"cell {error.cell_index} raised {error.ename}"
        message += f": {error.evalue}" if error.evalue else ""
        return "failed", {
            "kind": "cell_error",
            "message": message,
            "cell": error.cell_index,
            "ename": error.ename,
            "evalue": error.evalue,
        }


def _prepare(spec: RunSpec) -> NotebookNode:
    """A parameterised copy of the snapshot, its metadata as papermill's loader leaves it."""
    nb: NotebookNode = nbformat.v4.upgrade(copy.deepcopy(spec.notebook))  # type: ignore[no-untyped-call]
    nb.metadata.setdefault(
        "papermill", {"default_parameters": {}, "parameters": {}, "environment_variables": {}}
    )
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])
        cell.metadata.setdefault("papermill", {})
    if spec.parameters:
        nb = parameterize_notebook(
            nb, spec.parameters, kernel_name=spec.kernel, language=_language(nb)
        )
    cleaned: NotebookNode = remove_error_markers(nb)
    return cleaned


def _language(nb: NotebookNode) -> str:
    try:
        return str(nb_language(nb))
    except ValueError:  # a notebook that never ran nor names its kernel's language
        return "python"


async def _race(
    task: asyncio.Task[Any], cancel: asyncio.Event, deadline: float | None
) -> str | None:
    """None when ``task`` ended first, else "cancelled" or "timeout"."""
    waiter = asyncio.create_task(cancel.wait())
    timeout = None if deadline is None else max(deadline - _now(), 0)
    try:
        await asyncio.wait({task, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if task.done():
        return None
    return "cancelled" if cancel.is_set() else "timeout"


def _where(cell: int | None) -> str:
    return f" while cell {cell} was running" if cell is not None else " before any cell ran"


def _stopped(stop: str, spec: RunSpec, cell: int | None) -> tuple[str, dict[str, Any]]:
    """Status and reason of a job cancelled or past its deadline."""
    message = "cancelled" if stop == "cancelled" else f"ran past its {spec.timeout:g} s limit"
    reason = {"kind": stop, "message": message + _where(cell), "cell": cell}
    return ("cancelled" if stop == "cancelled" else "failed"), reason


def _died_reason(cell: int | None, lost: BaseException) -> dict[str, Any]:
    if isinstance(lost, DeadKernelError):
        message = f"the kernel died{_where(cell)} (it crashed, exited or was killed, e.g. OOM)"
    else:
        log.error("lost the kernel", exc_info=lost)
        message = f"lost the kernel{_where(cell)}: {type(lost).__name__}: {lost}"
    return {"kind": "kernel_died", "message": message, "cell": cell}


async def _unstarted(nb: NotebookNode, staging: Path, end: tuple[str, dict[str, Any]]) -> Outcome:
    """The outcome of a job whose kernel never started: the unexecuted notebook, saved."""
    await asyncio.to_thread(staging.mkdir, mode=0o700, parents=True, exist_ok=True)
    output_path = staging / "output.ipynb"
    nb = prepare_notebook_metadata(nb, "", str(output_path))
    saved = await _save(nb, output_path)
    return Outcome(end[0], end[1], nb, saved, staging, {})


def notebook_bytes(nb: NotebookNode) -> bytes:
    """An output notebook as saved: nbformat's JSON layout (one-space indent, sorted keys)
    without its deep copy and validation, which would cost every cell's save."""
    return (json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


async def _save(nb: NotebookNode, path: Path) -> bytes:
    """Write the notebook (serialised here, written in a thread; readers never see half);
    returns the bytes written."""
    data = notebook_bytes(nb)
    await asyncio.to_thread(_write_atomic, path, data)
    return data


def _write_atomic(path: Path, data: bytes) -> None:
    # Through no link: with kernel users the job's own user owns this folder (sandbox.py).
    write_into(path.parent, path.name, data)


def _first_line(source: str) -> str:
    return source.strip().partition("\n")[0][:80]


def _now() -> float:
    return asyncio.get_running_loop().time()
