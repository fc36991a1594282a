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

from typing import Any, Protocol

from lepton_lab.client.datasets import Datasets
from lepton_lab.client.jobs import Jobs
from lepton_lab.client.models import Models
from lepton_lab.client.teams import Teams
from lepton_lab.client.templates import Templates

__all__ = ["Client", "DatasetsAPI", "JobsAPI", "ModelsAPI", "TeamsAPI", "TemplatesAPI"]

#: ``ll.datasets``, ``ll.teams``, ``ll.jobs``, ``ll.templates`` and ``ll.models``: one class
#: each over either backend.
DatasetsAPI = Datasets
TeamsAPI = Teams
JobsAPI = Jobs
TemplatesAPI = Templates
ModelsAPI = Models


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

    @property
    def templates(self) -> TemplatesAPI:
        """The template gallery."""
        ...

    @property
    def jobs(self) -> JobsAPI:
        """Reproducible jobs."""
        ...

    @property
    def models(self) -> ModelsAPI:
        """The model gallery."""
        ...

    def whoami(self) -> dict[str, Any]:
        """``{"user", "site_admin", "teams": {team: role}, "workspace"}``.

        ``workspace`` is the workspace folder (local) or the server's URL (remote).
        """
        ...

    def close(self) -> None:
        """Release connections; the client is not used afterwards."""
        ...
