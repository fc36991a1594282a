"""The per-process cache of loaded gallery models, keyed by their artifact's sha256.

:mod:`lepton_lab.gallery.artifacts` keeps one :class:`ModelCache` for the process, limited
by ``CACHE_MAX_MODELS`` and ``CACHE_MAX_BYTES``; the least recently used model goes first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

__all__ = ["ModelCache"]


@dataclass
class _Entry:
    model: Any
    trusted: frozenset[str]
    size: int


class ModelCache:
    """Loaded models by sha256, least recently used first out; safe across threads."""

    def __init__(self, max_models: int, max_bytes: int) -> None:
        self.max_models, self.max_bytes = max_models, max_bytes
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, sha256: str, trusted: frozenset[str] | None) -> Any | None:
        """The model, if loaded before with a trusted list within ``trusted`` (None: any)."""
        with self._lock:
            entry = self._entries.get(sha256)
            if entry is None or (trusted is not None and not entry.trusted <= trusted):
                return None
            self._entries.move_to_end(sha256)
            return entry.model

    def put(self, sha256: str, model: Any, trusted: frozenset[str], size: int) -> None:
        """Keep ``model``, dropping the least recently used ones over the limits."""
        if size > self.max_bytes:
            return
        with self._lock:
            self._entries[sha256] = _Entry(model, trusted, size)
            self._entries.move_to_end(sha256)
            while len(self._entries) > self.max_models or self._bytes() > self.max_bytes:
                self._entries.popitem(last=False)

    def _bytes(self) -> int:
        return sum(entry.size for entry in self._entries.values())

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()
