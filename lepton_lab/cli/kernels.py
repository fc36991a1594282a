"""``lepton-lab kernels``: install Lepton Lab's kernelspecs, list kernels, show the GPUs.

None of these open the workspace: they concern this machine and this environment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from lepton_lab.cli import CliState, output, pass_state
from lepton_lab.runs import gpus as gpus_module
from lepton_lab.runs import kernelspecs

__all__ = ["kernels"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _json_option(command: _F) -> _F:
    """``--json`` after the command too (``lepton-lab kernels list --json``), as before it."""
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(
        command
    )


@click.group()
def kernels() -> None:
    """Lepton Lab's Jupyter kernels (CPU and GPU) and the GPUs jobs can use."""


@kernels.command()
@click.option("--user", "user_dir", is_flag=True, help="Install for you only, in ~/.local.")
@click.option(
    "--prefix", metavar="DIR", help="Install into DIR/share/jupyter/kernels [default: this env]."
)
@click.option(
    "--python",
    metavar="EXE",
    help="The Python the kernels run [default: the one running this command].",
)
@_json_option
@pass_state
def install(
    state: CliState, user_dir: bool, prefix: str | None, python: str | None, as_json: bool
) -> None:
    """Install (or replace) the lepton-cpu and lepton-gpu kernels.

    Example: lepton-lab kernels install --user
    """
    installed = kernelspecs.install_kernels(user=user_dir, prefix=prefix, python=python)
    if as_json or state.as_json:
        output.emit_json([k.to_dict() for k in installed])
        return
    for kernel in installed:
        output.line(
            state.console, f"installed {kernel.name} ({kernel.display_name}) in {kernel.path}"
        )


@kernels.command("list")
@_json_option
@pass_state
def list_kernels(state: CliState, as_json: bool) -> None:
    """List every kernel Jupyter finds, with the GPUs each declares.

    Example: lepton-lab kernels list
    """
    output.print_items(
        state.console,
        kernelspecs.list_kernels(),
        as_json=as_json or state.as_json,
        empty="no kernels installed; install: lepton-lab kernels install",
    )


@kernels.command()
@_json_option
@pass_state
def gpus(state: CliState, as_json: bool) -> None:
    """List the GPUs jobs can use here (LEPTON_LAB_GPUS=N simulates N).

    Example: lepton-lab kernels gpus
    """
    found = gpus_module.detect_gpus()
    output.print_items(
        state.console, found, as_json=as_json or state.as_json, empty="no GPUs found"
    )
