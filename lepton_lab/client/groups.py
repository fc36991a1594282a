"""A handle on a job group (a sweep, a pipeline run): wait for it, read its results."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from lepton_lab.client.backend import Backend
from lepton_lab.contract import groups as ops
from lepton_lab.runs.groups import GroupInfo

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Group"]

# Polls start fast and back off to this, as a job's wait does.
_MAX_POLL = 1.0


class Group:
    """A sweep or pipeline run: ``group.wait()``, ``group.results()``, ``group.cancel()``."""

    def __init__(self, backend: Backend, info: GroupInfo) -> None:
        self._backend = backend
        self.info = info

    @property
    def id(self) -> str:
        """The group's id."""
        return self.info.id

    @property
    def status(self) -> str:
        """The group's status, fetched now (running, succeeded, failed, cancelled)."""
        return self.refresh().status

    def refresh(self) -> GroupInfo:
        """Fetch the group's state and keep it in :attr:`info`."""
        self.info = self._backend.call(ops.GET, group_id=self.id)
        return self.info

    def wait(self, timeout: float | None = None) -> Group:
        """Block until every job of the group has ended (:class:`TimeoutError` after
        ``timeout`` seconds; the jobs go on)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.05
        while not self.refresh().done:
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"group {self.id} is still {self.info.status} after {timeout:g} s "
                    f"({self.info.counts}); wait longer, or cancel it"
                )
            time.sleep(delay)
            delay = min(delay * 1.5, _MAX_POLL)
        return self

    def results(self, sort_by: str | None = None, *, ascending: bool = False) -> pd.DataFrame:
        """One row per job: its id, status, the grid's parameters and its recorded values,
        sorted by ``sort_by`` (best first: highest, unless ``ascending``)."""
        import pandas as pd

        rows: list[dict[str, Any]] = self._backend.call(ops.RESULTS, group_id=self.id)
        frame = pd.DataFrame(rows)
        if sort_by is not None:
            if sort_by not in frame.columns:
                known = ", ".join(map(str, frame.columns))
                raise KeyError(f"no recorded value {sort_by!r} in the results; columns: {known}")
            frame = frame.sort_values(sort_by, ascending=ascending, na_position="last")
            frame = frame.reset_index(drop=True)
        return frame

    def best(self, metric: str, *, maximize: bool = True) -> pd.Series:
        """The row of the job with the best ``metric`` (highest, unless ``maximize=False``)."""
        return self.results(metric, ascending=not maximize).iloc[0]

    def cancel(self) -> GroupInfo:
        """Cancel every job of the group still queued or running."""
        self.info = self._backend.call(ops.CANCEL, group_id=self.id)
        return self.info

    def __repr__(self) -> str:
        return f"<Group {self.id} {self.info.kind} {self.info.name} {self.info.status}>"

    def _repr_html_(self) -> str:
        import html

        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.info.counts.items()))
        return (
            f"<p>{html.escape(self.info.kind.title())} <code>{html.escape(self.id)}</code> of "
            f"{html.escape(self.info.name)}: <b>{html.escape(self.info.status)}</b> "
            f"({html.escape(counts)})</p>"
        )
