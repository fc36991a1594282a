"""Turning a :class:`~lepton_lab.catalog.source.Source` into a stored version's content.

One streaming pass writes the Parquet file, builds the profile and keeps the first rows
as the preview; a second pass over the numeric columns of the written file fills the
histograms (their bins need the minimum and maximum first).  Memory stays bounded by the
batch size, whatever the size of the input.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lepton_lab.catalog.profile import ProfileBuilder
from lepton_lab.catalog.source import Reread, Source
from lepton_lab.errors import InvalidData
from lepton_lab.store.blobs import sha256_file

__all__ = ["PREVIEW_ROWS", "Written", "write_version"]

#: Rows kept as the preview of a version.
PREVIEW_ROWS = 100


@dataclass(frozen=True)
class Written:
    """A version's content written to a local Parquet file, with what was learned on the way."""

    path: Path
    sha256: str
    bytes: int
    rows: int
    columns: list[dict[str, str]]
    profile: dict[str, Any]
    preview: dict[str, Any]


def write_version(source: Source, folder: Path) -> Written:
    """Write ``source`` as Parquet under ``folder``; the caller removes ``.path`` when done."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"ingest-{uuid.uuid4().hex}.parquet"
    try:
        while True:
            try:
                rows, profiler, preview = _write(source, path)
                break
            except Reread as again:
                again.source.description = source.description
                source = again.source
        if rows == 0:
            raise InvalidData(f"{_short(source)} has no rows: there is nothing to register")
        _fill_histograms(path, profiler)
        sha256, size = sha256_file(path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    columns = [{"name": f.name, "type": str(f.type)} for f in source.schema]
    return Written(path, sha256, size, rows, columns, profiler.finish(), preview)


def _write(source: Source, path: Path) -> tuple[int, ProfileBuilder, dict[str, Any]]:
    schema = _storable(source.schema)
    profiler = ProfileBuilder(schema)
    head: list[pa.RecordBatch] = []
    kept = rows = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for batch in source.batches:
            if batch.num_rows == 0:
                continue
            batch = batch.cast(schema) if batch.schema != schema else batch
            writer.write_batch(batch)
            profiler.update(batch)
            rows += batch.num_rows
            if kept < PREVIEW_ROWS:
                head.append(batch.slice(0, PREVIEW_ROWS - kept))
                kept += head[-1].num_rows
    return rows, profiler, _preview(head, schema)


def _storable(schema: pa.Schema) -> pa.Schema:
    """Parquet has no null type: an all-empty column is stored as text."""
    fields = [f.with_type(pa.string()) if pa.types.is_null(f.type) else f for f in schema]
    return pa.schema(fields, metadata=schema.metadata)


def _fill_histograms(path: Path, profiler: ProfileBuilder) -> None:
    columns = profiler.histogram_columns()
    if not columns:
        return
    # pre_buffer=False: with it, pyarrow keeps every column chunk read until the loop ends,
    # and memory grows with the file (apache/arrow#39808).
    parquet = pq.ParquetFile(path, pre_buffer=False)
    for batch in parquet.iter_batches(batch_size=256 * 1024, columns=columns):
        profiler.update_histograms(batch)


def _preview(head: list[pa.RecordBatch], schema: pa.Schema) -> dict[str, Any]:
    """The first rows as JSON-safe ``{"columns": [...], "data": [[...], ...]}``."""
    table = pa.Table.from_batches(head, schema=schema)
    frame = table.to_pandas()
    # pandas' JSON writer already turns NaN into null and times into ISO strings.
    split = json.loads(frame.to_json(orient="split", date_format="iso", default_handler=str))
    return {"columns": [str(c) for c in split["columns"]], "data": split["data"]}


def _short(source: Source) -> str:
    return source.description.rsplit("/", 1)[-1]
