"""``ll.record(name, value)``: values a job records, stored with it and compared on rerun.

The kernel never talks to the database: :func:`record` displays a mime bundle whose
:data:`RECORD_MIME` entry holds ``{"name", "kind", "value"}`` next to a readable
``text/plain`` (plus ``text/html`` for tables, ``image/png`` for figures), and the job
runner picks it out of the executed notebook with :func:`parse_record`.  Outside a job the
value simply shows in the notebook; in plain Python it is only checked.

Kinds and their JSON ``value``::

    number   int or float; NaN and infinities as {"float": "nan" | "inf" | "-inf"}
    bool     true or false
    string   text
    json     null, lists, dicts with text keys, numpy arrays (as lists); non-finite floats
             inside are written as for numbers
    table    {"columns", "data" (rows, missing cells null), "dtypes", "index" (only when it
             is not 0..n-1)}, at most MAX_TABLE_ROWS rows
    figure   {"png": base64, "sha256": of the PNG bytes}
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import io
import json
import math
import numbers
import re
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from lepton_lab.errors import InvalidInput
from lepton_lab.runs.info import RecordInfo, ValueCheck

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = [
    "KINDS",
    "MAX_RECORD_BYTES",
    "MAX_TABLE_ROWS",
    "RECORD_MIME",
    "compare",
    "compare_all",
    "encode",
    "parse_record",
    "record",
    "to_python",
]

#: The mime type of a recorded value in a notebook output.
RECORD_MIME = "application/vnd.lepton-lab.record+json"
#: The most rows a recorded table may have.
MAX_TABLE_ROWS = 1000
#: The most JSON one recorded value may take (it travels in the notebook and the database).
MAX_RECORD_BYTES = 5 * 1024 * 1024
#: Every kind of recorded value.
KINDS = ("number", "bool", "string", "json", "table", "figure")

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,99}")
_NON_FINITE = ("nan", "inf", "-inf")
_ACCEPTED = (
    "a number, bool, string, None, list or dict of those, numpy array, "
    "pandas DataFrame or Series, or matplotlib Figure"
)
_TOO_BIG = (
    "record a summary instead (a few numbers, df.describe(), df.head()) and register "
    "big tables as a dataset with ll.datasets.register"
)


def record(name: str, value: Any) -> None:
    """Record ``value`` under ``name`` for the job running this notebook, and show it.

    ``name`` is 1-100 letters, digits, ``_ - . /``; see the module docstring for the
    values accepted.  Raises InvalidInput for anything else, also outside a job.
    """
    payload = encode(name, value)
    if not _in_ipython():
        return  # plain Python: the value was checked, there is nowhere to show it
    from IPython.display import display

    display(_bundle(payload), raw=True)  # type: ignore[no-untyped-call]


def encode(name: str, value: Any) -> dict[str, Any]:
    """The payload ``{"name", "kind", "value"}`` that :func:`record` displays."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInput(
            f"cannot record under the name {name!r}: use 1-100 letters, digits, '_', '-', "
            "'.' or '/', starting with a letter, digit or '_' (e.g. 'auc' or 'val/loss')"
        )
    kind, encoded = _encode_value(name, value)
    payload = {"name": name, "kind": kind, "value": encoded}
    size = len(json.dumps(payload, allow_nan=False))
    if size > MAX_RECORD_BYTES:
        raise InvalidInput(
            f"record {name!r} is {size / 2**20:.1f} MiB of JSON, over the "
            f"{MAX_RECORD_BYTES / 2**20:.0f} MiB limit for one value; {_TOO_BIG}"
        )
    return payload


def _encode_value(name: str, value: Any) -> tuple[str, Any]:
    if isinstance(value, bool) or _is_instance(value, "numpy", "bool_"):
        return "bool", bool(value)
    if isinstance(value, numbers.Real):  # numpy integers and floats register as Real
        return "number", _number(value)
    if isinstance(value, str):
        return "string", value
    if _is_instance(value, "pandas", "DataFrame") or _is_instance(value, "pandas", "Series"):
        return "table", _table(name, value)
    if _is_instance(value, "matplotlib.figure", "Figure"):
        return "figure", _figure(value)
    return "json", _jsonable(name, value)


def _is_instance(value: Any, module: str, cls: str) -> bool:
    # A value can only be a DataFrame, Figure or ndarray if its library is already imported:
    # looking in sys.modules keeps this module light to import in a kernel that uses neither.
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(value, getattr(loaded, cls))


def _number(value: numbers.Real) -> int | float | dict[str, str]:
    if isinstance(value, numbers.Integral):
        return int(value)
    number = float(value)
    return number if math.isfinite(number) else {"float": str(number)}  # JSON has no NaN


