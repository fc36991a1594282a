"""The Python API's client: one interface over a backend.

Today the backend is local (the services in this process); the REST backend for
multi-user deployments plugs in behind the same names.
"""

from __future__ import annotations

import threading
from typing import Any

from lepton_lab.client.local import DatasetsAPI, LocalClient, TeamsAPI, open_local

__all__ = ["DatasetsAPI", "LocalClient", "TeamsAPI", "configure", "default_client", "open_local"]

_default: LocalClient | None = None
_lock = threading.Lock()


def default_client() -> LocalClient:
    """The client ``ll.datasets`` and friends use, opened on first use from the environment."""
    global _default
    with _lock:
        if _default is None:
            _default = open_local()
        return _default


def configure(**settings: Any) -> LocalClient:
    """Point ``ll`` at another workspace.

    Takes any :class:`~lepton_lab.config.Settings` field (``home``, ``database_url``,
    ``blob_root``, …) and ``user``.
    """
    global _default
    client = open_local(**settings)
    with _lock:
        _default = client
    return client
