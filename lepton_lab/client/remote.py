"""The remote backend: the same API over a Lepton Lab server's REST API.

    client = RemoteClient("https://hub.example.org/services/lepton-lab/", token)
    client.datasets.load("finance/credit@3")

The kernel holds a URL and a token, never database credentials: every rule (who may see
or change what) is applied by the server, as the user the token names.  Data comes back
as Parquet; ``client.datasets.path`` keeps verified copies in
``{LEPTON_LAB_HOME or ~/.lepton-lab}/cache/remote/<sha256>.parquet`` and reuses them.
"""

from __future__ import annotations

from typing_extensions import Unpack

from lepton_lab.client.api import Client
from lepton_lab.client.backend import ConnectionArgs, RemoteBackend

__all__ = ["RemoteClient"]


class RemoteClient(Client):
    """Lepton Lab for the user a token names, on the server at ``url``.

    ``url`` is the server's base URL (the REST API is under ``lepton/api/v1/``);
    ``token`` is sent as ``Authorization: token …``.  ``timeout`` is (connect, read) in
    seconds; ``cache_dir`` holds downloaded versions.
    """

    backend: RemoteBackend

    def __init__(
        self, url: str, token: str | None = None, **connection: Unpack[ConnectionArgs]
    ) -> None:
        super().__init__(RemoteBackend(url, token, **connection))
        self.transport = self.backend.transport
        self.cache = self.backend.cache

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self.transport.url

    def __repr__(self) -> str:
        return f"<RemoteClient url={self.url!r}>"
