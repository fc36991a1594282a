"""``lepton-lab serve``: a headless Jupyter Server with Lepton Lab's REST API.

For a team's shared catalog without JupyterHub, and for tests and benchmarks that need a
real server in another process.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from lepton_lab.cli import CliState, pass_state

__all__ = ["serve", "server_argv"]


def server_argv(
    state: CliState, *, ip: str, port: int, tokens_file: Path | None, allow_root: bool = False
) -> list[str]:
    """Jupyter Server's command line for the workspace and options given."""
    argv = [
        f"--ServerApp.allow_root={allow_root}",
        f"--ServerApp.ip={ip}",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False",
        "--ServerApp.jpserver_extensions=lepton_lab=True",
        # A shared server serves Lepton Lab and nothing else: no contents, kernels or
        # terminals for token holders (docs/security.md).
        "--ServerApp.authorizer_class=lepton_lab.server.auth.LeptonOnlyAuthorizer",
        "--ServerApp.terminals_enabled=False",
    ]
    for trait, value in (
        ("home", state.home),
        ("database_url", state.database_url),
        ("blob_root", state.blob_root),
    ):
        if value:
            argv.append(f"--LeptonLabApp.{trait}={value}")
    if tokens_file is not None:
        tokens = json.loads(tokens_file.read_text())
        if not isinstance(tokens, dict):
            raise click.BadParameter(
                "must hold a JSON object: token -> user", param_hint="--tokens-file"
            )
        argv += [
            "--ServerApp.identity_provider_class=lepton_lab.server.auth.StaticTokenIdentityProvider",
            "--StaticTokenIdentityProvider.tokens=" + json.dumps(tokens),
        ]
    return argv


@click.command()
@click.option("--ip", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8888, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--tokens-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON object of API token -> user (or {user, expires}) for a shared server.",
)
@click.option("--allow-root", is_flag=True, help="Run even as root (containers, CI).")
@pass_state
def serve(state: CliState, ip: str, port: int, tokens_file: Path | None, allow_root: bool) -> None:
    """Run Jupyter Server with the Lepton Lab REST API on this workspace.

    Example: lepton-lab --home /srv/lepton serve --port 8890 --tokens-file tokens.json
    """
    from jupyter_server.serverapp import ServerApp

    argv = server_argv(state, ip=ip, port=port, tokens_file=tokens_file, allow_root=allow_root)
    ServerApp.launch_instance(argv=argv)
