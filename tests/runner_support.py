"""A job runner in a background thread, for tests that need jobs to really run."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from lepton_lab.runs.runner import Runner, RunnerConfig
from lepton_lab.workspace import Workspace

__all__ = ["RunnerThread"]


class RunnerThread:
    """``Runner(workspace, RunnerConfig(**config))`` on its own event loop and thread."""

    def __init__(self, workspace: Workspace, **config: Any) -> None:
        config.setdefault("poll_seconds", 0.05)
        config.setdefault("pool_size", 1)
        self.runner = Runner(workspace, RunnerConfig(**config))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._main, name="lepton-runner", daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced by stop()
            self._error = exc
            self._started.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._started.set()
        await self.runner.run()

    def start(self) -> RunnerThread:
        """Start the runner and return once its loop runs."""
        self._thread.start()
        self._started.wait(30)
        return self

    def stop(self, timeout: float = 60) -> None:
        """Stop claiming, let running jobs finish, and join; re-raise a runner crash."""
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self.runner.stop)
        self._thread.join(timeout)
        if self._error is not None:
            raise self._error
