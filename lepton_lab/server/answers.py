"""Answers of the hot catalog reads, kept while the catalog is unchanged.

Listing, searching and getting datasets are the REST API's most frequent requests (the
catalog's panel, widgets, ``ll.datasets.search``), and most of them ask again what was
just answered.  An answer depends only on the catalog's rows and on who asks, so for the
operations that declare it (``Operation.cached``) the server keeps each answer's JSON,
keyed by the operation, the caller and the request's inputs, **for as long as the
database has not changed**: the database's change counter
(:class:`~lepton_lab.store.db.ChangeCounter`, SQLite's ``data_version``) is read before
each such request, and any commit since, from any process (a dataset registered by a
kernel, a member removed from a team, a visibility changed, a job token revoked),
drops every kept answer.  A request is authenticated and authorized as any other before
its kept answer is sent, and each caller only ever gets answers computed for that caller.

Where the database has no such counter (PostgreSQL, MariaDB: the change would have to
be read from the database, a round trip per request), nothing is kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

from lepton_lab.store.db import ChangeCounter, Database

__all__ = ["Answers"]

#: The most answers kept, and the most bytes they may hold together.
MAX_ANSWERS = 4096
MAX_BYTES = 64 * 2**20
#: An answer larger than this is not kept (a long page of cards: rare, and costly to hold).
MAX_ANSWER_BYTES = 1 * 2**20


class Answers:
    """Kept answers, valid for one value of the database's change counter."""

    def __init__(self, counter: ChangeCounter) -> None:
        self._counter = counter
        self._kept: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0
        self._version: int | None = None
        self._lock = threading.Lock()

    @classmethod
    def of(cls, db: Database) -> Answers | None:
        """Kept answers for ``db``, or None where its changes cannot be seen at once."""
        counter = db.change_counter()
        return None if counter is None else cls(counter)

    def version(self) -> int | None:
        """The database's version now (read it before computing an answer), or None:
        unknown, keep nothing.  A new version drops every answer kept."""
        version = self._counter.read()
        with self._lock:
            if version != self._version:
                self._kept.clear()
                self._bytes = 0
                self._version = version
        return version

    def get(self, key: Hashable, version: int) -> bytes | None:
        """The answer kept for ``key`` at ``version``, if any."""
        with self._lock:
            if version != self._version:
                return None
            answer = self._kept.get(key)
            if answer is not None:
                self._kept.move_to_end(key)
            return answer

    def put(self, key: Hashable, version: int, answer: bytes) -> None:
        """Keep ``answer``, computed from what the database held at ``version`` (dropped
        at once if the database changed meanwhile)."""
        if len(answer) > MAX_ANSWER_BYTES:
            return
        with self._lock:
            if version != self._version or key in self._kept:
                return
            self._kept[key] = answer
            self._bytes += len(answer)
            while len(self._kept) > MAX_ANSWERS or self._bytes > MAX_BYTES:
                _, dropped = self._kept.popitem(last=False)
                self._bytes -= len(dropped)

    def close(self) -> None:
        """Drop every answer and close the counter's connection."""
        with self._lock:
            self._kept.clear()
            self._bytes = 0
            self._version = None
        self._counter.close()
