"""HTTP for the remote backend: one session per thread, errors mapped back, verified downloads.

Every answer that is not a success becomes the :class:`~lepton_lab.errors.LeptonLabError`
subclass the server named in its ``{"error", "message"}`` body (falling back on the
status: 400 InvalidInput, 401 NotAuthenticated, 403 PermissionDenied or NotAuthenticated,
404 NotFound, 409 Conflict, 413 TooLarge, 5xx StorageError), carrying the server's
message, so that code catches the same errors whichever backend it runs on.  A server
that cannot be reached is a :class:`~lepton_lab.errors.StorageError` naming its URL.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from lepton_lab import errors
from lepton_lab.errors import (
    Conflict,
    CorruptBlob,
    InvalidInput,
    LeptonLabError,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    StorageError,
    TooLarge,
)
from lepton_lab.store.blobs import sha256_file

__all__ = ["API_PATH", "DEFAULT_TIMEOUT", "DownloadCache", "Transport", "error_from"]

#: Where the REST API lives under a server's base URL.
API_PATH = "/lepton/api/v1"

#: Seconds to connect, and to wait for each read of an answer.
DEFAULT_TIMEOUT = (10.0, 300.0)

_CHUNK = 1 << 20
_STATUS_ERRORS: dict[int, type[LeptonLabError]] = {
    400: InvalidInput,
    401: NotAuthenticated,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    413: TooLarge,
}
_SHA256 = re.compile(r"[0-9a-f]{64}")
_AUTH_HINT = (
    "; pass token= to ll.connect, or set LEPTON_LAB_TOKEN (JUPYTERHUB_API_TOKEN under JupyterHub)"
)


class Transport:
    """Authenticated JSON and file transfers with one Lepton Lab server."""

    def __init__(
        self, url: str, token: str | None, *, timeout: tuple[float, float] = DEFAULT_TIMEOUT
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidInput(
                f"server URL {url!r} must start with http:// or https://, "
                "e.g. 'https://hub.example.org/services/lepton-lab/'"
            )
        self.url = url.rstrip("/").removesuffix(API_PATH)
        self.timeout = timeout
        self._token = token
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def session(self) -> requests.Session:
        """This thread's session (``requests`` sessions are not safe to share across threads)."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["Accept"] = "application/json"
            if self._token:
                session.headers["Authorization"] = f"token {self._token}"
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def endpoint(self, *parts: str) -> str:
        """The URL of an API path, each part quoted."""
        if any(not str(p).strip() for p in parts):
            raise InvalidInput(f"an empty name cannot be part of a request: {'/'.join(parts)}")
        return self.url + API_PATH + "".join("/" + quote(str(p), safe="") for p in parts)

    def request(self, method: str, *parts: str, **kwargs: Any) -> requests.Response:
        """Send a request; a non-2xx answer raises the matching Lepton Lab error."""
        url = self.endpoint(*parts)
        headers = {**_reader_header(), **kwargs.pop("headers", {})}
        try:
            response = self.session().request(
                method, url, headers=headers, timeout=self.timeout, **kwargs
            )
        except requests.ConnectionError as exc:  # a connect timeout too
            raise StorageError(
                f"cannot reach the Lepton Lab server at {self.url}: {_reason(exc)}; check the "
                "URL (ll.connect or LEPTON_LAB_URL) and that the server is running"
            ) from None
        except requests.Timeout:
            raise StorageError(
                f"the Lepton Lab server at {self.url} did not answer within "
                f"{self.timeout[1]:.0f} s ({method} {url}); try again, or pass a longer timeout="
            ) from None
        if not response.ok:
            raise error_from(response, self.url)
        return response

    def json(self, method: str, *parts: str, **kwargs: Any) -> Any:
        """Send a request and decode its JSON answer."""
        response = self.request(method, *parts, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise StorageError(
                f"{response.url} answered {response.status_code} without JSON; "
                f"is {self.url} a Lepton Lab server?"
            ) from None

    def download(self, target: Path, sha256: str, *parts: str) -> Path:
        """Stream a file to ``target`` (atomically), refusing it unless its sha256 matches."""
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.parent / f".tmp-{uuid.uuid4().hex}"
        digest = hashlib.sha256()
        try:
            with self._streamed(*parts) as response, open(temp, "wb") as out:
                for chunk in response.iter_content(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
            if digest.hexdigest() != sha256:
                raise CorruptBlob(
                    f"the download of {'/'.join(parts)} from {self.url} does not match its "
                    f"sha256 {sha256[:12]}…; it was discarded, try again"
                )
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        return target

    @contextmanager
    def _streamed(self, *parts: str) -> Iterator[requests.Response]:
        response = self.request("GET", *parts, stream=True)
        try:
            yield response
        except requests.RequestException as exc:
            raise StorageError(
                f"the download from {self.url} broke off: {_reason(exc)}; try again"
            ) from None
        finally:
            response.close()

    def close(self) -> None:
        """Close every thread's session."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()


def error_from(response: requests.Response, url: str) -> LeptonLabError:
    """The Lepton Lab error a failed answer stands for, with the server's message."""
    name, message = _error_body(response)
    status = response.status_code
    cls = _named_error(name) or _status_error(status, message)
    if name is None and status == 404:
        message = (
            f"{url} has no Lepton Lab API at {response.request.path_url}: check the URL and "
            "that the lepton_lab server extension is enabled there"
        )
    if issubclass(cls, NotAuthenticated):
        message += _AUTH_HINT
    return cls(message)


def _error_body(response: requests.Response) -> tuple[str | None, str]:
    """``(error name or None, message)`` from a JSON error body, or the status line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    fallback = f"HTTP {response.status_code} {response.reason or ''}".strip()
    if not isinstance(body, dict):
        return None, fallback
    name = body.get("error")
    message = body.get("message") or body.get("reason") or fallback
    return (str(name) if name else None), str(message)


def _named_error(name: str | None) -> type[LeptonLabError] | None:
    found = getattr(errors, name, None) if name and name in errors.__all__ else None
    return found if isinstance(found, type) and issubclass(found, LeptonLabError) else None


def _status_error(status: int, message: str) -> type[LeptonLabError]:
    # Jupyter Server refuses a request without a known user with a bare 403.
    if status == 403 and "not logged in" in message.lower():
        return NotAuthenticated
    if status >= 500:
        return StorageError
    return _STATUS_ERRORS.get(status, LeptonLabError)


def _reader_header() -> dict[str, str]:
    """Inside a job, reads are recorded in the lineage against the job, not the user."""
    job = os.environ.get("LEPTON_LAB_JOB_ID")
    return {"X-Lepton-Reader": f"job:{job}"} if job else {}


def _reason(exc: BaseException) -> str:
    """The innermost cause of a connection error ("[Errno 111] Connection refused"), not
    urllib3's long chain of wrappers."""
    seen = {id(exc)}
    while (inner := exc.__cause__ or exc.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        exc = inner
    return str(exc) or type(exc).__name__


class DownloadCache:
    """Verified local copies of downloaded versions: ``{folder}/{sha256}.parquet``.

    A copy is hashed before its first use in a process and again whenever its size or
    modification time changes; a copy that does not match is removed and fetched again.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._verified: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def path(self, sha256: str) -> Path:
        """Where the copy of ``sha256`` lives (whether or not it is there)."""
        if not _SHA256.fullmatch(sha256):
            raise StorageError(f"the server sent {sha256!r}, which is not a sha256 digest")
        return self.folder / f"{sha256}.parquet"

    def get(self, sha256: str) -> Path | None:
        """The verified copy of ``sha256``, or None when there is none (or it was corrupt)."""
        path = self.path(sha256)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None
        stamp = (stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if self._verified.get(sha256) == stamp:
                return path
        if sha256_file(path)[0] != sha256:
            path.unlink(missing_ok=True)
            return None
        self.remember(sha256)
        return path

    def remember(self, sha256: str) -> None:
        """Note that the copy of ``sha256`` was just verified (by hashing its download)."""
        stat = self.path(sha256).stat()
        with self._lock:
            self._verified[sha256] = (stat.st_size, stat.st_mtime_ns)
