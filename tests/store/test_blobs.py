"""The content-addressed blob store: atomic, idempotent, verified."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest

from lepton_lab.errors import CorruptBlob, InvalidInput
from lepton_lab.store import BlobStore


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(str(tmp_path / "blobs"))


def _file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / f"in-{uuid.uuid4().hex}"
    path.write_bytes(data)
    return path


def test_put_and_read_round_trip(store: BlobStore, tmp_path: Path) -> None:
    data = os.urandom(100_000)
    blob = store.put_file(_file(tmp_path, data))
    assert blob.sha256 == hashlib.sha256(data).hexdigest()
    assert blob.size == len(data)
    assert store.read_bytes(blob.sha256) == data
    assert store.local_path(blob.sha256).read_bytes() == data


def test_same_content_is_stored_once_and_no_temporary_file_is_left(
    store: BlobStore, tmp_path: Path
) -> None:
    first = store.put_file(_file(tmp_path, b"same"))
    second = store.put_file(_file(tmp_path, b"same"))
    assert first == second
    files = [p for p in Path(store.root).rglob("*") if p.is_file()]
    assert [p.name for p in files] == [first.sha256]


def test_a_corrupted_blob_is_refused(store: BlobStore, tmp_path: Path) -> None:
    blob = store.put_file(_file(tmp_path, b"original content"))
    path = store.local_path(blob.sha256)
    path.write_bytes(b"tampered content")
    with pytest.raises(CorruptBlob, match="corrupt"):
        store.read_bytes(blob.sha256)
    with pytest.raises(CorruptBlob, match="no longer matches"):
        store.local_path(blob.sha256)


def test_read_bytes_without_verify_returns_the_stored_bytes_unchecked(
    store: BlobStore, tmp_path: Path
) -> None:
    blob = store.put_file(_file(tmp_path, b"original content"))
    path = store.local_path(blob.sha256)
    path.write_bytes(b"tampered content")
    assert store.read_bytes(blob.sha256, verify=False) == b"tampered content"
    with pytest.raises(CorruptBlob, match="corrupt"):
        store.read_bytes(blob.sha256)  # verifying stays the default


def test_a_missing_blob_says_how_to_recover(store: BlobStore, tmp_path: Path) -> None:
    blob = store.put_file(_file(tmp_path, b"gone soon"))
    store.local_path(blob.sha256).unlink()
    with pytest.raises(CorruptBlob, match=r"missing.*backup"):
        store.local_path(blob.sha256)


def test_remote_store_downloads_verified_copies(tmp_path: Path) -> None:
    store = BlobStore(f"memory://blobs-{uuid.uuid4().hex}", cache_dir=tmp_path / "cache")
    assert not store.is_local
    blob = store.put_bytes(b"remote bytes")
    local = store.local_path(blob.sha256)
    assert local.read_bytes() == b"remote bytes"
    assert local.parent == tmp_path / "cache"
    assert store.exists(blob.sha256)


def test_digests_are_checked_before_they_reach_a_path(store: BlobStore) -> None:
    with pytest.raises(InvalidInput, match="sha256"):
        store.exists("../../etc/passwd")
