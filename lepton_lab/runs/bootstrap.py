"""The code a job's kernel runs, silently, before the notebook's first cell.

The executor sends this file's source to the kernel (so it must only use the standard
library: the kernel's Python need not have lepton_lab installed), loads it there as the
module ``_lepton_lab_bootstrap`` and calls :func:`start`.  That sets the job's
environment variables and seeds ``random``, numpy and torch; numpy and torch are seeded
at once when the kernel already imported them and otherwise right after their first
import, so that starting a job never pays for importing them.  :func:`kernel_info_json`
tells the executor which Python and packages the job ran with.

A warm kernel may run :func:`preload` before any job is given to it: it imports the
modules named (what templates declare or earlier jobs imported), nothing of any job's.
:func:`imported_json` tells the executor, once a job ended, which modules it imported
(the pool's next kernels pre-import them: docs/jobs.md, "Pre-imported kernels").

:func:`request` and :func:`parse_kernel_info` are the executor's side: they travel to the
kernel with the rest of the file but are never called there.
"""

from __future__ import annotations

import ast
import functools
import importlib.abc
import importlib.machinery
import json
import os
import random
import socket
import sys
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

#: Distributions whose versions :func:`kernel_info` reports, when installed.
PACKAGES = ("numpy", "pandas", "scikit-learn", "torch", "papermill", "ipykernel", "lepton-lab")
#: Never taken from a job's environment: a kernel's devices are fixed when it starts.
FIXED_ENV = ("CUDA_VISIBLE_DEVICES",)
#: The most module names a job reports as imported (:func:`imported_json`).
MAX_IMPORTED = 2048

#: The modules loaded when the job started (:func:`start`); None before.
_started_with: frozenset[str] | None = None
#: The folders of installed code when the job started (:func:`start`).
_installed: tuple[str, ...] = ()
#: The modules :func:`preload` could not import.
preload_failed: list[str] = []


def start(args_json: str) -> None:
    """Prepare the kernel for one job, from ``{"job_id", "user", "seed", "env"}`` in JSON."""
    args = json.loads(args_json)
    env = {str(k): str(v) for k, v in args.get("env", {}).items() if k not in FIXED_ENV}
    env["LEPTON_LAB_JOB_ID"] = str(args["job_id"])
    env["LEPTON_LAB_USER"] = str(args["user"])
    env["LEPTON_LAB_SEED"] = str(args["seed"])
    os.environ.update(env)
    seed_all(int(args["seed"]))
    global _started_with, _installed
    _started_with = frozenset(sys.modules)
    # Where installed code lives, as the kernel started: the interpreter's prefixes and
    # the import path's folders (a checkout installed in place under /tmp included).
    folders = {sys.prefix, sys.base_prefix, *(p for p in sys.path if p and p != ".")}
    _installed = tuple(os.path.realpath(p) + os.sep for p in folders if os.path.isdir(p))


def preload(names_json: str) -> None:
    """Import each module of the JSON list, each in its own try; those that failed are
    left in :data:`preload_failed`.  Only ever run before a job: nothing of a job's is here."""
    for name in json.loads(names_json):
        if not is_module_name(name):
            preload_failed.append(str(name))
            continue
        try:
            importlib.import_module(name)
        except (Exception, SystemExit):  # a broken or missing module: the job imports it itself
            preload_failed.append(name)


def is_module_name(name: object) -> bool:
    """Whether ``name`` is a dotted module name (``matplotlib.pyplot``), nothing else."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= 200
        and all(part.isidentifier() for part in name.split("."))
    )


def imported() -> list[str]:
    """The modules the job imported, in import order: public names (no part starting
    with ``_``; their parents import the private ones) outside the standard library, not
    loaded from the job's own folder or temporary folder; at most :data:`MAX_IMPORTED`."""
    if _started_with is None:
        return []
    mine = tuple(os.path.realpath(p) + os.sep for p in (os.getcwd(), tempfile.gettempdir()))
    # The job's folder may be on the import path (the kernel's cwd): not installed code.
    installed = tuple(p for p in _installed if not p.startswith(mine[0]))
    names: list[str] = []
    for name, module in list(sys.modules.items()):
        parts = name.split(".")
        if (
            name in _started_with
            or parts[0] in getattr(sys, "stdlib_module_names", ())
            or any(p.startswith("_") for p in parts)
            or not is_module_name(name)
        ):
            continue
        where = getattr(module, "__file__", None)
        if isinstance(where, str) and _own(os.path.realpath(where), mine, installed):
            continue  # the job's own code: not for other jobs' kernels
        names.append(name)
        if len(names) == MAX_IMPORTED:
            break
    return names


def _own(path: str, mine: tuple[str, ...], installed: tuple[str, ...]) -> bool:
    """Whether a module's file is the job's own: in its folder, or in the temporary
    folder and not in an installed one (a virtualenv may live under /tmp)."""
    if path.startswith(mine[0]):
        return True
    return path.startswith(mine[1:]) and not any(path.startswith(p) for p in installed)


def imported_json() -> str:
    """:func:`imported` as JSON."""
    return json.dumps(imported())


def preload_failed_json() -> str:
    """:data:`preload_failed` as JSON."""
    return json.dumps(preload_failed)


