"""``lepton-lab runner``: claim jobs and run them, on this machine or a Ray cluster."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lepton_lab.cli import CliState, F, pass_state
from lepton_lab.errors import InvalidInput

if TYPE_CHECKING:
    from lepton_lab.runs.link import RunnerLink

__all__ = ["DEFAULT_STAGING", "runner"]

#: Where a runner on a shared server makes jobs' folders: outside any home folder, so
#: that kernel users can reach their own folder in it.
DEFAULT_STAGING = "/var/lib/lepton-lab/jobs"


def _env_option(name: str, envvar: str, *, help: str, **details: Any) -> Callable[[F], F]:
    """An option that the environment variable ``envvar`` may set, as its help says."""
    return click.option(name, envvar=envvar, default=None, help=f"{help} [env: {envvar}].",
                        **details)  # fmt: skip


@click.command()
@click.option("--concurrency", type=click.IntRange(1, 256), default=2, show_default=True,
              help="Jobs run at once.")  # fmt: skip
@click.option("--pool-size", type=click.IntRange(0, 64), default=None,
              help="Fresh kernels kept started per kernelspec [default: concurrency].")  # fmt: skip
@click.option("--gpus", metavar="LIST", default=None,
              help="GPU indices to hand out, e.g. 0,1 (default: every GPU detected; "
              "LEPTON_LAB_GPUS=N simulates N).")  # fmt: skip
@click.option("--prewarm", metavar="KERNELS", default="python3", show_default=True,
              help="Comma-separated kernelspecs to start kernels for at once.")  # fmt: skip
@click.option("--idle-exit", type=click.FloatRange(min=0), default=None,
              help="Exit after this many seconds without jobs.")  # fmt: skip
@click.option("--max-jobs", type=click.IntRange(min=1), default=None,
              help="Exit after running this many jobs.")  # fmt: skip
@click.option("--executor", metavar="NAME", default=None,
              help="Where jobs run: local or ray "
              "[default: $LEPTON_LAB_EXECUTOR or local].")  # fmt: skip
@click.option("--address", metavar="ADDRESS", default=None,
              help="The Ray cluster of --executor ray: HOST:PORT of its GCS, auto, or "
              "ray://HOST:10001 [default: $LEPTON_LAB_RAY_ADDRESS, then "
              "$RAY_ADDRESS].")  # fmt: skip
@_env_option("--server", "LEPTON_LAB_RUNNER_SERVER", metavar="URL",
             help="Claim jobs from this shared Lepton Lab server over HTTP, with the runner "
             "token of --token-file: the runner then holds no database or blob "
             "credentials")  # fmt: skip
@_env_option("--token-file", "LEPTON_LAB_RUNNER_TOKEN_FILE",
             type=click.Path(exists=True, dir_okay=False, path_type=Path),
             help="The file holding this runner's token (one of the server's "
             "runner_tokens_file)")  # fmt: skip
@click.option("--staging", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where jobs' working folders are made with --server "
              f"[default: {DEFAULT_STAGING}].")  # fmt: skip
@click.option("--kernel-users", metavar="off|auto|N|NAMES", default=None,
              help="Run each job's kernel as its own unprivileged OS user: auto (where the "
              "runner may switch users), N users lepton-job-0..N-1 created if missing, or "
              "existing names a,b [default: auto with --server, else off].")  # fmt: skip
@click.option("--preload", metavar="auto|off|MODULES", default="auto", show_default=True,
              help="What warm kernels import before their jobs: auto (what templates "
              "declare and earlier jobs imported), off, or modules a,b.c.")  # fmt: skip
@click.option("--fork-kernels/--no-fork-kernels", default=True, show_default=True,
              help="Start warm kernels by forking one process per kernelspec that imported "
              "ipykernel once (each kernel still fresh, for one job); --no-fork-kernels: "
              "start each by exec.")  # fmt: skip
@click.option("--new-token", is_flag=True,
              help="Print a new random runner token and exit (add it to the server's "
              "runner_tokens_file, give it to the runner in --token-file).")  # fmt: skip
@pass_state
def runner(
    state: CliState,
    concurrency: int,
    pool_size: int | None,
    gpus: str | None,
    prewarm: str,
    idle_exit: float | None,
    max_jobs: int | None,
    executor: str | None,
    address: str | None,
    server: str | None,
    token_file: Path | None,
    staging: Path | None,
    kernel_users: str | None,
    preload: str,
    fork_kernels: bool,
    new_token: bool,
) -> None:
    """Claim queued jobs and run them here, until stopped (Ctrl-C, SIGTERM).

    Several runners may share one database, on one machine or many: each job runs once.
    Stopping lets the jobs running now finish first; a second signal stops at once (those
    jobs are retried by another runner when their lease expires).

    With --executor ray each job runs as a Ray task on the cluster at --address, which
    allots its GPUs; the runner still claims, heartbeats and records every job.

    Example: lepton-lab runner --concurrency 4 --gpus 0,1

    Example: lepton-lab runner --executor ray --address 10.0.0.5:6379 --concurrency 16

    In a shared deployment a runner claims over HTTP and holds only the server's URL and
    its runner token (docs/jobs.md, docs/security.md):

    Example: lepton-lab runner --server https://lab.example.org/ --token-file /etc/lepton/runner
    """
    from lepton_lab.config import Settings
    from lepton_lab.runs.link import DatabaseLink
    from lepton_lab.runs.runner import Runner, RunnerConfig, serve

    if new_token:
        click.echo("llr_" + secrets.token_urlsafe(32))
        return
    queue = _queue(state, server, token_file, staging)
    settings = queue.workspace.settings if isinstance(queue, DatabaseLink) else Settings.from_env()
    config = RunnerConfig(
        concurrency=concurrency,
        pool_size=pool_size,
        gpus=_parse_gpus(gpus),
        prewarm=tuple(k.strip() for k in prewarm.split(",") if k.strip()),
        idle_exit=idle_exit,
        max_jobs=max_jobs,
        executor=executor or settings.executor,
        address=settings.ray_address if address is None else address,
        kernel_users=kernel_users or ("auto" if server else "off"),
        preload=preload,
        fork_kernels=fork_kernels,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        asyncio.run(serve(Runner(queue, config)))
    finally:
        queue.close()


def _queue(
    state: CliState, server: str | None, token_file: Path | None, staging: Path | None
) -> RunnerLink:
    """The shared server over HTTP (``--server``), else the workspace's database."""
    from lepton_lab.client import LocalClient
    from lepton_lab.client.runners import HttpLink
    from lepton_lab.runs.leases import new_runner_id
    from lepton_lab.runs.link import DatabaseLink

    if server:
        if token_file is None:
            raise InvalidInput("--server needs --token-file: the file holding this runner's token")
        token = token_file.read_text().strip()
        folder = staging or Path(DEFAULT_STAGING)
        return HttpLink(server, token, staging_root=folder)
    client = state.client
    if not isinstance(client, LocalClient):
        raise InvalidInput(
            "a runner works on the job database itself, or on a shared server with "
            "--server URL --token-file FILE: run it where the workspace is (pass --home or "
            "--database-url), or give --server"
        )
    return DatabaseLink(client.workspace, new_runner_id())


def _parse_gpus(text: str | None) -> list[int] | None:
    if text is None:
        return None
    if not text.strip():
        return []
    try:
        return sorted({int(part) for part in text.split(",")})
    except ValueError:
        raise InvalidInput(f"--gpus {text!r}: give GPU indices like 0,1") from None
