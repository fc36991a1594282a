"""``lepton-lab serve``: a headless Jupyter Server with Lepton Lab's REST API.

For a team's shared catalog: as a JupyterHub service (run by the Hub, docs/deployment.md)
or on its own with a tokens file; and for tests and benchmarks that need a real server in
another process.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import click

from lepton_lab.cli import CliState, pass_state

__all__ = ["HUB_ENVIRONMENT", "hub_argv", "run_by_hub", "serve", "server_argv"]

#: What the Hub gives a service it runs, all needed to serve as one.
HUB_ENVIRONMENT = (
    "JUPYTERHUB_SERVICE_NAME",
    "JUPYTERHUB_SERVICE_PREFIX",
    "JUPYTERHUB_SERVICE_URL",
    "JUPYTERHUB_API_URL",
    "JUPYTERHUB_API_TOKEN",
    "JUPYTERHUB_CLIENT_ID",
)

_HUB_PROVIDER = "lepton_lab.server.hub.HubServiceIdentityProvider"
_TOKENS_PROVIDER = "lepton_lab.server.auth.StaticTokenIdentityProvider"


def run_by_hub(env: Mapping[str, str]) -> bool:
    """Whether this process is a service the Hub runs: it names the service.  (A user's
    single-user server has a Hub token and prefix too, but no service name.)"""
    return bool(env.get("JUPYTERHUB_SERVICE_NAME") and env.get("JUPYTERHUB_API_TOKEN"))


def hub_argv(env: Mapping[str, str]) -> list[str]:
    """Jupyter Server's options for serving as the Hub's service: under its prefix, where
    its URL says, every caller identified by the Hub."""
    missing = [name for name in HUB_ENVIRONMENT if not env.get(name)]
    if missing:
        raise click.UsageError(
            f"--hub: {', '.join(missing)} not set; run lepton-lab serve as a service of "
            "JupyterHub (c.JupyterHub.services with a url and a command)"
        )
    url = urlsplit(env["JUPYTERHUB_SERVICE_URL"])
    port = url.port or (443 if url.scheme == "https" else 80)
    return [
        f"--ServerApp.base_url={env['JUPYTERHUB_SERVICE_PREFIX']}",
        f"--ServerApp.ip={url.hostname or '127.0.0.1'}",
        f"--ServerApp.port={port}",
        f"--ServerApp.identity_provider_class={_HUB_PROVIDER}",
        # Requests arrive through the Hub's proxy with the public host name; every one is
        # authenticated by the Hub, so the local-host check has nothing to add.
        "--ServerApp.allow_remote_access=True",
        "--ServerApp.trust_xheaders=True",
        # A person who opens the service from the Hub's menu sees who they are.
        "--ServerApp.default_url=/lepton/api/v1/whoami",
    ]


def server_argv(
    state: CliState,
    *,
    ip: str,
    port: int,
    tokens_file: Path | None,
    allow_root: bool = False,
    hub: Mapping[str, str] | None = None,
) -> list[str]:
    """Jupyter Server's command line for the workspace and options given; ``hub`` is the
    Hub's environment when serving as its service (then ``ip`` and ``port`` come from it).

    Holds no secret: the command line of a process is readable by every local user.
    """
    argv = [
        f"--ServerApp.allow_root={allow_root}",
        "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False",
        "--ServerApp.jpserver_extensions=lepton_lab=True",
        # A shared server serves Lepton Lab and nothing else: no contents, kernels or
        # terminals for token holders (docs/security.md).
        "--ServerApp.authorizer_class=lepton_lab.server.auth.LeptonOnlyAuthorizer",
        "--ServerApp.terminals_enabled=False",
        # This server holds the catalog: never a forwarder, whatever LEPTON_LAB_URL says.
        "--LeptonLabApp.service_url=",
        # Nor does it start runners on the database: their kernels would get its
        # credentials.  Shared runners claim over HTTP (lepton-lab runner --server).
        "--LeptonLabApp.start_runner=False",
    ]
    if hub is not None:
        argv += hub_argv(hub)
    else:
        argv += [f"--ServerApp.ip={ip}", f"--ServerApp.port={port}"]
    for trait, value in (
        ("home", state.home),
        ("database_url", state.database_url),
        ("blob_root", state.blob_root),
    ):
        if value:
            argv.append(f"--LeptonLabApp.{trait}={value}")
    if tokens_file is not None:
        _check_tokens_file(tokens_file)
        argv += [
            f"--ServerApp.identity_provider_class={_TOKENS_PROVIDER}",
            # The file's name, never its tokens: the server reads it.
            f"--StaticTokenIdentityProvider.tokens_file={tokens_file.resolve()}",
        ]
    return argv


def _check_tokens_file(tokens_file: Path) -> None:
    """Refuse a tokens file that is not a JSON object before the server starts."""
    try:
        tokens = json.loads(tokens_file.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--tokens-file") from None
    if not isinstance(tokens, dict):
        raise click.BadParameter(
            "must hold a JSON object: token -> user", param_hint="--tokens-file"
        )


@click.command()
@click.option("--ip", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8888, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--tokens-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON object of API token -> user (or {user, expires}) for a shared server.",
)
@click.option(
    "--hub/--no-hub",
    default=None,
    help=(
        "Serve as a JupyterHub service: under $JUPYTERHUB_SERVICE_PREFIX, listening where "
        "$JUPYTERHUB_SERVICE_URL says, users identified by the Hub. Default: on when the "
        "Hub runs this command (JUPYTERHUB_SERVICE_NAME and JUPYTERHUB_API_TOKEN set)."
    ),
)
@click.option("--allow-root", is_flag=True, help="Run even as root (containers, CI).")
@pass_state
def serve(
    state: CliState,
    ip: str,
    port: int,
    tokens_file: Path | None,
    hub: bool | None,
    allow_root: bool,
) -> None:
    """Run Jupyter Server with the Lepton Lab REST API on this workspace.

    Example: lepton-lab --home /srv/lepton serve --port 8890 --tokens-file tokens.json
    """
    from jupyter_server.serverapp import ServerApp

    env = dict(os.environ)
    as_service = run_by_hub(env) if hub is None else hub
    if as_service and tokens_file is not None:
        raise click.UsageError("--tokens-file and --hub: under JupyterHub the Hub's tokens apply")
    argv = server_argv(
        state,
        ip=ip,
        port=port,
        tokens_file=tokens_file,
        allow_root=allow_root,
        hub=env if as_service else None,
    )
    ServerApp.launch_instance(argv=argv)
