"""The built-in dataset format readers: CSV, Parquet and JSON lines.

Registered in :mod:`lepton_lab.catalog.formats` by ``"module:attribute"`` like an
add-on's, and imported only when a file is read.  Files are never read whole: CSV and
JSON lines are parsed block by block from the guarded stream of
:meth:`~lepton_lab.catalog.source.FileInput.open_stream`, Parquet row group by row group,
so a file larger than memory registers in bounded memory.  Each reader's errors name the
file and say what to do.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from lepton_lab.catalog.source import (
    BATCH_ROWS,
    FileInput,
    Reread,
    Source,
    arrow_message,
    check_columns,
)
from lepton_lab.errors import InvalidData

__all__ = ["BLOCK_BYTES", "CSV", "JSONL", "MAX_JSON_DEPTH", "PARQUET"]

#: Bytes Arrow parses at a time; a CSV row or a JSON line must fit in one block.  Types are
#: inferred from the first block; a later value that does not fit widens the column and
#: the file is read again, so the block need not be huge (memory grows with it).
BLOCK_BYTES = 4 << 20
#: Deepest nesting of a JSON line read.  Arrow's parser recurses once per level, and a
#: line nested 100,000 deep crashes the process, so deeper lines are refused before it.
MAX_JSON_DEPTH = 64

_CONVERSION = re.compile(r"In CSV column #(\d+): (?:Row #(\d+): )?CSV conversion error to (\w+)")
_UTF16 = (b"\xff\xfe", b"\xfe\xff")
_GZIP = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"


# -- text formats ------------------------------------------------------------------------------


def _sniff_text(head: bytes, file: FileInput, what: str) -> None:
    """Refuse bytes that are not UTF-8 text: binary, compressed, UTF-16, Latin-1…"""
    if head.startswith(_UTF16):
        raise InvalidData(
            f"{file.name} is UTF-16 text; save it as UTF-8 "
            "(pandas: pd.read_csv(path, encoding='utf-16').to_csv(out, index=False))"
        )
    if b"\x00" in head or head.startswith(_GZIP):
        raise InvalidData(
            f"{file.name} looks binary, not {what} text; a compressed file needs its suffix "
            "(data.csv.gz), and other formats must be converted first"
        )
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # The head may end inside a character; only a bad byte before that is an error.
        if exc.reason == "unexpected end of data" and exc.start >= len(head) - 3:
            return
        raise InvalidData(
            f"{file.name} is not UTF-8 text (byte 0x{head[exc.start]:02x} at offset {exc.start}); "
            f"{_SAVE_AS_UTF8}"
        ) from None


_SAVE_AS_UTF8 = (
    "save it as UTF-8, e.g. from Latin-1: iconv -f latin1 -t utf-8 in.csv > out.csv, or "
    "pd.read_csv(path, encoding='latin-1').to_csv(out, index=False)"
)


class CsvReader:
    """CSV (comma-separated; ``.tsv`` tab-separated), compressed or not."""

    def recognises(self, head: bytes) -> bool:
        """Never sure: CSV has no magic number."""
        return False

    def sniff(self, head: bytes, file: FileInput) -> None:
        """Refuse what is not UTF-8 text."""
        _sniff_text(head, file, "csv")

    def open(self, file: FileInput, overrides: dict[str, pa.DataType] | None = None) -> Source:
        """Stream the file block by block; ``overrides`` are column types widened earlier."""
        overrides = dict(overrides or {})
        reader = self._reader(file, overrides)
        check_columns(reader.schema, file.name)
        # CSV holds text: Arrow infers binary only for a column that is not valid UTF-8.
        binary = [f.name for f in reader.schema if pa.types.is_binary(f.type)]
        if binary:
            reader.close()
            raise InvalidData(
                f"{file.name} is not UTF-8 text (column {binary[0]!r}); {_SAVE_AS_UTF8}"
            )

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                yield from reader
            except pa.ArrowInvalid as exc:
                reader.close()
                # Types come from the first block; a later value that does not fit (a float
                # among ints, text among numbers) widens that column and the file is read
                # again, rather than a valid file being refused.
                if not _widen(exc, reader.schema, overrides):
                    raise _csv_error(exc, file.name) from None
                raise Reread(self.open(file, overrides)) from None

        return Source(file.name, reader.schema, batches())

    @staticmethod
    def _reader(file: FileInput, overrides: dict[str, pa.DataType]) -> Any:
        stem = file.path.lower().removesuffix(file.compression or "")
        delimiter = "\t" if stem.endswith(".tsv") else ","
        stream = file.open_stream()
        try:
            return pa_csv.open_csv(
                stream,
                read_options=pa_csv.ReadOptions(use_threads=False, block_size=BLOCK_BYTES),
                parse_options=pa_csv.ParseOptions(delimiter=delimiter),
                convert_options=pa_csv.ConvertOptions(column_types=overrides),
            )
        except pa.ArrowInvalid as exc:
            stream.close()
            raise _csv_error(exc, file.name) from None
        except BaseException:
            stream.close()
            raise


def _csv_error(exc: pa.ArrowInvalid, name: str) -> InvalidData:
    message = arrow_message(exc)
    if "straddling" in message:
        return InvalidData(
            f"{name} has a row longer than {BLOCK_BYTES >> 20} MiB (a huge cell, or a quote "
            "that is never closed); Lepton Lab reads rows up to that size: split the value, "
            "or close the quote"
        )
    if "invalid UTF8" in message:
        return InvalidData(f"{name} is not UTF-8 text ({message}); {_SAVE_AS_UTF8}")
    return InvalidData(f"{name} is not valid CSV: {message}")


def _widen(exc: pa.ArrowInvalid, schema: pa.Schema, overrides: dict[str, pa.DataType]) -> bool:
    match = _CONVERSION.search(str(exc))
    if match is None:
        return False
    column = schema.names[int(match.group(1))]
    current = overrides.get(column, schema.field(column).type)
    wider = pa.float64() if pa.types.is_integer(current) else pa.string()
    if current == pa.string() or overrides.get(column) == wider:
        return False
    overrides[column] = wider
    return True


class JsonLinesReader:
    """JSON lines: one JSON object per line, compressed or not."""

    def recognises(self, head: bytes) -> bool:
        """Never sure: JSON has no magic number."""
        return False

    def sniff(self, head: bytes, file: FileInput) -> None:
        """Refuse what is not UTF-8 text starting with an object."""
        _sniff_text(head, file, "jsonl")
        if not head.lstrip().startswith(b"{"):
            raise InvalidData(
                f"{file.name} is not JSON lines: each line must be one JSON object such as "
                '{"a": 1}; convert a JSON array with pandas: '
                "pd.read_json(path).to_json(out, orient='records', lines=True)"
            )

    def open(self, file: FileInput) -> Source:
        """Stream the file block by block, each line's size and depth checked first."""
        stream = file.open_stream(JsonLineGuard(file.name, BLOCK_BYTES, MAX_JSON_DEPTH))
        try:
            reader = pa_json.open_json(
                stream, read_options=pa_json.ReadOptions(block_size=BLOCK_BYTES)
            )
        except pa.ArrowInvalid as exc:
            stream.close()
            raise InvalidData(
                f"{file.name} is not valid JSON lines: {arrow_message(exc)}"
            ) from None
        except BaseException:
            stream.close()
            raise
        check_columns(reader.schema, file.name)
        return Source(file.name, reader.schema, _guarded(reader, file.name, "JSON lines"))