def _jsonable(name: str, value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool) or _is_instance(value, "numpy", "bool_"):
        return bool(value)
    if isinstance(value, numbers.Real):
        return _number(value)
    if _is_instance(value, "numpy", "ndarray") or _is_instance(value, "numpy", "generic"):
        return _jsonable(name, value.tolist())
    if isinstance(value, list | tuple):
        return [_jsonable(name, item) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise InvalidInput(f"cannot record {name!r}: JSON needs text keys in every dict")
        return {key: _jsonable(name, item) for key, item in value.items()}
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    raise InvalidInput(f"cannot record {name!r}: a {kind} is not recordable; record {_ACCEPTED}")


def _table(name: str, value: pd.DataFrame | pd.Series) -> dict[str, Any]:
    import pandas as pd

    if isinstance(value, pd.Series):
        value = value.to_frame("value" if value.name is None else value.name)
    if len(value) > MAX_TABLE_ROWS:
        raise InvalidInput(
            f"record {name!r} is a table of {len(value)} rows, over the "
            f"{MAX_TABLE_ROWS}-row limit; {_TOO_BIG}"
        )
    table: dict[str, Any] = {
        "columns": [str(column) for column in value.columns],
        "data": [[_cell(v) for v in row] for row in value.itertuples(index=False, name=None)],
        "dtypes": [str(dtype) for dtype in value.dtypes],
    }
    if not value.index.equals(pd.RangeIndex(len(value))):
        table["index"] = [_cell(v) for v in value.index]
    return table


def _cell(value: Any) -> Any:
    import pandas as pd

    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None  # NaN, None, NaT and pd.NA all mean "missing" in a table
    if hasattr(value, "isoformat"):
        return value.isoformat()  # timestamps and dates
    try:
        return _jsonable("", value)
    except InvalidInput:
        return str(value)  # a table cell may hold any object; keep what it shows


def _figure(figure: Figure) -> dict[str, str]:
    buffer = io.BytesIO()
    # Without the "Software" text chunk (the matplotlib version) and with Agg's PNG writer
    # adding no timestamp, the same drawing gives the same bytes, so the sha256 compares.
    figure.savefig(buffer, format="png", metadata={"Software": None})
    png = buffer.getvalue()
    return {"png": base64.b64encode(png).decode("ascii"), "sha256": hashlib.sha256(png).hexdigest()}


def _in_ipython() -> bool:
    ipython = sys.modules.get("IPython")  # never imported by plain Python
    return ipython is not None and ipython.get_ipython() is not None


def _bundle(payload: dict[str, Any]) -> dict[str, Any]:
    rec = RecordInfo(payload["name"], payload["kind"], payload["value"])
    bundle: dict[str, Any] = {RECORD_MIME: payload}
    if rec.kind == "table":
        frame = to_python(rec)
        bundle["text/plain"] = f"{rec.name}: {_show(rec)}\n{frame.to_string(max_rows=20)}"
        bundle["text/html"] = f"<p><code>{html.escape(rec.name)}</code></p>" + frame.to_html(
            max_rows=20
        )
    elif rec.kind == "figure":
        bundle["text/plain"] = f"{rec.name}: {_show(rec)}"
        bundle["image/png"] = rec.value["png"]
    else:
        bundle["text/plain"] = f"{rec.name} = {to_python(rec)!r}"
    return bundle


def parse_record(output: Mapping[str, Any], *, cell: int | None = None) -> RecordInfo | None:
    """The value recorded by a notebook output (an nbformat output dict), else None.

    Never raises: an output of another kind, or one whose payload is malformed, gives None.
    """
    if output.get("output_type") not in ("display_data", "execute_result"):
        return None
    data = output.get("data")
    payload = data.get(RECORD_MIME) if isinstance(data, Mapping) else None
    if isinstance(payload, str):  # some tools keep JSON mime values as text
        try:
            payload = json.loads(payload)
        except ValueError:
            return None
    if not isinstance(payload, Mapping) or "value" not in payload:
        return None
    name, kind, value = payload.get("name"), payload.get("kind"), payload["value"]
    if not isinstance(name, str) or not _NAME.fullmatch(name) or not isinstance(kind, str):
        return None
    valid = _VALID.get(kind)
    return RecordInfo(name, kind, value, cell) if valid and valid(value) else None


def _is_number(value: Any) -> bool:
    if isinstance(value, dict):
        return len(value) == 1 and value.get("float") in _NON_FINITE
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_table(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    columns, data = value.get("columns"), value.get("data")
    index, dtypes = value.get("index"), value.get("dtypes", [])
    return (
        isinstance(columns, list)
        and all(isinstance(column, str) for column in columns)
        and isinstance(data, list)
        and all(isinstance(row, list) and len(row) == len(columns) for row in data)
        and (index is None or (isinstance(index, list) and len(index) == len(data)))
        and isinstance(dtypes, list)
        and all(isinstance(dtype, str) for dtype in dtypes)
    )


def _is_figure(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("png"), str)
        and isinstance(value.get("sha256"), str)
    )


_VALID: dict[str, Callable[[Any], bool]] = {
    "number": _is_number,
    "bool": lambda value: isinstance(value, bool),
    "string": lambda value: isinstance(value, str),
    "json": lambda value: True,
    "table": _is_table,
    "figure": _is_figure,
}


def to_python(record: RecordInfo) -> Any:
    """The recorded value back in Python: numbers (NaN included), a pandas DataFrame for a
    table, the PNG bytes of a figure, plain JSON values otherwise."""
    if record.kind == "table":
        return _frame(record.value)
    if record.kind == "figure":
        return base64.b64decode(record.value["png"])
    return _plain(record.value)


def _plain(value: Any) -> Any:
    if _is_number(value) and isinstance(value, dict):
        return float(value["float"])
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _frame(table: dict[str, Any]) -> pd.DataFrame:
    import pandas as pd

    index = table.get("index")
    if index is not None and any(isinstance(label, list) for label in index):
        index = pd.MultiIndex.from_tuples([tuple(label) for label in index])
    data = [[_plain(cell) for cell in row] for row in table["data"]]
    frame = pd.DataFrame(data, columns=table["columns"], index=index)
    for position, dtype in enumerate(table.get("dtypes", [])):
        # Best effort: when a dtype cannot be restored the values are still right.
        with contextlib.suppress(TypeError, ValueError, ImportError):
            frame.isetitem(position, frame.iloc[:, position].astype(dtype).array)
    return frame


def compare(
    name: str,
    original: RecordInfo | None,
    rerun: RecordInfo | None,
    *,
    rel_tol: float = 1e-9,
    abs_tol: float = 0.0,
) -> ValueCheck:
    """Whether a value recorded by a job matches the one its rerun recorded.

    Same kind required; numbers (and table cells) match within ``math.isclose`` tolerances,
    NaN matching NaN; strings, bools and JSON exactly; figures by the sha256 of their PNG.
    """

    def check(match: bool, note: str = "") -> ValueCheck:
        return ValueCheck(name, _show(original), _show(rerun), match, note)

    if original is None or rerun is None:
        if original is rerun:
            return check(True, "recorded by neither job")
        return check(False, "not recorded by the " + ("rerun" if rerun is None else "original"))
    if original.kind != rerun.kind:
        return check(False, f"kind changed: {original.kind} -> {rerun.kind}")
    note = _difference(original.kind, original.value, rerun.value, rel_tol, abs_tol)
    return check(not note, note)


def compare_all(
    original: list[RecordInfo],
    rerun: list[RecordInfo],
    *,
    rel_tol: float = 1e-9,
    abs_tol: float = 0.0,
) -> list[ValueCheck]:
    """:func:`compare` for every name, in the original's order, then those only the rerun has.

    A name recorded twice counts with its last value, as a later cell overrides an earlier one.
    """
    before = {rec.name: rec for rec in original}
    after = {rec.name: rec for rec in rerun}
    names = list(before) + [name for name in after if name not in before]
    tol = {"rel_tol": rel_tol, "abs_tol": abs_tol}
    return [compare(name, before.get(name), after.get(name), **tol) for name in names]


def _difference(kind: str, a: Any, b: Any, rel_tol: float, abs_tol: float) -> str:
    """Empty when two values of ``kind`` match, else a note saying how they differ."""
    if kind == "number":
        x, y = _plain(a), _plain(b)
        if _close(x, y, rel_tol, abs_tol):
            return ""
        return f"differs by {y - x:+.3g}" if math.isfinite(y - x) else "values differ"
    if kind == "table":
        return _table_difference(a, b, rel_tol, abs_tol)
    if kind == "figure":
        return "" if a["sha256"] == b["sha256"] else "the figure's image changed"
    # Canonical JSON tells 1 from 1.0 and from true, which == would not.
    same = json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    return "" if same else "values differ"


def _close(x: float, y: float, rel_tol: float, abs_tol: float) -> bool:
    both_nan = math.isnan(x) and math.isnan(y)
    return both_nan or math.isclose(x, y, rel_tol=rel_tol, abs_tol=abs_tol)


def _table_difference(a: dict[str, Any], b: dict[str, Any], rel_tol: float, abs_tol: float) -> str:
    if a["columns"] != b["columns"]:
        return f"columns changed: {a['columns']} -> {b['columns']}"
    if len(a["data"]) != len(b["data"]):
        return f"rows changed: {len(a['data'])} -> {len(b['data'])}"
    if a.get("index") != b.get("index"):
        return "the index changed"
    for row, (cells_a, cells_b) in enumerate(zip(a["data"], b["data"], strict=True)):
        for column, x, y in zip(a["columns"], cells_a, cells_b, strict=True):
            numeric = _is_number(x) and _is_number(y)
            if not (_close(_plain(x), _plain(y), rel_tol, abs_tol) if numeric else x == y):
                return f"row {row}, column {column!r}: {_plain(x)!r} -> {_plain(y)!r}"
    return ""


def _show(rec: RecordInfo | None) -> Any:
    """A readable, JSON-safe form of a recorded value for a ValueCheck."""
    if rec is None:
        return None
    if rec.kind == "table":
        return f"table {len(rec.value['data'])}x{len(rec.value['columns'])}"
    if rec.kind == "figure":
        return f"figure sha256:{rec.value['sha256'][:12]}"
    if rec.kind == "number" and isinstance(rec.value, dict):
        return rec.value["float"]  # "nan", "inf" or "-inf": JSON has no such numbers
    return rec.value
