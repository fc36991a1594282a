"""The ``lepton-lab`` command: a thin shell over the Python client.

Each command parses its input, calls the client (local, or remote when ``LEPTON_LAB_URL``
names a server: see :attr:`CliState.client`) and renders the answer (``--json`` for
machines).  The client is opened only when a command needs it, and every
:class:`~lepton_lab.errors.LeptonLabError` is reported in one place, as ``error: <message>``
with the error's exit code.  Subcommand groups are imported when they run, so ``--help``
and ``--version`` stay fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console

from lepton_lab._version import __version__
from lepton_lab.cli import output
from lepton_lab.errors import InvalidInput, LeptonLabError

if TYPE_CHECKING:
    from lepton_lab.client import Client

__all__ = [
    "SUBCOMMANDS",
    "CliState",
    "RootGroup",
    "cli",
    "main",
    "options",
    "param_option",
    "pass_state",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Subcommand group name -> the module defining a click group of that name.
SUBCOMMANDS: dict[str, str] = {
    "datasets": "lepton_lab.cli.datasets",
    "runner": "lepton_lab.cli.runner",
    "kernels": "lepton_lab.cli.kernels",
    "serve": "lepton_lab.cli.serve",
    "lab": "lepton_lab.cli.lab",
    "teams": "lepton_lab.cli.teams",
    "templates": "lepton_lab.cli.templates",
    "jobs": "lepton_lab.cli.jobs",
    "models": "lepton_lab.cli.models",
    "pipelines": "lepton_lab.cli.pipelines",
    "run": "lepton_lab.cli.run",
    "schedules": "lepton_lab.cli.schedules",
    "sweep": "lepton_lab.cli.sweep",
}


@dataclass
class CliState:
    """What every command shares: the global options and the client, opened on first use."""

    home: Path | None = None
    """``--home``: the workspace folder (None: ``LEPTON_LAB_HOME`` or ``~/.lepton-lab``)."""

    database_url: str | None = None
    """``--database-url``: the catalog database (None: from the environment or home)."""

    blob_root: str | None = None
    """``--blob-root``: where blobs live (None: from the environment or home)."""

    user: str | None = None
    """``--user``: who acts (None: ``LEPTON_LAB_USER``, ``JUPYTERHUB_USER`` or the OS user)."""

    as_json: bool = False
    """``--json``: print machine-readable JSON instead of tables."""

    console: Console = field(default_factory=output.make_console)
    """Where tables and text go (standard output)."""

    _client: Client | None = field(default=None, init=False, repr=False)

    @property
    def client(self) -> Client:
        """The client the options and the environment describe, opened on first use.

        ``--home``, ``--database-url`` or ``--blob-root`` mean that local workspace;
        otherwise the same discovery as ``ll.datasets``: the server at ``LEPTON_LAB_URL``
        (with ``LEPTON_LAB_TOKEN``) when set, else the local workspace.
        """
        if self._client is None:
            self._client = self._open_client()
        return self._client

    def _open_client(self) -> Client:
        from lepton_lab.client import discover, open_local

        if self.home or self.database_url or self.blob_root:
            return open_local(
                home=self.home,
                database_url=self.database_url,
                blob_root=self.blob_root,
                user=self.user,
            )
        return discover(user=self.user)

    def close(self) -> None:
        """Release the client's connections, if it was opened."""
        if self._client is not None:
            self._client.close()
            self._client = None


pass_state = click.make_pass_decorator(CliState)
"""Decorator handing a command the shared :class:`CliState` as its first argument."""


def options(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    """One decorator applying ``decorators`` in the order written (as stacked decorators):
    the options several commands share, declared once."""

    def apply(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


def param_option(help: str) -> Callable[[F], F]:
    """``-p/--param NAME VALUE``, repeatable, handed to the command as ``params``."""
    return click.option(
        "-p", "--param", "params", nargs=2, multiple=True, metavar="NAME VALUE", help=help
    )


class RootGroup(click.Group):
    """The root group: loads subcommand groups lazily and turns Lepton Lab errors into exits."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Built-in commands and the lazily loaded groups, sorted."""
        return sorted([*super().list_commands(ctx), *SUBCOMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The named command, importing its module when it is a lazily loaded group."""
        if cmd_name not in SUBCOMMANDS:
            return super().get_command(ctx, cmd_name)
        command = getattr(importlib.import_module(SUBCOMMANDS[cmd_name]), cmd_name)
        if not isinstance(command, click.Command):
            raise TypeError(f"{SUBCOMMANDS[cmd_name]}.{cmd_name} is not a click command")
        return command

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a Lepton Lab error becomes ``error: …`` and its exit code."""
        try:
            return super().invoke(ctx)
        except LeptonLabError as exc:
            output.error(exc.message)
            ctx.exit(exc.exit_code)


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    help="Workspace folder [default: $LEPTON_LAB_HOME or ~/.lepton-lab].",
)
@click.option(
    "--database-url",
    metavar="URL",
    help="SQLAlchemy URL of the catalog [default: $LEPTON_LAB_DATABASE_URL or SQLite in home].",
)
@click.option(
    "--blob-root",
    metavar="URL",
    help="Folder or fsspec URL for blobs [default: $LEPTON_LAB_BLOB_ROOT or home/blobs].",
)
@click.option(
    "--user", metavar="NAME", help="Act as this user [default: $LEPTON_LAB_USER or your login]."
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.version_option(__version__, prog_name="lepton-lab")
@click.pass_context
def cli(
    ctx: click.Context,
    home: Path | None,
    database_url: str | None,
    blob_root: str | None,
    user: str | None,
    as_json: bool,
) -> None:
    """Share datasets with your teams from the command line."""
    state = CliState(home, database_url, blob_root, user, as_json)
    ctx.obj = state
    ctx.call_on_close(state.close)


@cli.command()
@pass_state
def whoami(state: CliState) -> None:
    """Show who you are here, your teams and roles, and the workspace in use.

    Example: lepton-lab whoami
    """
    info = state.client.whoami()
    if state.as_json:
        output.emit_json(info)
        return
    admin = " (site admin)" if info["site_admin"] else ""
    fields = {"user": f"{info['user']}{admin}", "workspace": info["workspace"]}
    state.console.print(output.fields_table(fields))
    teams = [{"team": team, "role": role} for team, role in info["teams"].items()]
    output.print_rows(state.console, teams, empty="not a member of any team yet")


@cli.command()
@pass_state
def demo(state: CliState) -> None:
    """The whole loop on real data: datasets, template jobs, models, a promotion, a rerun.

    Safe to run again: identical data is not stored twice; the jobs run again.

    Example: LEPTON_LAB_HOME=./.workspace lepton-lab demo
    """
    from lepton_lab import demo as demo_module
    from lepton_lab.client import LocalClient

    client = state.client
    if not isinstance(client, LocalClient):
        raise InvalidInput("the demo seeds a local workspace: pass --home, or unset LEPTON_LAB_URL")
    demo_module.run(client, state.console)


def main() -> None:
    """The ``lepton-lab`` entry point."""
    cli.main(prog_name="lepton-lab")
