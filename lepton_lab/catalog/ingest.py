"""Reading what a user registers (a frame, a table, a file) as a stream of Arrow batches.

Files are never read whole: CSV and JSON lines are parsed block by block, Parquet row
group by row group, so a file larger than memory registers in bounded memory.  Every
way a file can be wrong becomes an :class:`~lepton_lab.errors.InvalidData` that names the
file and says what to do; nothing is stored until the whole stream was read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from lepton_lab.errors import InvalidData, InvalidInput

__all__ = ["FORMATS", "Reread", "Source", "open_source"]

#: Formats a file can be registered from, with the suffixes that imply them.
FORMATS: dict[str, tuple[str, ...]] = {
    "csv": (".csv", ".tsv", ".txt"),
    "parquet": (".parquet", ".pq"),
    "jsonl": (".jsonl", ".ndjson", ".json"),
}
_COMPRESSION = (".gz", ".bz2", ".zst", ".xz")
_BATCH_ROWS = 128 * 1024
# Types are inferred from the first block; a value that does not fit later widens the
# column and the file is read again, so the block need not be huge (memory grows with it).
_CSV_BLOCK = 4 << 20
_CONVERSION = re.compile(r"In CSV column #(\d+): (?:Row #(\d+): )?CSV conversion error to (\w+)")


@dataclass
class Source:
    """A table being read: where from, its schema, and its batches (consumed once)."""

    description: str
    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]


def open_source(data: Any, *, format: str | None = None) -> Source:
    """Open a pandas DataFrame, a pyarrow Table, or a file path / fsspec URL."""
    if isinstance(data, pa.Table):
        return _from_table(data, "pyarrow.Table")
    if _is_dataframe(data):
        return _from_table(_frame_to_table(data), "pandas.DataFrame")
    if isinstance(data, str | Path):
        return _from_file(str(data), format)
    raise InvalidInput(
        f"cannot register a {type(data).__name__}: pass a pandas DataFrame, a pyarrow Table, "
        "or the path or URL of a CSV, Parquet or JSON lines file"
    )


def _is_dataframe(data: Any) -> bool:
    module = type(data).__module__
    return module.startswith("pandas") and type(data).__name__ == "DataFrame"


def _frame_to_table(frame: Any) -> pa.Table:
    try:
        return pa.Table.from_pandas(frame)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidData(
            f"the DataFrame cannot be stored as a table: {_arrow_message(exc)}; a column that "
            "mixes types can be made uniform first, e.g. df[col] = df[col].astype(str)"
        ) from None


def _from_table(table: pa.Table, description: str) -> Source:
    _check_columns(table.schema, description)
    return Source(description, table.schema, iter(table.to_batches(max_chunksize=_BATCH_ROWS)))


def _check_columns(schema: pa.Schema, where: str) -> None:
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


# -- files ----------------------------------------------------------------------------------


def _from_file(location: str, format: str | None) -> Source:
    name = location.rsplit("/", 1)[-1]
    fmt = _resolve_format(location, format)
    try:
        fs, path = fsspec.core.url_to_fs(location)
    except (ValueError, ImportError) as exc:
        raise InvalidInput(f"cannot open {location!r}: {exc}") from None
    if not fs.exists(path):
        raise InvalidInput(f"no file {location}; check the path")
    if fs.isdir(path):
        raise InvalidInput(f"{location} is a folder; pass one CSV, Parquet or JSON lines file")
    if fs.size(path) == 0:
        raise InvalidData(f"{name} is empty: there is nothing to register")
    compressed = location.lower().endswith(_COMPRESSION)
    if not compressed:
        _sniff(fs, path, name, fmt)
    opener = {"csv": _open_csv, "parquet": _open_parquet, "jsonl": _open_jsonl}[fmt]
    source = opener(fs, path, name, compressed)
    # Where the data came from, as a person would type it again.
    source.description = location if "://" in location else str(Path(location).absolute())
    return source


def _resolve_format(location: str, format: str | None) -> str:
    if format is not None:
        if format not in FORMATS:
            raise InvalidInput(f"unknown format {format!r}; use one of: {', '.join(FORMATS)}")
        return format
    lowered = location.lower()
    for suffix in _COMPRESSION:
        lowered = lowered.removesuffix(suffix)
    for fmt, suffixes in FORMATS.items():
        if lowered.endswith(suffixes):
            return fmt
    raise InvalidInput(
        f"cannot tell the format of {location!r} from its suffix; name it .csv, .parquet or "
        ".jsonl, or pass format='csv' | 'parquet' | 'jsonl'"
    )


def _sniff(fs: Any, path: str, name: str, fmt: str) -> None:
    """Refuse a file whose content is not what its suffix (or ``format``) says."""
    with fs.open(path, "rb") as fh:
        head: bytes = fh.read(64 * 1024)
    is_parquet = head.startswith(b"PAR1")
    if fmt == "parquet" and not is_parquet:
        raise InvalidData(
            f"{name} is not a Parquet file (Parquet files start with 'PAR1'); if it holds CSV "
            "or JSON lines, give it that suffix or pass format='csv' or format='jsonl'"
        )
    if fmt != "parquet" and is_parquet:
        raise InvalidData(
            f"{name} is a Parquet file, not {fmt}: rename it to .parquet or pass format='parquet'"
        )
    if fmt != "parquet" and (b"\x00" in head or head.startswith(b"\x1f\x8b")):
        raise InvalidData(
            f"{name} looks binary, not {fmt} text; a compressed file needs its suffix "
            "(data.csv.gz), and other formats must be converted first"
        )
    if fmt == "jsonl" and not head.lstrip().startswith(b"{"):
        raise InvalidData(
            f"{name} is not JSON lines: each line must be one JSON object such as "
            '{"a": 1}; convert a JSON array with pandas: '
            "pd.read_json(path).to_json(out, orient='records', lines=True)"
        )


def _open_csv(
    fs: Any, path: str, name: str, compressed: bool, overrides: dict[str, pa.DataType] | None = None
) -> Source:
    delimiter = "\t" if path.lower().removesuffix(".gz").endswith(".tsv") else ","
    overrides = dict(overrides or {})
    reader = _csv_reader(fs, path, name, delimiter, overrides)
    _check_columns(reader.schema, name)

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        except pa.ArrowInvalid as exc:
            reader.close()
            # Types come from the first block; a later value that does not fit (a float
            # among ints, text among numbers) widens that column and the file is read
            # again, rather than a valid file being refused.
            if not _widen(exc, reader.schema, overrides):
                raise InvalidData(f"{name} is not valid CSV: {_arrow_message(exc)}") from None
            raise Reread(_open_csv(fs, path, name, compressed, overrides)) from None

    return Source(name, reader.schema, batches())


class Reread(Exception):
    """The source must be read again from the start, as ``source`` (wider column types)."""

    def __init__(self, source: Source) -> None:
        super().__init__("read the source again")
        self.source = source


def _csv_reader(
    fs: Any, path: str, name: str, delimiter: str, overrides: dict[str, pa.DataType]
) -> Any:
    stream = fs.open(path, "rb", compression="infer")
    try:
        return pa_csv.open_csv(
            stream,
            read_options=pa_csv.ReadOptions(use_threads=False, block_size=_CSV_BLOCK),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter),
            convert_options=pa_csv.ConvertOptions(column_types=overrides),
        )
    except pa.ArrowInvalid as exc:
        stream.close()
        raise InvalidData(f"{name} is not valid CSV: {_arrow_message(exc)}") from None


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


def _open_parquet(fs: Any, path: str, name: str, compressed: bool) -> Source:
    if compressed:
        raise InvalidData(f"{name}: Parquet is compressed inside; store it without .gz")
    try:
        parquet = pq.ParquetFile(fs.open(path, "rb"))
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidData(f"{name} is a corrupt Parquet file: {_arrow_message(exc)}") from None
    _check_columns(parquet.schema_arrow, name)
    batches = _guarded(parquet.iter_batches(batch_size=_BATCH_ROWS), name, "Parquet")
    return Source(name, parquet.schema_arrow, batches)


def _open_jsonl(fs: Any, path: str, name: str, compressed: bool) -> Source:
    stream = fs.open(path, "rb", compression="infer")
    try:
        reader = pa_json.open_json(stream, read_options=pa_json.ReadOptions(block_size=_CSV_BLOCK))
    except pa.ArrowInvalid as exc:
        stream.close()
        raise InvalidData(f"{name} is not valid JSON lines: {_arrow_message(exc)}") from None
    _check_columns(reader.schema, name)
    batches = _guarded(reader, name, "JSON lines")
    return Source(name, reader.schema, batches)


def _guarded(batches: Iterator[pa.RecordBatch], name: str, what: str) -> Iterator[pa.RecordBatch]:
    """Turn a read error half-way through a file into a clear :class:`InvalidData`."""
    try:
        yield from batches
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidData(f"{name} is not valid {what}: {_arrow_message(exc)}") from None


def _arrow_message(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.removeprefix("CSV parse error: ")
