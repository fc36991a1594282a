"""Arrow types for SQL results: what each database's column types become in a dataset.

Types come from the database's own description of the result, not from the values of the
first rows, so a column whose first rows are all null, or a decimal whose first values
happen to be short, still gets its declared type: dates stay dates, ``DECIMAL(12,2)``
stays a decimal of scale 2, ``BIGINT`` stays 64-bit.  Where a driver's type is not known
here (other databases), it is inferred from the values of the first batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import pyarrow as pa

from lepton_lab.errors import InvalidData

__all__ = ["arrow_type", "plain_postgres_schema", "rows_to_batch"]


def plain_postgres_schema(
    schema: pa.Schema,
) -> tuple[pa.Schema, Callable[[pa.RecordBatch], pa.RecordBatch]]:
    """ADBC hands NUMERIC over as text in an opaque type: make it a decimal of the
    column's declared precision (kept as text when it has none: no scale to honour)."""
    fields = [_plain_postgres_field(f) for f in schema]
    plain = pa.schema(fields)

    def convert(batch: pa.RecordBatch) -> pa.RecordBatch:
        columns = [
            _storage(column).cast(field.type)
            for column, field in zip(batch.columns, fields, strict=True)
        ]
        return pa.RecordBatch.from_arrays(columns, schema=plain)

    return plain, convert


def _plain_postgres_field(field: pa.Field) -> pa.Field:
    metadata = field.metadata or {}
    if not isinstance(field.type, pa.BaseExtensionType):
        return pa.field(field.name, field.type)
    typmod = int(metadata.get(b"POSTGRESQL:typmod", b"-1"))
    if metadata.get(b"POSTGRESQL:type") == b"numeric" and typmod >= 4:
        precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
        decimal = pa.decimal128 if precision <= 38 else pa.decimal256
        return pa.field(field.name, decimal(precision, scale))
    return pa.field(field.name, field.type.storage_type)


def _storage(column: pa.Array) -> pa.Array:
    return column.storage if isinstance(column.type, pa.BaseExtensionType) else column


# MySQL and MariaDB column type codes (MySQL's protocol, as PyMySQL reports them).
_MYSQL_TYPES: dict[int, Callable[[Sequence[Any]], pa.DataType]] = {
    1: lambda d: pa.bool_() if d[3] == 1 else pa.int16(),  # TINYINT(1) is BOOLEAN
    2: lambda d: pa.int32(),
    3: lambda d: pa.int64(),
    4: lambda d: pa.float32(),
    5: lambda d: pa.float64(),
    7: lambda d: pa.timestamp("us"),
    8: lambda d: pa.int64(),
    9: lambda d: pa.int32(),
    10: lambda d: pa.date32(),
    11: lambda d: pa.duration("us"),
    12: lambda d: pa.timestamp("us"),
    13: lambda d: pa.int16(),
    14: lambda d: pa.date32(),
    0: lambda d: _decimal(d[3], d[5]),
    246: lambda d: _decimal(d[3], d[5]),
    245: lambda d: pa.string(),
}

# PostgreSQL type OIDs (when read through psycopg rather than ADBC).
_POSTGRES_TYPES: dict[int, Callable[[Sequence[Any]], pa.DataType]] = {
    16: lambda d: pa.bool_(),
    20: lambda d: pa.int64(),
    21: lambda d: pa.int16(),
    23: lambda d: pa.int32(),
    25: lambda d: pa.string(),
    700: lambda d: pa.float32(),
    701: lambda d: pa.float64(),
    1043: lambda d: pa.string(),
    1082: lambda d: pa.date32(),
    1114: lambda d: pa.timestamp("us"),
    1184: lambda d: pa.timestamp("us", tz="UTC"),
    1700: lambda d: _decimal(d[4], d[5]) if d[4] else pa.string(),
}


def _decimal(digits: int | None, scale: int | None) -> pa.DataType:
    """A decimal wide enough for ``digits`` (a MySQL display length counts sign and point)."""
    precision = max(int(digits or 38), 1)
    return (
        pa.decimal128(precision, scale or 0)
        if precision <= 38
        else pa.decimal256(min(precision, 76), scale or 0)
    )


def arrow_type(dialect: str, column: Sequence[Any]) -> pa.DataType | None:
    """The column's Arrow type from the cursor's description; None: infer from values."""
    table = _MYSQL_TYPES if dialect in ("mysql", "mariadb") else _POSTGRES_TYPES
    if dialect not in ("mysql", "mariadb", "postgresql"):
        return None
    make = table.get(column[1]) if isinstance(column[1], int) else None
    return make(column) if make is not None else None


def rows_to_batch(
    names: list[str],
    types: list[pa.DataType | None],
    rows: Sequence[Any],
    schema: pa.Schema | None,
) -> pa.RecordBatch:
    """Rows (tuples) as one batch: typed by ``schema`` when given, else by ``types`` (from
    :func:`arrow_type`; None infers the type from the values)."""
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays = [
        _array(name, values, kind if schema is None else schema.field(i).type)
        for i, (name, values, kind) in enumerate(zip(names, columns, types, strict=True))
    ]
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _array(name: str, values: Sequence[Any], kind: pa.DataType | None) -> pa.Array:
    try:
        if kind is not None and pa.types.is_boolean(kind):  # MySQL's BOOLEAN holds 0 and 1
            return pa.array([None if v is None else bool(v) for v in values], pa.bool_())
        if (
            kind is not None
            and pa.types.is_string(kind)
            and any(isinstance(v, Decimal) for v in values)
        ):
            return pa.array([None if v is None else str(v) for v in values], pa.string())
        if kind is not None and pa.types.is_null(kind):
            kind = None if any(v is not None for v in values) else kind
        return pa.array(values, kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
        raise InvalidData(
            f"column {name!r} holds a value its type cannot: {str(exc).splitlines()[0]}; "
            "cast it in the query (e.g. CAST(col AS CHAR) or col::text)"
        ) from None
