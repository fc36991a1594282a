"""Content-addressed blob store: bytes keyed by their sha256, on any fsspec file system.

Writes are atomic (written under a temporary name, then moved into place) so that a
reader never sees half a blob, and idempotent (the same content is stored once).  Reads
verify the hash, so a corrupt or tampered blob is refused instead of loaded.  On a local
file system a verified file is remembered by (size, mtime) so that loading the same
dataset twice in a process does not hash it twice.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import fsspec

from lepton_lab.errors import CorruptBlob, InvalidInput

__all__ = ["BlobStore", "StoredBlob", "sha256_file"]

_CHUNK = 4 << 20


def sha256_file(path: str | Path) -> tuple[str, int]:
    """The sha256 hex digest and size of a local file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


@dataclass(frozen=True)
class StoredBlob:
    """A blob in the store."""

    sha256: str
    size: int


class BlobStore:
    """Blobs under ``root`` (a folder or an fsspec URL such as ``s3://bucket/prefix``)."""

    def __init__(self, root: str, *, cache_dir: str | Path | None = None) -> None:
        try:
            self.fs, self.root = fsspec.core.url_to_fs(root)
        except (ValueError, ImportError) as exc:
            raise InvalidInput(f"blob root {root!r} cannot be opened: {exc}") from None
        self.url = root
        self.fs.makedirs(self.root, exist_ok=True)
        self.is_local = "file" in _protocols(self.fs)
        self._cache_dir = Path(cache_dir) if cache_dir else None
        self._verified: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def _path(self, sha256: str) -> str:
        _check_digest(sha256)
        return f"{self.root}/{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def exists(self, sha256: str) -> bool:
        """Whether a blob with this digest is stored (its content is not checked)."""
        return bool(self.fs.exists(self._path(sha256)))

    def put_file(self, local_path: str | Path, sha256: str | None = None) -> StoredBlob:
        """Store a local file; returns its digest.  Storing the same content again is free."""
        actual, size = sha256_file(local_path)
        if sha256 is not None and sha256 != actual:
            raise CorruptBlob(f"{local_path} changed while it was being stored; try again")
        final = self._path(actual)
        if self.fs.exists(final) and self.fs.size(final) == size:
            return StoredBlob(actual, size)
        parent = final.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        temp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        try:
            self.fs.put_file(str(local_path), temp)
            self.fs.mv(temp, final)
        finally:
            if self.fs.exists(temp):
                self.fs.rm(temp)
        return StoredBlob(actual, size)

    def put_bytes(self, data: bytes) -> StoredBlob:
        """Store bytes held in memory (small blobs: cards, configs)."""
        sha256 = hashlib.sha256(data).hexdigest()
        final = self._path(sha256)
        if self.fs.exists(final):
            return StoredBlob(sha256, len(data))
        parent = final.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        temp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        self.fs.pipe_file(temp, data)
        self.fs.mv(temp, final)
        return StoredBlob(sha256, len(data))

    def read_bytes(self, sha256: str, *, verify: bool = True) -> bytes:
        """The blob's bytes, verified against ``sha256`` (``CorruptBlob`` when they differ).

        ``verify=False`` returns the bytes as stored, unchecked: only for a caller that
        verifies them itself before trusting them (as the gallery's ``load_model`` does,
        overlapped with parsing), so that they are not hashed twice.
        """
        try:
            data: bytes = self.fs.cat_file(self._path(sha256))
        except FileNotFoundError:
            raise self._missing(sha256) from None
        if verify and hashlib.sha256(data).hexdigest() != sha256:
            raise self._corrupt(sha256)
        return data

    def local_path(self, sha256: str) -> Path:
        """A verified local file holding the blob (remote blobs are downloaded to the cache)."""
        if self.is_local:
            path = Path(self._path(sha256))
            self._verify_local(sha256, path)
            return path
        return self._download(sha256)

    def open(self, sha256: str) -> IO[bytes]:
        """A verified blob opened for reading."""
        return open(self.local_path(sha256), "rb")

    def _verify_local(self, sha256: str, path: Path) -> None:
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise self._missing(sha256) from None
        stamp = (stat.st_size, stat.st_mtime_ns)
        with self._lock:
            if self._verified.get(sha256) == stamp:
                return
        if sha256_file(path)[0] != sha256:
            raise self._corrupt(sha256)
        with self._lock:
            self._verified[sha256] = stamp

    def _download(self, sha256: str) -> Path:
        if self._cache_dir is None:
            raise InvalidInput("a remote blob store needs a cache folder for local copies")
        cached = self._cache_dir / sha256
        if cached.exists() and sha256_file(cached)[0] == sha256:
            return cached
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        temp = self._cache_dir / f".tmp-{uuid.uuid4().hex}"
        try:
            with self.fs.open(self._path(sha256), "rb") as src, open(temp, "wb") as dst:
                shutil.copyfileobj(src, dst, _CHUNK)
        except FileNotFoundError:
            temp.unlink(missing_ok=True)
            raise self._missing(sha256) from None
        if sha256_file(temp)[0] != sha256:
            temp.unlink(missing_ok=True)
            raise self._corrupt(sha256)
        os.replace(temp, cached)
        return cached

    def _missing(self, sha256: str) -> CorruptBlob:
        return CorruptBlob(
            f"blob {sha256[:12]}… is missing from {self.url}; the catalog refers to it, so "
            "restore the blob folder from a backup or register the data again"
        )

    def _corrupt(self, sha256: str) -> CorruptBlob:
        return CorruptBlob(
            f"blob {sha256[:12]}… in {self.url} is corrupt: its content no longer matches "
            "its sha256, so it was not loaded; restore it from a backup or register the "
            "data again"
        )


def _check_digest(sha256: str) -> None:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise InvalidInput(f"{sha256!r} is not a sha256 hex digest")


def _protocols(fs: Any) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)
