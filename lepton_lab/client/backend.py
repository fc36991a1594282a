"""The client's two backends: one call, :meth:`Backend.call`, for every declared operation.

* :class:`LocalBackend`: the services in this process, on a workspace (a database and a
  blob store) it opens, acting as one user (personal mode);
* :class:`RemoteBackend`: a Lepton Lab server over REST, the user being whoever the token
  names (shared mode: the kernel holds a token, never database credentials).

Both check the inputs with the operation's request model before anything happens, so a
mistake raises the same error class on either; both return the same Python values (the
remote one decodes the answer with the operation's reply).  The client's classes
(:mod:`lepton_lab.client.teams`, …) are written once over this interface.
"""

from __future__ import annotations

import abc
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from typing_extensions import TypedDict, Unpack

from lepton_lab.client.http import DEFAULT_TIMEOUT, DownloadCache, Transport
from lepton_lab.contract import File, Operation
from lepton_lab.runs.info import keywords

if TYPE_CHECKING:
    from lepton_lab.identity import Actor
    from lepton_lab.workspace import Workspace

__all__ = ["Backend", "ConnectionArgs", "LocalBackend", "RemoteBackend"]


class Backend(abc.ABC):
    """Where the client's operations run."""

    @abc.abstractmethod
    def call(self, op: Operation, **values: Any) -> Any:
        """Run ``op`` with these inputs (None: not given) and return its answer."""

    @abc.abstractmethod
    def whoami(self) -> dict[str, Any]:
        """``{"user", "site_admin", "teams": {team: role}, "workspace"}``."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections; the backend is not used afterwards."""

    @property
    def reader(self) -> str:
        """The lineage node reads are recorded against: the job when inside one."""
        job = os.environ.get("LEPTON_LAB_JOB_ID")
        return f"job:{job}" if job else f"user:{self.user}"

    @property
    @abc.abstractmethod
    def user(self) -> str:
        """Who the backend acts as (a remote backend asks the server once)."""


class LocalBackend(Backend):
    """The services of a workspace opened in this process, as one user."""

    def __init__(self, workspace: Workspace, user: str | None = None) -> None:
        self.workspace = workspace
        self._user = user or workspace.settings.user

    @property
    def user(self) -> str:
        """The acting user's name."""
        return self._user

    def actor(self) -> Actor:
        """The acting user with their current roles (read fresh: roles change)."""
        return self.workspace.actor(self._user)

    def call(self, op: Operation, **values: Any) -> Any:
        """Run the operation's service call here."""
        request = op.bind(**values)
        assert op.run is not None, f"{op.name} is streamed: the client handles it itself"
        return op.run(self.workspace, self.actor(), request)

    def whoami(self) -> dict[str, Any]:
        """The user, their teams and roles, and where the workspace is."""
        return {**self.actor().to_dict(), "workspace": str(self.workspace.settings.home)}

    def close(self) -> None:
        """Release the workspace's database connections."""
        self.workspace.close()

    def __repr__(self) -> str:
        return f"user={self._user!r} {self.workspace!r}"


class ConnectionArgs(TypedDict, total=False):
    """How a remote backend reaches its server, beyond its URL and the token."""

    timeout: tuple[float, float]
    """(connect, read) in seconds (default :data:`~lepton_lab.client.http.DEFAULT_TIMEOUT`)."""

    cache_dir: str | Path | None
    """Where downloaded versions are kept (default: the workspace's ``cache/remote``)."""


class RemoteBackend(Backend):
    """A Lepton Lab server's REST API, as the user the token names."""

    def __init__(
        self, url: str, token: str | None = None, **connection: Unpack[ConnectionArgs]
    ) -> None:
        given = keywords(connection, ConnectionArgs)
        self.transport = Transport(url, token, timeout=given.get("timeout", DEFAULT_TIMEOUT))
        cache_dir = given.get("cache_dir")
        self.cache = DownloadCache(Path(cache_dir) if cache_dir else _default_cache())
        self._user: str | None = None

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self.transport.url

    @property
    def user(self) -> str:
        """The user the token names (asked once)."""
        if self._user is None:
            self._user = str(self.whoami()["user"])
        return self._user

    def call(self, op: Operation, **values: Any) -> Any:
        """Send the operation's request and decode its answer."""
        request = op.bind(**values)
        parts = op.path_parts(request)
        sent: dict[str, Any] = {"json": op.rest(request)} if op.has_body else {}
        if not op.has_body:
            sent["params"] = op.query(request)
        if isinstance(op.reply, File):
            return self.transport.request(op.method, *parts, **sent).content
        return op.reply.decode(self.transport.json(op.method, *parts, **sent))

    def whoami(self) -> dict[str, Any]:
        """The user the token names, their teams and roles, and the server's URL."""
        return {**self.transport.json("GET", "whoami"), "workspace": self.url}

    def close(self) -> None:
        """Close the HTTP connections."""
        self.transport.close()

    def __repr__(self) -> str:
        return f"url={self.url!r}"


def _default_cache() -> Path:
    # Only the workspace folder is wanted: the rest of the local settings (and their
    # validation) does not concern a remote kernel.
    home = os.environ.get("LEPTON_LAB_HOME") or "~/.lepton-lab"
    return Path(home).expanduser() / "cache" / "remote"
