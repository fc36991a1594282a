"""What every dataset format reads into, and the guarded byte stream it reads from.

A format's reader (:mod:`lepton_lab.catalog.formats`) turns a :class:`FileInput` into a
:class:`Source`: a schema and a stream of Arrow batches.  The bytes reach a parser only
through :meth:`FileInput.open_stream`, which decompresses, counts and scans them *before*
handing them on: a gzip bomb is refused the moment its decompressed bytes pass
``max_bytes`` (:class:`~lepton_lab.errors.TooLarge`), a file whose compression is
broken becomes an :class:`~lepton_lab.errors.InvalidData` that says so, and a format may
add its own scanner (JSON lines checks the nesting depth that would crash Arrow's parser).
"""

from __future__ import annotations

import io
import lzma
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import pyarrow as pa

from lepton_lab.errors import InvalidData, TooLarge

__all__ = [
    "BATCH_ROWS",
    "FileInput",
    "Reread",
    "Scanner",
    "Source",
    "arrow_message",
    "check_columns",
]

#: Rows per batch handed to the writer.
BATCH_ROWS = 128 * 1024

#: Looks at each chunk of decompressed bytes before a parser does; raises to refuse it.
#: Called with ``b""`` once at the end of the stream.
Scanner = Callable[[bytes], None]

_COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".xz": "xz"}
# What a decompressor raises on bytes that are not what their suffix says, or cut short.
_BROKEN = (OSError, EOFError, ValueError, zlib.error, lzma.LZMAError)


@dataclass
class Source:
    """A table being read: where from, its schema, and its batches (consumed once)."""

    description: str
    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]


class Reread(Exception):
    """The source must be read again from the start, as ``source`` (wider column types)."""

    def __init__(self, source: Source) -> None:
        super().__init__("read the source again")
        self.source = source


def check_columns(schema: pa.Schema, where: str) -> None:
    """Refuse a table without columns, or with repeated, blank or NUL-holding names."""
    names = schema.names
    if not names:
        raise InvalidData(f"{where} has no columns")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InvalidData(f"{where} repeats column names {repeated}; give each column its own name")
    if any(not n.strip() for n in names):
        raise InvalidData(f"{where} has a column without a name; name every column")
    if any("\x00" in n for n in names):
        raise InvalidData(f"{where} has a column name with a NUL character; rename it")


def arrow_message(exc: BaseException) -> str:
    """The first line of an Arrow error, without Arrow's own prefix."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.removeprefix("CSV parse error: ")


@dataclass(frozen=True)
class FileInput:
    """One file to read: where it is, the name errors use, and how far it may expand."""

    fs: Any
    """The fsspec file system holding it."""

    path: str
    """Its path on ``fs``."""

    name: str
    """Its file name, as messages name it."""

    compression: str | None = None
    """The compression suffix it carries (``".gz"``), or None."""

    max_bytes: int | None = None
    """The most bytes a parser may see once decompressed (None: no limit)."""

    def open_raw(self) -> IO[bytes]:
        """The stored bytes as they are (seekable; Parquet reads its footer first)."""
        stream: IO[bytes] = self.fs.open(self.path, "rb")
        return stream

    def open_stream(self, scanner: Scanner | None = None) -> IO[bytes]:
        """The decompressed bytes, counted against ``max_bytes`` and passed through
        ``scanner`` before the caller sees them."""
        try:
            raw = self.fs.open(self.path, "rb", compression=self._codec())
        except _BROKEN as exc:
            raise self.broken(exc) from None
        return io.BufferedReader(_GuardedStream(raw, self, scanner), buffer_size=1 << 16)

    def head(self, size: int = 64 * 1024) -> bytes:
        """The first ``size`` decompressed bytes (what sniffing looks at)."""
        with self.open_stream() as stream:
            return stream.read(size)

    def too_large(self, when: str | None = None) -> TooLarge:
        """The error for a file that grew past ``max_bytes`` (``when``: how it grew)."""
        if when is None:
            when = "once decompressed" if self.compression else ""
        return TooLarge(
            f"{self.name} is over the upload limit of {self.max_bytes} bytes {when}".rstrip() + "; "
            "register a smaller file (or several parts), or ask the operator to raise "
            "max_upload_bytes"
        )

    def _codec(self) -> str | None:
        return _COMPRESSIONS[self.compression] if self.compression else None

    def broken(self, exc: BaseException) -> InvalidData:
        """The error for bytes that the compression suffix promised but are not."""
        codec = self._codec() or "uncompressed"
        return InvalidData(
            f"{self.name} is not a valid {codec} file ({exc}); check that the file was "
            f"copied whole, or name it without {self.compression} if it is not compressed"
        )


class _GuardedStream(io.RawIOBase):
    """Decompressed bytes counted against the limit and scanned before anyone reads them."""

    def __init__(self, raw: IO[bytes], file: FileInput, scanner: Scanner | None) -> None:
        super().__init__()
        self._raw, self._file, self._scanner = raw, file, scanner
        self._seen = 0

    def readable(self) -> bool:
        """Always: this is an input stream."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` from the file; refuse once the limit or the scanner says so."""
        try:
            chunk = self._raw.read(len(buffer))
        except _BROKEN as exc:
            raise self._file.broken(exc) from None
        self._seen += len(chunk)
        if self._file.max_bytes is not None and self._seen > self._file.max_bytes:
            raise self._file.too_large()
        if self._scanner is not None:
            self._scanner(chunk)
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        """Close the underlying file too."""
        if not self.closed:
            self._raw.close()
        super().close()
