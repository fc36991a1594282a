"""The Python API, defined once: what ``ll.datasets``, ``ll.teams`` and a client offer.

It runs on two backends with the same names, arguments, return types and errors:

* :class:`~lepton_lab.client.local.LocalClient`: the services in this process, on a
  workspace (a database and a blob store) this process opens (single user, embedded);
* :class:`~lepton_lab.client.remote.RemoteClient`: a Lepton Lab server over REST
  (multi-user: the kernel holds a token, never database credentials).

Each namespace is one class written over a :class:`~lepton_lab.client.backend.Backend`,
so code runs unchanged on either; the client test suite runs every test once per backend
to keep it so.
"""

from __future__ import annotations

from typing import Any

from lepton_lab.client.backend import Backend
from lepton_lab.client.datasets import Datasets
from lepton_lab.client.jobs import Jobs
from lepton_lab.client.models import Models
from lepton_lab.client.pipelines import Pipelines
from lepton_lab.client.schedules import Schedules
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


class Client:
    """Lepton Lab for one user over a backend: every namespace, :meth:`whoami`, :meth:`close`.

    :class:`~lepton_lab.client.local.LocalClient` and
    :class:`~lepton_lab.client.remote.RemoteClient` only choose the backend.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.datasets = Datasets(backend)
        self.teams = Teams(backend)
        self.jobs = Jobs(backend)
        self.templates = Templates(backend)
        self.schedules = Schedules(backend)
        self.pipelines = Pipelines(backend)
        self.models = Models(backend)

    def whoami(self) -> dict[str, Any]:
        """``{"user", "site_admin", "teams": {team: role}, "workspace"}``.

        ``workspace`` is the workspace folder (local) or the server's URL (remote).
        """
        return self.backend.whoami()

    def close(self) -> None:
        """Release connections; the client is not used afterwards."""
        self.backend.close()
