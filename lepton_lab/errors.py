"""Every error Lepton Lab raises on purpose.

One root, so that a surface can catch everything Lepton Lab means to say, and each class
knows how it is reported: the HTTP status the server extension answers with and the exit
code of the ``lepton-lab`` command.  Messages are for people: they say what was wrong and
what to do about it.

    LeptonLabError                     500, exit 1
    ├── InvalidInput                   400, exit 2   bad arguments, names, references, files
    │   └── InvalidData                400, exit 2   a file or frame that cannot be read as a table
    ├── NotAuthenticated               401, exit 3
    ├── PermissionDenied               403, exit 3
    ├── NotFound                       404, exit 4   unknown, or not visible to the actor
    ├── Conflict                       409, exit 5   a name taken, a concurrent change
    ├── TooLarge                       413, exit 2
    └── StorageError                   500, exit 6   the database or blob store failed
        └── CorruptBlob                500, exit 6   a blob whose bytes do not match its hash
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

__all__ = [
    "Conflict",
    "CorruptBlob",
    "InvalidData",
    "InvalidInput",
    "LeptonLabError",
    "NotAuthenticated",
    "NotFound",
    "PermissionDenied",
    "StorageError",
    "TooLarge",
    "did_you_mean",
    "unknown_name",
]


class LeptonLabError(Exception):
    """Root of every error Lepton Lab raises on purpose."""

    http_status: int = 500
    exit_code: int = 1

    def __init_subclass__(
        cls, *, http_status: int | None = None, exit_code: int | None = None
    ) -> None:
        """``class NotFound(LeptonLabError, http_status=404, exit_code=4)``: a subclass says
        how it is reported in its header; one that says nothing reports as its parent."""
        super().__init_subclass__()
        if http_status is not None:
            cls.http_status = http_status
        if exit_code is not None:
            cls.exit_code = exit_code

    @property
    def message(self) -> str:
        """The human-readable message."""
        return str(self.args[0]) if self.args else self.__class__.__name__

    def to_dict(self) -> dict[str, object]:
        """The JSON body the REST API answers with."""
        return {"error": type(self).__name__, "message": self.message}


class InvalidInput(LeptonLabError, http_status=400, exit_code=2):
    """An argument, name, reference or option is not acceptable."""


class InvalidData(InvalidInput):
    """A file, frame or upload cannot be read as a table."""


class NotAuthenticated(LeptonLabError, http_status=401, exit_code=3):
    """No identity, or an expired or unknown token."""


class PermissionDenied(LeptonLabError, http_status=403, exit_code=3):
    """The actor is known but lacks the role for this action."""


class NotFound(LeptonLabError, http_status=404, exit_code=4):
    """Unknown, or not visible to the actor (the two are reported the same way)."""


class Conflict(LeptonLabError, http_status=409, exit_code=5):
    """A name already taken, or a change that lost a race."""


class TooLarge(LeptonLabError, http_status=413, exit_code=2):
    """An upload or request body over the configured limit."""


class StorageError(LeptonLabError, exit_code=6):
    """The database or the blob store failed; nothing half-written was kept."""


class CorruptBlob(StorageError):
    """A stored blob is missing or its bytes do not match its sha256."""


def did_you_mean(wanted: str, known: Iterable[str], *, limit: int = 3) -> str:
    """A ``"; did you mean x?"`` suffix naming the closest known names, or ``""``."""
    close = difflib.get_close_matches(wanted, list(known), n=limit, cutoff=0.6)
    if not close:
        return ""
    return "; did you mean " + " or ".join(close) + "?"


def unknown_name(
    what: str, name: object, known: Sequence[str], *, listed: str = "known"
) -> InvalidInput:
    """A registry's answer to a name it lacks: ``unknown format 'cvs'; did you mean csv?;
    use one of: csv, parquet`` (``listed`` introduces the known names)."""
    hint = did_you_mean(str(name), known)
    return InvalidInput(f"unknown {what} {name!r}{hint}; {listed}: {', '.join(known)}")
