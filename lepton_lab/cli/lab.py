"""``lepton-lab lab``: JupyterLab on a workspace, opening its welcome notebook.

``make lab`` runs it on the demo's workspace.  JupyterLab serves the workspace's
``notebooks/`` folder; the kernels it starts inherit ``LEPTON_LAB_HOME`` and so open the
same catalog as the server extension.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from lepton_lab.cli import CliState, pass_state

__all__ = ["lab", "lab_argv"]


def lab_argv(home: Path, *, ip: str, port: int, browser: bool, allow_root: bool) -> list[str]:
    """JupyterLab's command line: the notebooks folder as root, the welcome notebook open."""
    from lepton_lab.demo import notebooks_folder
    from lepton_lab.demo.welcome import WELCOME, write_welcome

    folder = notebooks_folder(home)
    write_welcome(folder)
    return [
        f"--ServerApp.root_dir={folder}",
        f"--ServerApp.ip={ip}",
        f"--ServerApp.port={port}",
        f"--ServerApp.open_browser={browser}",
        f"--ServerApp.allow_root={allow_root}",
        f"--LabApp.default_url=/lab/tree/{WELCOME}",
        f"--LeptonLabApp.home={home}",
    ]


@click.command()
@click.option("--ip", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8888, show_default=True, type=int, help="Port to listen on.")
@click.option("--browser/--no-browser", default=True, help="Open a web browser.")
@click.option("--allow-root", is_flag=True, help="Run even as root (containers, CI).")
@pass_state
def lab(state: CliState, ip: str, port: int, browser: bool, allow_root: bool) -> None:
    """Start JupyterLab on the workspace, opening its welcome notebook.

    The welcome notebook shows every widget; `lepton-lab demo` fills the workspace it shows.

    Example: lepton-lab --home .workspace lab --port 8888
    """
    from jupyterlab.labapp import LabApp

    from lepton_lab.config import Settings

    home = Settings.from_env(home=state.home).home
    argv = lab_argv(home, ip=ip, port=port, browser=browser, allow_root=allow_root)
    # The kernels JupyterLab starts inherit the environment: the same workspace.
    os.environ["LEPTON_LAB_HOME"] = str(home)
    LabApp.launch_instance(argv=argv)
