"""The local backend: the kernel talks to the services directly (single user, embedded).

:class:`LocalClient` opens a workspace (database and blob store) in this process and acts
as one user; :class:`LocalDatasets` and :class:`LocalTeams` implement the protocols of
:mod:`lepton_lab.client.api` by calling the services with that user's :class:`Actor`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lepton_lab.catalog.info import DatasetInfo, VersionInfo
from lepton_lab.client.api import DatasetsAPI, TeamsAPI
from lepton_lab.client.local_models import LocalModels
from lepton_lab.client.local_runs import LocalJobs, LocalTemplates
from lepton_lab.config import Settings
from lepton_lab.events import EventInfo
from lepton_lab.identity import Actor
from lepton_lab.membership import TeamInfo
from lepton_lab.paging import Page
from lepton_lab.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


# DatasetsAPI and TeamsAPI (the interfaces) stay importable from here for older imports.
__all__ = ["DatasetsAPI", "LocalClient", "LocalDatasets", "LocalTeams", "TeamsAPI", "open_local"]


class LocalClient:
    """Lepton Lab for one user over a workspace opened in this process."""

    def __init__(self, workspace: Workspace | None = None, *, user: str | None = None) -> None:
        self.workspace = workspace or Workspace()
        self.user = user or self.workspace.settings.user
        self.datasets = LocalDatasets(self)
        self.teams = LocalTeams(self)
        self.jobs = LocalJobs(self)
        self.models = LocalModels(self)
        self.templates = LocalTemplates(self, self.jobs)

    def actor(self) -> Actor:
        """The acting user with their current roles (read fresh: roles change)."""
        return self.workspace.actor(self.user)

    def whoami(self) -> dict[str, Any]:
        """The user, their teams and roles, and where the workspace is."""
        return {**self.actor().to_dict(), "workspace": str(self.workspace.settings.home)}

    @property
    def reader(self) -> str:
        """The lineage node reads are recorded against: the job when inside one, else the user."""
        job = os.environ.get("LEPTON_LAB_JOB_ID")
        return f"job:{job}" if job else f"user:{self.user}"

    def close(self) -> None:
        """Release the workspace's database connections."""
        self.workspace.close()

    def __repr__(self) -> str:
        return f"<LocalClient user={self.user!r} {self.workspace!r}>"


class LocalDatasets(DatasetsAPI):
    """``ll.datasets`` on a local workspace: register, find, inspect and load datasets."""

    def __init__(self, client: LocalClient) -> None:
        self._client = client
        self._service = client.workspace.datasets

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
        return self._service.register(
            self._client.actor(),
            data,
            name,
            description=description,
            tags=tags,
            visibility=visibility,
            format=format,
            job_id=os.environ.get("LEPTON_LAB_JOB_ID"),
        )

    def load(
        self, ref: str, *, columns: list[str] | None = None, limit: int | None = None
    ) -> pd.DataFrame:
        """``ll.datasets.load("team/name@3")``: the data as a DataFrame (latest when unpinned)."""
        actor = self._client.actor()
        return self._service.load(
            actor, ref, columns=columns, limit=limit, reader=self._client.reader
        )

    def load_table(
        self, ref: str, *, columns: list[str] | None = None, limit: int | None = None
    ) -> pa.Table:
        """The data as a pyarrow Table."""
        actor = self._client.actor()
        return self._service.load_table(
            actor, ref, columns=columns, limit=limit, reader=self._client.reader
        )

    def path(self, ref: str) -> Path:
        """A verified local Parquet file holding the version (read-only: do not modify it)."""
        return self._service.path(self._client.actor(), ref, reader=self._client.reader)[1]

    def get(self, ref: str) -> DatasetInfo:
        """The dataset's card, owner, visibility, tags and latest version."""
        return self._service.get(self._client.actor(), ref)

    def version(self, ref: str) -> VersionInfo:
        """One version (the latest when ``ref`` has no ``@N``)."""
        return self._service.version(self._client.actor(), ref)

    def versions(self, ref: str) -> list[VersionInfo]:
        """Every version, newest first."""
        return self._service.versions(self._client.actor(), ref)

    def profile(self, ref: str) -> dict[str, Any]:
        """Column profile: types, nulls, distinct counts, statistics, histograms, top values."""
        return self._service.profile(self._client.actor(), ref)

    def preview(self, ref: str, limit: int = 20) -> pd.DataFrame:
        """The first rows, from what was stored at registration (the data is not read)."""
        import pandas as pd

        stored = self._service.preview(self._client.actor(), ref, limit)
        return pd.DataFrame(stored["data"], columns=stored["columns"])

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
        actor = self._client.actor()
        return self._service.search(
            actor, query, team=team, tag=tag, owner=owner, limit=limit, offset=offset
        )

    def update(
        self,
        ref: str,
        *,
        description: str | None = None,
        tags: list[str] | None = None,
        visibility: str | None = None,
    ) -> DatasetInfo:
        """Change the card (markdown description), tags or visibility."""
        actor = self._client.actor()
        return self._service.update(
            actor, ref, description=description, tags=tags, visibility=visibility
        )

    def teams(self) -> list[tuple[str, int]]:
        """Teams owning datasets you can see, with how many each."""
        return self._service.teams(self._client.actor())

    def tags(self) -> list[tuple[str, int]]:
        """Tags in use, most used first."""
        return self._service.tags(self._client.actor())

    def events(self, ref: str, limit: int = 50) -> list[EventInfo]:
        """Who changed the dataset, when, and how."""
        return self._service.events(self._client.actor(), ref, limit)

    def link(self, ref: str, node: str, kind: str) -> None:
        """Record in the lineage that ``node`` used ``ref`` (trained_on, evaluated_on, …)."""
        self._service.link(self._client.actor(), ref, node, kind)


class LocalTeams(TeamsAPI):
    """``ll.teams`` on a local workspace: teams and their members."""

    def __init__(self, client: LocalClient) -> None:
        self._client = client
        self._service = client.workspace.teams

    def list(self) -> list[TeamInfo]:
        """Every team with its members."""
        return self._service.list(self._client.actor())

    def get(self, slug: str) -> TeamInfo:
        """One team."""
        return self._service.get(self._client.actor(), slug)

    def create(self, slug: str, *, title: str = "", description: str = "") -> TeamInfo:
        """Create a team; you become its admin."""
        return self._service.create(
            self._client.actor(), slug, title=title, description=description
        )

    def add_member(self, slug: str, user: str, role: str = "contributor") -> TeamInfo:
        """Add a member or change their role (team admins)."""
        return self._service.add_member(self._client.actor(), slug, user, role)

    def remove_member(self, slug: str, user: str) -> TeamInfo:
        """Remove a member (team admins)."""
        return self._service.remove_member(self._client.actor(), slug, user)


def open_local(**settings: Any) -> LocalClient:
    """A local client over the workspace these settings (and the environment) describe."""
    user = settings.pop("user", None)
    return LocalClient(Workspace(Settings.from_env(**settings)), user=user)