class JsonLineGuard:
    """A :data:`~lepton_lab.catalog.source.Scanner` refusing JSON lines longer than
    ``max_line`` bytes or nested deeper than ``max_depth``, naming the line.

    Arrow parses only whole lines, and this guard sees each line whole before Arrow gets
    the chunk that ends it; a line is scanned exactly only when it holds more opening
    brackets than ``max_depth`` (counted in bulk), so ordinary files cost a few array ops.
    """

    def __init__(self, name: str, max_line: int, max_depth: int) -> None:
        self._name, self._max_line, self._max_depth = name, max_line, max_depth
        self._carry = b""  # the line the last chunk ended inside
        self._lines = 0  # complete lines checked so far

    def __call__(self, chunk: bytes) -> None:
        """Check the lines ``chunk`` completes (``b""``: the stream ended)."""
        data = self._carry + chunk
        codes = np.frombuffer(data, dtype=np.uint8)
        ends = np.flatnonzero(codes == 0x0A)
        if not chunk and len(data) and (ends.size == 0 or ends[-1] != len(data) - 1):
            ends = np.append(ends, len(data))  # the last line has no newline
        starts = np.concatenate(([0], ends + 1))[: ends.size]
        too_long = np.flatnonzero(ends - starts > self._max_line)
        if too_long.size:
            raise self._too_long(self._lines + int(too_long[0]) + 1)
        openers = np.flatnonzero((codes == 0x7B) | (codes == 0x5B))
        per_line = np.diff(np.searchsorted(openers, np.concatenate(([0], ends))))
        # A line can nest deeper than max_depth only if it opens more brackets than that.
        if ends.size and per_line.max() > self._max_depth:
            whole = codes[: min(int(ends[-1]) + 1, len(codes))]
            deep = np.flatnonzero(line_depths(whole, starts) > self._max_depth)
            if deep.size:
                raise self._too_deep(self._lines + int(deep[0]) + 1)
        self._lines += int(ends.size)
        self._carry = data[int(ends[-1]) + 1 :] if ends.size else data
        if len(self._carry) > self._max_line:
            raise self._too_long(self._lines + 1)

    def _too_long(self, line: int) -> InvalidData:
        return InvalidData(
            f"{self._name} line {line} is longer than {self._max_line} bytes, the most "
            "Lepton Lab reads in one JSON line; split the record, or keep large values in "
            "files of their own"
        )

    def _too_deep(self, line: int) -> InvalidData:
        return InvalidData(
            f"{self._name} line {line} nests JSON more than {self._max_depth} levels deep, "
            "the most Lepton Lab reads; flatten the record, or store the deep value as a "
            "JSON string"
        )


