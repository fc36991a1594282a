"""The local backend: the kernel talks to the services directly (single user, embedded).

:class:`LocalClient` opens a workspace (database and blob store) in this process and acts
as one user; its resources are the client's classes over its
:class:`~lepton_lab.client.backend.LocalBackend`.
"""

from __future__ import annotations

from typing import Any

from lepton_lab.client.api import Client, DatasetsAPI, TeamsAPI
from lepton_lab.client.backend import LocalBackend
from lepton_lab.config import Settings
from lepton_lab.identity import Actor
from lepton_lab.workspace import Workspace

# DatasetsAPI and TeamsAPI (the interfaces) stay importable from here for older imports.
__all__ = ["DatasetsAPI", "LocalClient", "TeamsAPI", "open_local"]


class LocalClient(Client):
    """Lepton Lab for one user over a workspace opened in this process."""

    backend: LocalBackend

    def __init__(self, workspace: Workspace | None = None, *, user: str | None = None) -> None:
        super().__init__(LocalBackend(workspace or Workspace(), user))
        self.workspace = self.backend.workspace
        self.user = self.backend.user

    def actor(self) -> Actor:
        """The acting user with their current roles (read fresh: roles change)."""
        return self.backend.actor()

    @property
    def reader(self) -> str:
        """The lineage node reads are recorded against: the job when inside one, else the user."""
        return self.backend.reader

    def __repr__(self) -> str:
        return f"<LocalClient user={self.user!r} {self.workspace!r}>"


def open_local(**settings: Any) -> LocalClient:
    """A local client over the workspace these settings (and the environment) describe."""
    user = settings.pop("user", None)
    return LocalClient(Workspace(Settings.from_env(**settings)), user=user)
