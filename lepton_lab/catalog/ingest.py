"""Reading what a user registers (a frame, a table, a file) as a stream of Arrow batches.

A file is read by its format's entry in :mod:`lepton_lab.catalog.formats`, chosen by
``format=`` or the file's suffix; its first bytes are sniffed before any parser sees
them, and every byte a parser sees passes the guard of
:meth:`~lepton_lab.catalog.source.FileInput.open_stream` (``max_bytes`` counted after
decompression).  Every way a file can be wrong becomes an
:class:`~lepton_lab.errors.InvalidData` that names the file and says what to do (or a
:class:`~lepton_lab.errors.TooLarge`); nothing is stored until the whole stream was read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fsspec
import pyarrow as pa

from lepton_lab.catalog.formats import (
    DatasetFormat,
    describe_labels,
    format_names,
    get_format,
    resolve_format,
    split_compression,
)
from lepton_lab.catalog.source import (
    BATCH_ROWS,
    FileInput,
    Source,
    arrow_message,
    check_columns,
)
from lepton_lab.errors import InvalidData, InvalidInput

__all__ = ["Source", "find_file", "open_source"]


def open_source(data: Any, *, format: str | None = None, max_bytes: int | None = None) -> Source:
    """Open a pandas DataFrame, a pyarrow Table, or a file path / fsspec URL.

    ``max_bytes`` bounds what a parser may see of a file once decompressed (an upload's
    limit); past it, reading stops with :class:`~lepton_lab.errors.TooLarge`.
    """
    if isinstance(data, pa.Table):
        return _from_table(data, "pyarrow.Table")
    if _is_dataframe(data):
        return _from_table(_frame_to_table(data), "pandas.DataFrame")
    if isinstance(data, str | Path):
        return _from_file(str(data), format, max_bytes)
    raise InvalidInput(
        f"cannot register a {type(data).__name__}: pass a pandas DataFrame, a pyarrow Table, "
        f"or the path or URL of a {describe_labels()} file"
    )


def _is_dataframe(data: Any) -> bool:
    module = type(data).__module__
    return module.startswith("pandas") and type(data).__name__ == "DataFrame"


def _frame_to_table(frame: Any) -> pa.Table:
    try:
        return pa.Table.from_pandas(frame)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidData(
            f"the DataFrame cannot be stored as a table: {arrow_message(exc)}; a column that "
            "mixes types can be made uniform first, e.g. df[col] = df[col].astype(str)"
        ) from None


def _from_table(table: pa.Table, description: str) -> Source:
    check_columns(table.schema, description)
    return Source(description, table.schema, iter(table.to_batches(max_chunksize=BATCH_ROWS)))


# -- files ----------------------------------------------------------------------------------


def _from_file(location: str, format: str | None, max_bytes: int | None) -> Source:
    fmt = resolve_format(location, format)
    file = _file_input(location, fmt, max_bytes)
    _sniff(fmt, file)
    source = fmt.load_reader().open(file)
    # Where the data came from, as a person would type it again.
    source.description = location if "://" in location else str(Path(location).absolute())
    return source


def _file_input(location: str, fmt: DatasetFormat, max_bytes: int | None) -> FileInput:
    """The file at ``location``, checked to exist, hold bytes, and carry a compression
    suffix ``fmt`` reads."""
    fs, path, name = find_file(location)
    compression = split_compression(location)[1]
    if compression is not None and compression not in fmt.compressions:
        reason = f" ({fmt.uncompressed_reason})" if fmt.uncompressed_reason else ""
        raise InvalidData(
            f"{name}: {fmt.label} files are read without {compression} compression{reason}; "
            f"store it without {compression}"
        )
    return FileInput(fs, path, name, compression, max_bytes)


def find_file(location: str) -> tuple[Any, str, str]:
    """The fsspec file system, path and file name of the file at ``location`` (a path or
    an fsspec URL), checked to exist, to be a file and to hold bytes."""
    try:
        fs, path = fsspec.core.url_to_fs(location)
    except (ValueError, ImportError) as exc:
        raise InvalidInput(f"cannot open {location!r}: {exc}") from None
    if not fs.exists(path):
        raise InvalidInput(f"no file {location}; check the path")
    if fs.isdir(path):
        raise InvalidInput(f"{location} is a folder; pass one {describe_labels()} file")
    name = location.rsplit("/", 1)[-1]
    if fs.size(path) == 0:
        raise InvalidData(f"{name} is empty: there is nothing to register")
    return fs, path, name


def _sniff(fmt: DatasetFormat, file: FileInput) -> None:
    """Refuse a file whose first bytes are not what its suffix (or ``format``) says."""
    head = file.head()
    for name in format_names():
        other = get_format(name)
        if other.name != fmt.name and other.load_reader().recognises(head):
            raise InvalidData(
                f"{file.name} is a {other.label} file, not {fmt.name}: rename it to "
                f"{other.suffixes[0]} or pass format='{other.name}'"
            )
    fmt.load_reader().sniff(head, file)