def nesting_depth(line: bytes) -> int:
    """How deep the brackets of one JSON text nest, brackets inside strings not counted."""
    return int(line_depths(np.frombuffer(line, dtype=np.uint8), np.zeros(1, np.int64))[0])


def line_depths(codes: np.ndarray[Any, Any], starts: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The deepest bracket nesting of each line of ``codes`` (lines begin at ``starts``),
    brackets inside strings not counted.

    Vectorised over the bytes that matter (quotes, backslashes, brackets), so that a chunk
    costs a few passes in C rather than a Python loop per byte: a quote opens or closes a
    string unless an odd run of backslashes precedes it, and each line's counts start
    again from zero, so that a broken line cannot shift the next one's.  (A backslash
    outside a string is counted as an escape too: it is invalid JSON, where Arrow's parser
    stops before going deeper, so the count stays an upper bound of what it would reach.)
    """
    depths = np.zeros(len(starts), dtype=np.int64)
    kinds = _KINDS[codes]
    at = np.flatnonzero(kinds)
    if at.size == 0:
        return depths
    kind = kinds[at]
    unescaped = (kind == _QUOTE) & ~_escaped(at, kind)
    first = np.searchsorted(at, starts)  # each line's first special byte
    line = np.searchsorted(starts, at, side="right") - 1

    def per_line(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        total = np.cumsum(values, dtype=np.int64)
        return total - np.concatenate(([0], total))[first][line]

    steps = (kind == _OPEN).astype(np.int64) - (kind == _CLOSE)
    steps[per_line(unescaped) % 2 == 1] = 0  # inside a string
    depth = per_line(steps)
    has = first < np.append(first[1:], at.size)  # lines holding a special byte
    depths[has] = np.maximum.reduceat(depth, first[has])
    return np.maximum(depths, 0)


def _escaped(at: np.ndarray[Any, Any], kind: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Which special bytes follow an odd run of backslashes."""
    backslash = kind == _BACKSLASH
    index = np.arange(at.size)
    follows = np.zeros(at.size, dtype=bool)
    follows[1:] = backslash[:-1] & (np.diff(at) == 1)  # the byte just before is a backslash
    run_start = backslash & ~follows
    run = index - np.maximum.accumulate(np.where(run_start, index, 0)) + 1  # valid at backslashes
    escaped = np.zeros(at.size, dtype=bool)
    escaped[1:] = follows[1:] & (run[:-1] % 2 == 1)
    return escaped


_QUOTE, _BACKSLASH, _OPEN, _CLOSE = 1, 2, 3, 4
_KINDS = np.zeros(256, dtype=np.int8)
_KINDS[[0x22, 0x5C, 0x7B, 0x5B, 0x7D, 0x5D]] = [_QUOTE, _BACKSLASH, _OPEN, _OPEN, _CLOSE, _CLOSE]


# -- Parquet ---------------------------------------------------------------------------------


class ParquetReader:
    """Parquet, read row group by row group (compressed inside, never as a whole)."""

    def recognises(self, head: bytes) -> bool:
        """A Parquet file starts with ``PAR1``."""
        return head.startswith(_PARQUET_MAGIC)

    def sniff(self, head: bytes, file: FileInput) -> None:
        """Refuse a file without Parquet's magic number."""
        if not self.recognises(head):
            raise InvalidData(
                f"{file.name} is not a Parquet file (Parquet files start with 'PAR1'); if it "
                "holds CSV or JSON lines, give it that suffix or pass format='csv' or "
                "format='jsonl'"
            )

    def open(self, file: FileInput) -> Source:
        """Read the footer, check the decompressed size against the limit, then stream."""
        try:
            parquet = pq.ParquetFile(file.open_raw())
        except (pa.ArrowInvalid, OSError) as exc:
            raise InvalidData(
                f"{file.name} is a corrupt Parquet file: {arrow_message(exc)}"
            ) from None
        check_columns(parquet.schema_arrow, file.name)
        metadata = parquet.metadata
        expanded = sum(
            metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups)
        )
        if file.max_bytes is not None and expanded > file.max_bytes:
            raise file.too_large("once its pages are decompressed")
        batches = _guarded(parquet.iter_batches(batch_size=BATCH_ROWS), file.name, "Parquet")
        return Source(file.name, parquet.schema_arrow, batches)


def _guarded(batches: Iterator[pa.RecordBatch], name: str, what: str) -> Iterator[pa.RecordBatch]:
    """Turn a read error half-way through a file into a clear :class:`InvalidData`."""
    try:
        yield from batches
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidData(f"{name} is not valid {what}: {arrow_message(exc)}") from None


CSV = CsvReader()
PARQUET = ParquetReader()
JSONL = JsonLinesReader()
