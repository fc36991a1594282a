"""A handle on a job group (a sweep, a pipeline run): wait for it, read its results."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lepton_lab.client.backend import Backend
from lepton_lab.client.handles import Handle, poll
from lepton_lab.contract import groups as ops
from lepton_lab.runs.groups import GroupInfo

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Group"]


class Group(Handle[GroupInfo]):
    """A sweep or pipeline run: ``group.wait()``, ``group.results()``, ``group.cancel()``.

    Its :attr:`status` is running, succeeded, failed or cancelled.
    """

    def __init__(self, backend: Backend, info: GroupInfo) -> None:
        super().__init__(info)
        self._backend = backend

    def _fetch(self) -> GroupInfo:
        info: GroupInfo = self._backend.call(ops.GET, group_id=self.id)
        return info

    def wait(self, timeout: float | None = None) -> Group:
        """Block until every job of the group has ended (:class:`TimeoutError` after
        ``timeout`` seconds; the jobs go on)."""
        self.info = poll(
            self._fetch,
            timeout,
            lambda info: (
                f"group {self.id} is still {info.status} after {timeout:g} s "
                f"({info.counts}); wait longer, or cancel it"
            ),
        )
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
