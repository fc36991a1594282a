"""The Python API, defined once: what ``ll.datasets``, ``ll.teams`` and a client offer.

Two backends implement it with the same names, arguments, return types and errors:

* :class:`~lepton_lab.client.local.LocalClient`: the services in this process, on a
  workspace (a database and a blob store) this process opens (single user, embedded);
* :class:`~lepton_lab.client.remote.RemoteClient`: a Lepton Lab server over REST
  (multi-user: the kernel holds a token, never database credentials).

Code written against these protocols runs unchanged on either; the client test suite
runs every test once per backend to keep it so.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from lepton_lab.catalog.info import DatasetInfo, VersionInfo
    from lepton_lab.events import EventInfo
    from lepton_lab.membership import TeamInfo
    from lepton_lab.paging import Page
    from lepton_lab.widgets.datasets import DatasetBrowser

__all__ = ["Client", "DatasetsAPI", "TeamsAPI"]


class DatasetsAPI(Protocol):
    """``ll.datasets``: register, find, inspect and load shared datasets."""

    def register(
        self,
        data: Any,
        name: str,
        *,
        description: str | None = None,
        tags: list[str] | None = None,
        visibility: str | None = None,
        format: str | None = None,
    ) -> VersionInfo:
        """Register a DataFrame, pyarrow Table or file (path or fsspec URL) as ``team/name``.

        Returns the new version, or the existing one when the same content was registered
        before (``created`` is then False).  ``visibility`` is private, team (default) or org.
        """
        ...

    def load(
        self, ref: str, *, columns: list[str] | None = None, limit: int | None = None
    ) -> pd.DataFrame:
        """``ll.datasets.load("team/name@3")``: the data as a DataFrame (latest when unpinned)."""
        ...

    def load_table(
        self, ref: str, *, columns: list[str] | None = None, limit: int | None = None
    ) -> pa.Table:
        """The data as a pyarrow Table."""
        ...

    def path(self, ref: str) -> Path:
        """A verified local Parquet file holding the version (read-only: do not modify it)."""
        ...

    def get(self, ref: str) -> DatasetInfo:
        """The dataset's card, owner, visibility, tags and latest version."""
        ...

    def version(self, ref: str) -> VersionInfo:
        """One version (the latest when ``ref`` has no ``@N``)."""
        ...

    def versions(self, ref: str) -> list[VersionInfo]:
        """Every version, newest first."""
        ...

    def profile(self, ref: str) -> dict[str, Any]:
        """Column profile: types, nulls, distinct counts, statistics, histograms, top values."""
        ...

    def preview(self, ref: str, limit: int = 20) -> pd.DataFrame:
        """The first rows, from what was stored at registration (the data is not read)."""
        ...

    def search(
        self,
        query: str = "",
        *,
        team: str | None = None,
        tag: str | None = None,
        owner: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> Page[DatasetInfo]:
        """Datasets you may see matching ``query``; ``.next_offset`` pages on."""
        ...

    def update(
        self,
        ref: str,
        *,
        description: str | None = None,
        tags: list[str] | None = None,
        visibility: str | None = None,
    ) -> DatasetInfo:
        """Change the card (markdown description), tags or visibility."""
        ...

    def teams(self) -> list[tuple[str, int]]:
        """Teams owning datasets you can see, with how many each."""
        ...

    def tags(self) -> list[tuple[str, int]]:
        """Tags in use, most used first."""
        ...

    def events(self, ref: str, limit: int = 50) -> list[EventInfo]:
        """Who changed the dataset, when, and how (newest first)."""
        ...

    def link(self, ref: str, node: str, kind: str) -> None:
        """Record in the lineage that ``node`` (``training:…``, ``job:…``) used ``ref``.

        ``kind`` is trained_on, evaluated_on, produced or registered_from.
        """
        ...

    # Written once here: both backends subclass this protocol and inherit it, since the
    # widget only calls the methods above.
    def browse(
        self,
        query: str = "",
        *,
        team: str | None = None,
        tag: str | None = None,
        page_size: int = 20,
    ) -> DatasetBrowser:
        """The shared dataset browser widget: search, filter, inspect, load."""
        from lepton_lab.widgets.datasets import DatasetBrowser

        return DatasetBrowser(self, query=query, team=team, tag=tag, page_size=page_size)


class TeamsAPI(Protocol):
    """``ll.teams``: teams and their members."""

    def list(self) -> list[TeamInfo]:
        """Every team with its members."""
        ...

    def get(self, slug: str) -> TeamInfo:
        """One team."""
        ...

    def create(self, slug: str, *, title: str = "", description: str = "") -> TeamInfo:
        """Create a team; you become its admin."""
        ...

    def add_member(self, slug: str, user: str, role: str = "contributor") -> TeamInfo:
        """Add a member or change their role (team admins)."""
        ...

    def remove_member(self, slug: str, user: str) -> TeamInfo:
        """Remove a member (team admins)."""
        ...


class Client(Protocol):
    """Lepton Lab for one user: ``.datasets``, ``.teams``, :meth:`whoami`, :meth:`close`."""

    @property
    def datasets(self) -> DatasetsAPI:
        """Shared datasets."""
        ...

    @property
    def teams(self) -> TeamsAPI:
        """Teams and members."""
        ...

    def whoami(self) -> dict[str, Any]:
        """``{"user", "site_admin", "teams": {team: role}, "workspace"}``.

        ``workspace`` is the workspace folder (local) or the server's URL (remote).
        """
        ...

    def close(self) -> None:
        """Release connections; the client is not used afterwards."""
        ...
