"""``lepton-lab runner``: claim jobs and run them, on this machine or a Ray cluster."""

from __future__ import annotations

import asyncio
import logging

import click

from lepton_lab.cli import CliState, pass_state
from lepton_lab.errors import InvalidInput

__all__ = ["runner"]


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
) -> None:
    """Claim queued jobs and run them here, until stopped (Ctrl-C, SIGTERM).

    Several runners may share one database, on one machine or many: each job runs once.
    Stopping lets the jobs running now finish first; a second signal stops at once (those
    jobs are retried by another runner when their lease expires).

    With --executor ray each job runs as a Ray task on the cluster at --address, which
    allots its GPUs; the runner still claims, heartbeats and records every job.

    Example: lepton-lab runner --concurrency 4 --gpus 0,1

    Example: lepton-lab runner --executor ray --address 10.0.0.5:6379 --concurrency 16
    """
    from lepton_lab.client import LocalClient
    from lepton_lab.runs.runner import Runner, RunnerConfig, serve

    client = state.client
    if not isinstance(client, LocalClient):
        raise InvalidInput(
            "a runner works on the job database itself: run it where the workspace is "
            "(pass --home or --database-url, or unset LEPTON_LAB_URL)"
        )
    settings = client.workspace.settings
    config = RunnerConfig(
        concurrency=concurrency,
        pool_size=pool_size,
        gpus=_parse_gpus(gpus),
        prewarm=tuple(k.strip() for k in prewarm.split(",") if k.strip()),
        idle_exit=idle_exit,
        max_jobs=max_jobs,
        executor=executor or settings.executor,
        address=settings.ray_address if address is None else address,
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    asyncio.run(serve(Runner(client.workspace, config)))


def _parse_gpus(text: str | None) -> list[int] | None:
    if text is None:
        return None
    if not text.strip():
        return []
    try:
        return sorted({int(part) for part in text.split(",")})
    except ValueError:
        raise InvalidInput(f"--gpus {text!r}: give GPU indices like 0,1") from None
