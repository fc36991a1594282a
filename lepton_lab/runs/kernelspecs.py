"""Lepton Lab's kernelspecs: install them, list what Jupyter has, check a job's kernel.

Two kernels ship in the repository's ``kernels/`` folder (``lepton_lab/_data/kernels`` in
a wheel): ``lepton-cpu``, which hides every GPU, and ``lepton-gpu``, which declares in
its ``metadata.lepton.gpus`` how many GPUs a job on it needs.  Both run this environment's
Python: :func:`install_kernels` writes the interpreter into ``argv[0]``.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lepton_lab.errors import InvalidInput, LeptonLabError, did_you_mean

__all__ = [
    "InstalledKernel",
    "KernelInfo",
    "data_dir",
    "declared_gpus",
    "install_kernels",
    "list_kernels",
    "require_kernel",
]

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class InstalledKernel:
    """A kernelspec that :func:`install_kernels` wrote."""

    name: str
    """The kernel's name, such as ``lepton-gpu``: what a job names."""

    display_name: str
    """What JupyterLab's launcher shows."""

    path: Path
    """The folder it was installed into."""

    gpus: int
    """GPUs a job on this kernel needs (``metadata.lepton.gpus``)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {**asdict(self), "path": str(self.path)}


@dataclass(frozen=True)
class KernelInfo:
    """A kernelspec Jupyter can find, Lepton Lab's or not."""

    name: str
    """The kernel's name."""

    display_name: str
    """What JupyterLab's launcher shows."""

    language: str
    """The kernel's language, such as ``python``."""

    path: Path
    """The kernelspec's folder."""

    executable: str
    """``argv[0]``: the program the kernel runs."""

    gpus: int
    """GPUs declared in ``metadata.lepton.gpus`` (0 when not declared)."""

    lepton: bool
    """Whether the kernelspec carries ``metadata.lepton`` (one of Lepton Lab's)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {**asdict(self), "path": str(self.path)}

    def row(self) -> dict[str, Any]:
        """One line of a listing."""
        return {
            "kernel": self.name,
            "display name": self.display_name,
            "gpus": self.gpus,
            "lepton": "yes" if self.lepton else "",
            "language": self.language,
            "path": str(self.path),
        }


def data_dir(name: str) -> Path:
    """The folder of shipped files ``name`` (``kernels``, ``notebook_templates``).

    A wheel carries it as ``lepton_lab/_data/<name>``; a source or editable checkout
    has it at the repository root, beside the package.
    """
    candidates = [_PACKAGE_DIR / "_data" / name, _PACKAGE_DIR.parent / name]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    looked = " and ".join(str(c) for c in candidates)
    raise LeptonLabError(
        f"Lepton Lab's {name} folder is missing (looked in {looked}); reinstall lepton-lab"
    )


def install_kernels(
    *, user: bool = False, prefix: str | None = None, python: str | None = None
) -> list[InstalledKernel]:
    """Install (or replace) Lepton Lab's kernelspecs, running ``python`` (default: this one).

    They go into this environment (``sys.prefix``) unless ``user`` (the user's Jupyter
    folder) or ``prefix`` (``<prefix>/share/jupyter/kernels``) say otherwise.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    if user and prefix:
        raise InvalidInput("choose one of --user and --prefix")
    interpreter = _interpreter(python)
    manager = KernelSpecManager()
    installed = []
    for source in sorted(p for p in data_dir("kernels").iterdir() if (p / "kernel.json").is_file()):
        spec = json.loads((source / "kernel.json").read_text(encoding="utf-8"))
        if spec["argv"] and spec["argv"][0] == "python":
            spec["argv"][0] = interpreter
        with tempfile.TemporaryDirectory() as staging:
            # Copy the whole folder (logos and all), then write the rewritten spec over it.
            staged = Path(staging) / source.name
            shutil.copytree(source, staged)
            (staged / "kernel.json").write_text(json.dumps(spec, indent=2) + "\n", "utf-8")
            try:
                destination = manager.install_kernel_spec(
                    str(staged),
                    kernel_name=source.name,
                    user=user,
                    prefix=None if user else (prefix or sys.prefix),
                )
            except OSError as exc:
                raise InvalidInput(
                    f"cannot install kernel {source.name}: {exc}; try --user or --prefix"
                ) from None
        installed.append(
            InstalledKernel(source.name, spec["display_name"], Path(destination), _gpus(spec))
        )
    return installed


def _interpreter(python: str | None) -> str:
    """The absolute path of ``python`` (a path or a name on PATH); this one when None."""
    if python is None:
        return sys.executable
    found = shutil.which(python)
    if found is None:
        raise InvalidInput(f"no Python interpreter {python!r}: give a path or a name on PATH")
    return str(Path(found).absolute())


def list_kernels() -> list[KernelInfo]:
    """Every kernelspec Jupyter finds (``JUPYTER_PATH``, user, environment, system), by name."""
    from jupyter_client.kernelspec import KernelSpecManager

    found = []
    for name, entry in sorted(KernelSpecManager().get_all_specs().items()):
        spec = entry["spec"]
        found.append(
            KernelInfo(
                name=name,
                display_name=spec.get("display_name", name),
                language=spec.get("language", ""),
                path=Path(entry["resource_dir"]),
                executable=(spec.get("argv") or [""])[0],
                gpus=_gpus(spec),
                lepton=isinstance(spec.get("metadata", {}).get("lepton"), Mapping),
            )
        )
    return found


def _gpus(spec: Mapping[str, Any]) -> int:
    """``metadata.lepton.gpus``, or 0 when it is missing or not a number."""
    lepton = (spec.get("metadata") or {}).get("lepton") or {}
    value = lepton.get("gpus", 0) if isinstance(lepton, Mapping) else 0
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def require_kernel(name: str) -> None:
    """Raise :class:`~lepton_lab.errors.InvalidInput` unless kernel ``name`` is installed."""
    from jupyter_client.kernelspec import KernelSpecManager

    # Names only: cheaper than reading every spec as list_kernels does.
    names = sorted(KernelSpecManager().find_kernel_specs())
    if name in names:
        return
    suggestion = did_you_mean(name, names) or ";"
    raise InvalidInput(
        f"kernel {name!r} is not installed{suggestion} installed: {', '.join(names) or 'none'}; "
        "install Lepton Lab's with: lepton-lab kernels install"
    )


def declared_gpus(name: str) -> int:
    """How many GPUs kernel ``name`` declares it needs (``metadata.lepton.gpus``; 0 if none)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        return 0
    return _gpus(spec.to_dict())
