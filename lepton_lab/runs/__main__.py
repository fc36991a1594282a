"""``python -m lepton_lab.runs``: a job runner for the workspace the environment names.

What :func:`lepton_lab.runs.autostart.ensure_runner` starts on demand: the workspace of
``LEPTON_LAB_*`` (home, database, blob store, executor, Ray address) and a runner with the
defaults of ``lepton-lab runner``, built directly: no command line, no client.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from lepton_lab.runs.runner import Runner, RunnerConfig, serve
from lepton_lab.workspace import Workspace


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m lepton_lab.runs",
        description="Claim queued jobs of the workspace LEPTON_LAB_* names and run them.",
    )
    parser.add_argument(
        "--idle-exit", type=float, default=None, help="Exit after this many seconds without jobs."
    )
    return parser.parse_args()


def main() -> None:
    """Run a runner until idle or signalled; the workspace closes on the way out."""
    arguments = _arguments()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    workspace = Workspace()
    try:
        settings = workspace.settings
        config = RunnerConfig(
            idle_exit=arguments.idle_exit,
            executor=settings.executor,
            address=settings.ray_address,
        )
        asyncio.run(serve(Runner(workspace, config)))
    finally:
        workspace.close()


if __name__ == "__main__":
    main()
