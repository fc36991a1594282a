"""Lepton Lab's own credentials: job tokens and runner tokens, checked before Jupyter's.

Whatever identity provider the server runs with (a personal server's token, Lepton Lab's
API tokens, JupyterHub's), two kinds of token are Lepton Lab's to check, told apart by
their prefix so that neither is ever sent to the Hub:

* a **job token** (``llj_``, :mod:`lepton_lab.runs.job_tokens`) acts as the job's
  submitter while the job runs;
* a **runner token** (``llr_``, listed in the server's ``runner_tokens_file``) may call
  the runner operations (:mod:`lepton_lab.contract.runners`) and nothing else.

An unknown, expired or revoked one of either is nobody (a 403), never a fall-through to
another check.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from jupyter_server.auth.identity import User

from lepton_lab.errors import InvalidInput
from lepton_lab.runs import job_tokens

__all__ = [
    "RUNNER_PREFIX",
    "Caller",
    "CallerIdentity",
    "Reread",
    "RunnerTokens",
    "request_token",
]

log = logging.getLogger("lepton_lab.credentials")

T = TypeVar("T")

#: Every runner token starts with this.
RUNNER_PREFIX = "llr_"
#: The name a runner's calls are made under (it holds no role in any team).
RUNNER_USER = "@runner"


@dataclass(frozen=True)
class Caller:
    """Who a Lepton Lab token names: a job (acting as its submitter) or a runner."""

    kind: Literal["job", "runner"]
    user: str
    job_id: str = ""


class CallerIdentity:
    """Jupyter Server's identity provider, for one request made with a Lepton Lab token:
    the user is the token's, and the request is token-authenticated (no XSRF cookie to
    check, as for any API token); everything else is the server's own provider's."""

    def __init__(self, caller: Caller | None, server: Any) -> None:
        self.caller = caller
        self._server = server

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)

    def get_user(self, handler: Any) -> User | None:
        """The token's user; None for a token that is no longer (or never was) valid."""
        return None if self.caller is None else User(username=self.caller.user)

    def is_token_authenticated(self, handler: Any) -> bool:
        """Always: the request carried a token."""
        return True


def request_token(headers: Any) -> str:
    """The token in an ``Authorization: token …`` or ``Bearer …`` header, or ""."""
    header: str = headers.get("Authorization", "")
    for scheme in ("token ", "Bearer "):
        if header.startswith(scheme):
            return header[len(scheme) :].strip()
    return ""


def is_lepton_token(token: str) -> bool:
    """Whether ``token`` is a job or runner token (checked here, never by the Hub)."""
    return token.startswith((job_tokens.PREFIX, RUNNER_PREFIX))


class Reread(Generic[T]):
    """What a file of credentials holds, read again when the file changes.

    Each :meth:`current` looks at the file's modification time, size and inode (one
    ``stat``) and reads it only when they changed: an operator adds or withdraws a token
    without a restart, and a withdrawn one is refused from the next request.  A file that
    is gone holds ``missing`` (logged when it goes); ``read`` decides what a broken one
    holds (raising: read again at the next call)."""

    def __init__(self, path: Path, read: Callable[[Path], T], missing: T) -> None:
        self.path = path
        self._read, self._missing = read, missing
        self._stamp: tuple[int, int, int] | None = None
        self._value = missing
        self._lock = threading.Lock()

    def current(self) -> T:
        """The file's contents as ``read`` made them, read again if the file changed."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            stamp = None
        else:
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        with self._lock:
            if stamp != self._stamp:
                if stamp is None:
                    log.error("%s is gone: no token of it is accepted until it is back", self.path)
                self._value = self._missing if stamp is None else self._read(self.path)
                self._stamp = stamp
            return self._value


class RunnerTokens:
    """The runner tokens a server accepts: one per line of a file only the server reads
    (``#`` starts a comment).  The file is read again when it changes (:class:`Reread`),
    so a token can be added or withdrawn without a restart."""

    def __init__(self, path: str | Path | None) -> None:
        self._file: Reread[list[bytes]] | None = None
        if path:
            self._file = Reread(Path(path).expanduser(), _read_tokens, [])

    def valid(self, token: str) -> bool:
        """Whether ``token`` is listed (compared in constant time, as digests)."""
        if self._file is None or not token.startswith(RUNNER_PREFIX):
            return False
        wanted = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        found = False
        for known in self._file.current():
            found |= hmac.compare_digest(known, wanted)
        return found


def _read_tokens(path: Path) -> list[bytes]:
    digests = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        token = line.split("#", 1)[0].strip()
        if not token:
            continue
        if not token.startswith(RUNNER_PREFIX) or len(token) < len(RUNNER_PREFIX) + 24:
            raise InvalidInput(
                f"{path}, line {number}: a runner token starts with {RUNNER_PREFIX!r} and has "
                "at least 24 more characters; make one with `lepton-lab runner --new-token`"
            )
        digests.append(hashlib.sha256(token.encode()).digest())
    return digests
