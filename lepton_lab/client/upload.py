"""What the remote backend uploads for ``register``: the body and the query of one POST.

A DataFrame or pyarrow Table is checked and read exactly as the local backend reads it
(:func:`~lepton_lab.catalog.ingest.open_source`) and sent as Parquet; a file (a path or
an fsspec URL) is streamed as it is, under its own file name, so that the server reads
its format and reports errors about it by that name.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from lepton_lab.catalog.formats import (
    get_format,
    resolve_format,
    upload_filename,
)
from lepton_lab.catalog.ingest import find_file, open_source
from lepton_lab.errors import InvalidInput

__all__ = ["PARQUET", "Upload", "csv_param", "open_upload"]

#: The media type a DataFrame or Table is sent with (as Parquet).
PARQUET = get_format("parquet").media_type
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Upload:
    """One upload: the body (bytes or an open file) and what the server needs to read it."""

    body: bytes | IO[bytes]
    filename: str
    content_type: str = "application/octet-stream"
    params: dict[str, str] = field(default_factory=dict)


@contextmanager
def open_upload(data: Any, format: str | None) -> Iterator[Upload]:
    """The upload for ``data``; a file is held open until the block ends."""
    if isinstance(data, str | Path):
        with _open_file(str(data), format) as upload:
            yield upload
        return
    yield Upload(_parquet_bytes(data), upload_filename("parquet"), PARQUET, {"format": "parquet"})


def _parquet_bytes(data: Any) -> bytes:
    """A DataFrame or Table as Parquet, with the local backend's checks and errors."""
    import pyarrow.parquet as pq

    source = open_source(data)
    sink = io.BytesIO()
    with pq.ParquetWriter(sink, source.schema, compression="zstd") as writer:
        for batch in source.batches:
            writer.write_batch(batch)
    return sink.getvalue()


@contextmanager
def _open_file(location: str, format: str | None) -> Iterator[Upload]:
    fs, path, name = find_file(location)
    params = {"filename": _safe_filename(name, location, format)}
    if format is not None:
        params["format"] = format
    with fs.open(path, "rb") as body:
        yield Upload(body, params["filename"], params=params)


def _safe_filename(name: str, location: str, format: str | None) -> str:
    """The file's name as the server accepts it (letters, digits, '.', '-', '_'), once
    ``format`` or the name's suffix says a format (refused here, before uploading)."""
    resolve_format(location, format)
    safe = _UNSAFE.sub("_", name).lstrip("._-") or "upload"
    if len(safe) > 120:
        stem, dot, suffix = safe.rpartition(".")
        safe = f"{stem[: 119 - len(suffix)]}{dot}{suffix}" if dot else safe[:120]
    return safe


def csv_param(values: object, invalid: str) -> str:
    """A list of names as the comma-separated query argument the REST API takes.

    ``invalid`` is the message for anything but a list of strings (the local backend's).
    """
    if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
        raise InvalidInput(invalid)
    if any("," in v for v in values):
        raise InvalidInput(f"names holding ',' cannot be sent to a server: {list(values)}")
    return ",".join(values)