def seed_all(seed: int) -> None:
    """Seed ``random`` now, and numpy and torch now or as soon as they are imported."""
    random.seed(seed)
    seeders: dict[str, Callable[[ModuleType], None]] = {
        "numpy": lambda np: np.random.seed(seed % 2**32),  # numpy only takes 32-bit seeds
        "torch": lambda torch: torch.manual_seed(seed),  # seeds the CUDA devices as well
    }
    pending = {}
    for name, seeder in seeders.items():
        if name in sys.modules:
            _seed(seeder, sys.modules[name])
        else:
            pending[name] = seeder
    if pending:
        sys.meta_path.insert(0, SeedOnImport(pending))


def _seed(seeder: Callable[[ModuleType], None], module: ModuleType) -> None:
    try:
        seeder(module)
    except Exception as exc:  # a broken install must not break the import itself
        warnings.warn(f"Lepton Lab could not seed {module.__name__}: {exc}", stacklevel=2)


class SeedOnImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps the loader of a pending module so it is seeded once loaded."""

    def __init__(self, pending: dict[str, Callable[[ModuleType], None]]) -> None:
        self.pending = pending

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """The spec the other finders give for ``fullname``, its loader wrapped if pending."""
        seeder = self.pending.pop(fullname, None)  # popped first: the lookup below recurses
        if seeder is None:
            return None
        if not self.pending:
            sys.meta_path.remove(self)
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec: importlib.machinery.ModuleSpec | None = None
            if find is not None and finder is not self:
                spec = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None:
            spec.loader = SeedingLoader(spec.loader, seeder)
        return spec


class SeedingLoader(importlib.abc.Loader):
    """Loads a module with its real loader, then seeds it."""

    def __init__(self, loader: Any, seeder: Callable[[ModuleType], None]) -> None:
        self.loader = loader
        self.seeder = seeder

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        """What the real loader creates."""
        created: ModuleType | None = self.loader.create_module(spec)
        return created

    def exec_module(self, module: ModuleType) -> None:
        """Run the module with its real loader put back in place, then seed it."""
        # Restored before running it, so the module and its submodules only ever see the
        # real loader (importlib.resources and friends look at it).
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        _seed(self.seeder, module)


def kernel_info() -> dict[str, Any]:
    """The Python, its executable, the versions of :data:`PACKAGES` and the host name."""
    packages = {}
    for dist in PACKAGES:
        try:
            packages[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return {
        "python": sys.version,
        "executable": sys.executable,
        "packages": packages,
        "hostname": socket.gethostname(),
    }


def kernel_info_json() -> str:
    """:func:`kernel_info` as JSON (what a ``user_expressions`` entry evaluates to)."""
    return json.dumps(kernel_info())


# -- the executor's side ------------------------------------------------------------------

#: The module name this file is loaded under in the kernel.
MODULE = "_lepton_lab_bootstrap"


def request(
    job_id: str, user: str, seed: int, env: Mapping[str, str]
) -> tuple[str, dict[str, str]]:
    """The code that loads this file in the kernel and starts the job, and the expressions
    (for the execute request's ``user_expressions``) that give back :func:`kernel_info`."""
    args = json.dumps({"job_id": job_id, "user": user, "seed": seed, "env": dict(env)})
    return _calling("start", args), {"kernel_info": f"__import__({MODULE!r}).kernel_info_json()"}


def preload_request(modules: Sequence[str]) -> tuple[str, dict[str, str]]:
    """The code that loads this file in a kernel no job has yet and imports ``modules``,
    and the expression that gives back those that failed (:func:`parse_json_expression`)."""
    code = _calling("preload", json.dumps(list(modules)))
    return code, {"failed": f"__import__({MODULE!r}).preload_failed_json()"}


#: The expression that gives back :func:`imported` once a job ran (the bootstrap loaded).
IMPORTED_EXPRESSION = {"imported": f"__import__({MODULE!r}).imported_json()"}


def _calling(function: str, args_json: str) -> str:
    """Code that loads this file as :data:`MODULE` and calls ``function(args_json)``."""
    return "\n".join(
        [  # literals made with repr(): nothing of the job's is ever pasted in as code
            "import sys as _ll_sys, types as _ll_types",
            f"_ll_mod = _ll_sys.modules[{MODULE!r}] = _ll_types.ModuleType({MODULE!r})",
            f"exec(compile({_source()!r}, '<lepton-lab bootstrap>', 'exec'), _ll_mod.__dict__)",
            f"_ll_mod.{function}({args_json!r})",
            "del _ll_sys, _ll_types, _ll_mod",
        ]
    )


@functools.cache
def _source() -> str:
    return Path(__file__).read_text(encoding="utf-8")


def parse_kernel_info(user_expressions: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`kernel_info` from an execute reply's ``user_expressions``; {} if missing."""
    info = parse_json_expression(user_expressions, "kernel_info")
    return info if isinstance(info, dict) else {}


def parse_module_names(user_expressions: Mapping[str, Any], key: str) -> list[str]:
    """The module names of the JSON list ``key`` evaluated to (the kernel's word: each
    checked to be a dotted name, :data:`MAX_IMPORTED` at most); [] if missing."""
    names = parse_json_expression(user_expressions, key)
    if not isinstance(names, list):
        return []
    return [n for n in names if is_module_name(n)][:MAX_IMPORTED]


def parse_json_expression(user_expressions: Mapping[str, Any], key: str) -> Any:
    """The JSON value the expression ``key`` evaluated to (its repr); None if missing."""
    result = user_expressions.get(key, {})
    try:
        return json.loads(ast.literal_eval(result["data"]["text/plain"]))
    except (KeyError, TypeError, ValueError, SyntaxError, MemoryError, RecursionError):
        return None
