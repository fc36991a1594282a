"""The Python API's client: one interface (:mod:`~lepton_lab.client.api`), two backends.

* local (:class:`~lepton_lab.client.local.LocalClient`): the services in this process, on
  the workspace the environment names (single user, embedded);
* remote (:class:`~lepton_lab.client.remote.RemoteClient`): a Lepton Lab server over REST
  (multi-user; the kernel holds a token, never database credentials).

:func:`default_client` picks one from the environment the first time ``ll.datasets`` is
used: ``LEPTON_LAB_URL`` set means remote (with ``LEPTON_LAB_TOKEN``, else
``JUPYTERHUB_API_TOKEN``), otherwise local.  :func:`connect` and :func:`configure` choose
explicitly.  The backends are imported on first use, so that ``import lepton_lab`` stays
cheap and a remote kernel never loads the database layer's engine.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lepton_lab.client.api import Client, DatasetsAPI, TeamsAPI
from lepton_lab.errors import InvalidInput

if TYPE_CHECKING:
    from lepton_lab.client.local import LocalClient, open_local
    from lepton_lab.client.remote import RemoteClient

__all__ = [
    "Client",
    "DatasetsAPI",
    "LocalClient",
    "RemoteClient",
    "TeamsAPI",
    "configure",
    "connect",
    "default_client",
    "discover",
    "open_local",
]

#: Names served lazily from the backend modules.
_LAZY = {
    "LocalClient": "lepton_lab.client.local",
    "open_local": "lepton_lab.client.local",
    "RemoteClient": "lepton_lab.client.remote",
}

_default: Client | None = None
_lock = threading.Lock()


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lepton_lab.client' has no attribute {name!r}")


def discover(env: Mapping[str, str] | None = None, **settings: Any) -> Client:
    """The client the environment describes: remote when ``LEPTON_LAB_URL`` is set, else local.

    Inside JupyterHub (``JUPYTERHUB_SERVICE_URL`` and ``JUPYTERHUB_API_TOKEN`` set, no
    ``LEPTON_LAB_HOME`` or ``LEPTON_LAB_DATABASE_URL``) the kernel talks to the user's own
    server, whose extension holds the catalog's credentials.  The remote token is
    ``LEPTON_LAB_TOKEN``, else ``JUPYTERHUB_API_TOKEN`` (which JupyterHub gives every
    single-user server and its kernels).  ``settings`` (not None)
    are for a local workspace, as :func:`configure` takes them; a server refuses them.
    """
    env = os.environ if env is None else env
    url = env.get("LEPTON_LAB_URL", "").strip() or _hub_server(env)
    settings = {k: v for k, v in settings.items() if v is not None}
    if url and settings:
        raise InvalidInput(
            f"LEPTON_LAB_URL names a server, where {', '.join(sorted(settings))} cannot be "
            "chosen (the token says who you are); unset LEPTON_LAB_URL to use a local workspace"
        )
    if url:
        from lepton_lab.client.remote import RemoteClient

        return RemoteClient(url, _token(env))
    from lepton_lab.client.local import open_local

    return open_local(**settings)


def _hub_server(env: Mapping[str, str]) -> str:
    """Inside JupyterHub, the user's own server (which runs the extension), unless the
    environment names a local workspace or database explicitly."""
    local = any(env.get(var) for var in ("LEPTON_LAB_HOME", "LEPTON_LAB_DATABASE_URL"))
    if local or not env.get("JUPYTERHUB_API_TOKEN"):
        return ""
    return env.get("JUPYTERHUB_SERVICE_URL", "").strip()


def _token(env: Mapping[str, str]) -> str | None:
    return env.get("LEPTON_LAB_TOKEN") or env.get("JUPYTERHUB_API_TOKEN") or None


def default_client() -> Client:
    """The client ``ll.datasets`` and friends use, chosen by :func:`discover` on first use."""
    global _default
    with _lock:
        if _default is None:
            _default = discover()
        return _default


def _set_default(client: Client) -> None:
    # The previous client is left open: code may still hold its ``datasets``.
    global _default
    with _lock:
        _default = client


def configure(**settings: Any) -> LocalClient:
    """Point ``ll`` at a local workspace.

    Takes any :class:`~lepton_lab.config.Settings` field (``home``, ``database_url``,
    ``blob_root``, …) and ``user``.  Refused inside a job of a shared server, and ``user``
    wherever the environment names a server: there the token says who you are.
    """
    from lepton_lab.client.local import open_local

    if os.environ.get("LEPTON_LAB_JOB_ID") and os.environ.get("LEPTON_LAB_TOKEN"):
        raise InvalidInput(
            "this kernel runs a job of a shared Lepton Lab server: ll acts as the job's "
            "submitter through the server, and cannot be pointed at another workspace or user"
        )
    if settings.get("user") and (os.environ.get("LEPTON_LAB_URL") or _hub_server(os.environ)):
        raise InvalidInput(
            "a user cannot be chosen where the environment names a Lepton Lab server "
            "(LEPTON_LAB_URL): the token says who you are"
        )

    client = open_local(**settings)
    _set_default(client)
    return client


def connect(url: str | None = None, token: str | None = None) -> RemoteClient:
    """Point ``ll`` at the Lepton Lab server at ``url``, acting as the user ``token`` names.

    ``url`` defaults to ``LEPTON_LAB_URL``; ``token`` to ``LEPTON_LAB_TOKEN``, then
    ``JUPYTERHUB_API_TOKEN``.  The server is asked who the token belongs to before the
    client is used, so a wrong URL or token fails here, with the reason.
    """
    from lepton_lab.client.remote import RemoteClient

    url = url or os.environ.get("LEPTON_LAB_URL", "").strip()
    if not url:
        raise InvalidInput(
            "connect to which server? pass url=, e.g. "
            "ll.connect('https://hub.example.org/services/lepton-lab/', token), "
            "or set LEPTON_LAB_URL"
        )
    client = RemoteClient(url, token or _token(os.environ))
    try:
        client.whoami()
    except BaseException:
        client.close()
        raise
    _set_default(client)
    return client
