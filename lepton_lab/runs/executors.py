"""Executors by name: where a runner's jobs run.

    lepton-lab runner --executor ray --address 10.0.0.5:6379

A runner claims jobs from the database and hands each one to its executor: ``local``
(kernels on this machine, GPU slots of its own) or ``ray`` (each job a Ray task on a
cluster that allots the GPUs).  The table maps a name to ``"module:factory"`` and imports
the module only when that name is chosen, so the core install never imports Ray.

An add-on package declares its executor the way the built-ins are declared in Lepton
Lab's own ``pyproject.toml``, as an entry point of the group ``lepton_lab.executors``::

    [project.entry-points."lepton_lab.executors"]
    slurm = "my_package.slurm:SlurmExecutor"

Entry points are read the first time a name is asked for that is not registered yet (or
the names are listed), never at import; only the chosen executor's module is imported.
Code may also register a name directly: ``register_executor("slurm", SlurmExecutor)``.
A factory takes :class:`ExecutorOptions` and returns an object with the methods of
:class:`Executor`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from lepton_lab.errors import InvalidInput, unknown_name

if TYPE_CHECKING:
    import asyncio

    from lepton_lab.runs.executor import Outcome, RunEvents, RunSpec

__all__ = [
    "ENTRY_POINT_GROUP",
    "Executor",
    "ExecutorOptions",
    "WorkerLost",
    "create_executor",
    "executor_names",
    "local_executor",
    "register_executor",
]

#: The entry point group add-on packages declare their executors in.
ENTRY_POINT_GROUP = "lepton_lab.executors"


@dataclass(frozen=True)
class ExecutorOptions:
    """What a runner tells the executor it creates (each executor uses what applies)."""

    staging_root: Path
    """Where each job's working folder is made (``{home}/jobs``)."""

    concurrency: int = 2
    """Jobs the runner runs at once."""

    pool_size: int = 2
    """Fresh kernels kept started per kernelspec (local executor)."""

    base_env: Mapping[str, str] = field(default_factory=dict)
    """Environment every job's kernel gets: the workspace's database and blob store
    (personal mode), or the allow-listed variables and the server's URL (shared)."""

    inherit_env: bool = True
    """Whether kernels inherit the runner's environment too (personal mode); False: a
    kernel's environment is ``base_env`` and its job's variables, nothing else."""

    kernel_users: str = "off"
    """Each kernel as its own unprivileged OS user: ``off``, ``auto`` (where this process
    may switch users), ``N`` users or ``name,name`` (sandbox.KernelUsers.from_setting)."""

    address: str = ""
    """The cluster to run on (ray executor: ``HOST:PORT`` of the GCS, ``auto``, ``ray://…``)."""

    preload: str = "auto"
    """What warm kernels import before their jobs (local executor): ``auto`` (what
    templates declare and earlier jobs imported), ``off``, or ``module,module``."""

    fork_kernels: bool = True
    """Fork warm kernels from a process per kernelspec that imported ipykernel once
    (:mod:`~lepton_lab.runs.forking`); False: start each by ``exec``."""


class Executor(Protocol):
    """What the runner needs of an executor."""

    #: True when a cluster allots GPUs to jobs: the runner then claims jobs without
    #: counting GPUs of its own machine, and the manifest's GPUs come from the outcome.
    allots_gpus: bool

    async def prewarm(self, kernel_names: Iterable[str]) -> None:
        """Get ready for jobs: start warm kernels, connect to a cluster."""

    async def run(self, spec: RunSpec, events: RunEvents, cancel: asyncio.Event) -> Outcome:
        """Run one job to its end, deadline or cancel; raise :class:`WorkerLost` only when
        the machine or process running it vanished (the runner retries or marks it lost)."""

    async def close(self) -> None:
        """Stop every job still running and release what the executor holds."""


class WorkerLost(Exception):
    """The worker or machine running a job died: the job may be retried elsewhere.

    Not a job's own fault (that is an :class:`Outcome`), nor a Lepton Lab error a person
    acts on: the runner turns it into a retry or the ``lost`` state.
    """


ExecutorFactory = Callable[[ExecutorOptions], Executor]

_EXECUTORS: dict[str, str | ExecutorFactory] = {}
_entry_points_read = False


def register_executor(name: str, factory: str | ExecutorFactory) -> None:
    """Make ``name`` choosable; ``factory`` is a callable or ``"module:attribute"``
    (imported when the name is first chosen, not now)."""
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise InvalidInput(f"executor name {name!r}: use letters, digits, - and _")
    _EXECUTORS[name] = factory


def executor_names() -> list[str]:
    """Every executor name, sorted: registered ones and installed add-ons'."""
    _read_entry_points()
    return sorted(_EXECUTORS)


def create_executor(name: str, options: ExecutorOptions) -> Executor:
    """The executor registered as ``name``, made with ``options``.

    Raises :class:`~lepton_lab.errors.InvalidInput` for an unknown name (listing the known
    ones) and whatever the executor raises when it cannot work here (Ray not installed).
    """
    if name not in _EXECUTORS:
        _read_entry_points()
    factory = _EXECUTORS.get(name)
    if factory is None:
        raise unknown_name("executor", name, executor_names())
    if isinstance(factory, str):
        factory = _load(name, factory)
    return factory(options)


def _read_entry_points() -> None:
    """Register each installed ``lepton_lab.executors`` entry point, once, by its
    ``"module:attribute"`` (nothing is imported); a name already registered stays."""
    global _entry_points_read
    if _entry_points_read:
        return
    _entry_points_read = True
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name not in _EXECUTORS:
            register_executor(entry.name, f"{entry.module}:{entry.attr}")


def _load(name: str, target: str) -> ExecutorFactory:
    module_name, _, attribute = target.partition(":")
    try:
        factory: ExecutorFactory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(
            f"executor {name!r} is declared as {target}, which cannot be loaded ({exc}); "
            "reinstall the package that provides it"
        ) from None
    _EXECUTORS[name] = factory  # imported once
    return factory


def local_executor(options: ExecutorOptions) -> Executor:
    """The ``local`` executor: kernels on this machine, a warm pool per kernelspec."""
    from lepton_lab.runs.executor import LocalExecutor
    from lepton_lab.runs.sandbox import KernelUsers

    return LocalExecutor(
        options.staging_root,
        pool_size=options.pool_size,
        base_env=options.base_env,
        inherit_env=options.inherit_env,
        kernel_users=KernelUsers.from_setting(options.kernel_users),
        preload=options.preload,
        fork_kernels=options.fork_kernels,
    )


# The built-ins, also declared as entry points in pyproject.toml; registered here too so
# that a source tree that was never installed still has them.
register_executor("local", local_executor)
register_executor("ray", "lepton_lab.runs.ray_executor:RayExecutor")
