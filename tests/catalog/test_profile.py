"""Tests for the streaming column profiler, against pandas and numpy on real data."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.datasets import load_diabetes, load_iris, load_wine

from lepton_lab.catalog.profile import ProfileBuilder
from lepton_lab.errors import InvalidData, InvalidInput, LeptonLabError


def profile(table: pa.Table, batch_rows: int, **options: int) -> dict[str, Any]:
    """Profile ``table`` in batches of ``batch_rows``, reading only what each pass needs."""
    builder = ProfileBuilder(table.schema, **options)
    for batch in table.to_batches(max_chunksize=batch_rows):
        builder.update(batch)
    wanted = builder.histogram_columns()
    if wanted:
        for batch in table.select(wanted).to_batches(max_chunksize=batch_rows):
            builder.update_histograms(batch)
    return builder.finish()


def column(result: dict[str, Any], name: str) -> dict[str, Any]:
    """One column's profile by name."""
    found: dict[str, Any] = next(c for c in result["columns"] if c["name"] == name)
    return found


def with_nulls(values: np.ndarray, every: int) -> pa.Array:
    """An arrow array of ``values`` with every ``every``-th entry null."""
    mask = np.zeros(values.size, dtype=bool)
    mask[::every] = True
    return pa.array(values, mask=mask)


def assert_json_plain(value: Any) -> None:
    """Only JSON's own types (numpy scalars would pass json.dumps as float subclasses)."""
    if isinstance(value, dict):
        assert all(type(key) is str for key in value)
        for item in value.values():
            assert_json_plain(item)
    elif isinstance(value, list):
        for item in value:
            assert_json_plain(item)
    else:
        assert value is None or type(value) in (str, int, float, bool), repr(value)


@pytest.mark.parametrize("load", [load_iris, load_wine, load_diabetes])
def test_numeric_stats_match_pandas_across_many_batches(load: Any) -> None:
    frame = load(as_frame=True).data
    table = pa.table({name: with_nulls(frame[name].to_numpy(), 11) for name in frame.columns})
    result = profile(table, batch_rows=7, bins=8)

    assert result["rows"] == len(frame)
    assert [c["name"] for c in result["columns"]] == list(frame.columns)
    for name in frame.columns:
        expected = table[name].to_pandas()
        stats = column(result, name)
        assert stats["kind"] == "number"
        assert stats["type"] == "double"
        assert stats["nulls"] == expected.isna().sum()
        assert stats["count"] == expected.notna().sum()
        assert stats["min"] == expected.min()
        assert stats["max"] == expected.max()
        assert stats["mean"] == pytest.approx(expected.mean(), rel=1e-12)
        assert stats["std"] == pytest.approx(expected.std(ddof=1), rel=1e-10)
        assert stats["distinct"] == expected.nunique()
        assert stats["distinct_exact"] is True
        histogram = stats["histogram"]
        assert len(histogram["edges"]) == 9
        assert len(histogram["counts"]) == 8
        assert histogram["edges"][0] == stats["min"]
        assert histogram["edges"][-1] == stats["max"]
        assert sum(histogram["counts"]) == stats["count"]
        exact, _ = np.histogram(expected.dropna(), bins=histogram["edges"])
        assert histogram["counts"] == exact.tolist()


def test_integers_keep_exact_min_max_and_stable_std() -> None:
    rng = np.random.default_rng(1)
    big = rng.integers(2**60, 2**60 + 1_000, size=20_000)
    # A large offset and a small spread: naive sum-of-squares merging would lose the digits.
    offset = 1e9 + rng.normal(0.0, 1e-3, size=20_000)
    table = pa.table({"big": big, "offset": offset, "small": pa.array(big % 7, pa.int8())})

    result = profile(table, batch_rows=333)

    ints = column(result, "big")
    assert ints["min"] == int(big.min())
    assert ints["max"] == int(big.max())
    assert type(ints["min"]) is int
    floats = column(result, "offset")
    assert floats["mean"] == pytest.approx(offset.mean(), rel=1e-15)
    assert floats["std"] == pytest.approx(offset.std(ddof=1), rel=1e-6)
    small = column(result, "small")
    assert small["type"] == "int8"
    assert small["distinct"] == 7
    assert small["std"] == pytest.approx(np.std(big % 7, ddof=1), rel=1e-12)


def test_nan_counts_as_null_and_infinities_are_left_out_of_stats() -> None:
    values = pa.array([1.0, np.nan, None, np.inf, -np.inf, 3.0, -0.0, 0.0, np.nan])
    result = profile(pa.table({"x": values}), batch_rows=2)

    x = column(result, "x")
    assert x["nulls"] == 3
    assert x["count"] == 6
    assert (x["min"], x["max"]) == (-0.0, 3.0)
    assert x["mean"] == pytest.approx(1.0)
    assert x["std"] == pytest.approx(np.std([1.0, 3.0, 0.0, 0.0], ddof=1))
    # 1, 3, 0 (-0.0 and 0.0 are one value), inf and -inf.
    assert x["distinct"] == 5
    assert sum(x["histogram"]["counts"]) == 4


def test_all_null_columns() -> None:
    table = pa.table(
        {
            "f": pa.nulls(50, pa.float64()),
            "nan": pa.array([np.nan] * 50),
            "s": pa.nulls(50, pa.string()),
            "b": pa.nulls(50, pa.bool_()),
            "t": pa.nulls(50, pa.timestamp("ms")),
            "n": pa.nulls(50),
        }
    )
    builder = ProfileBuilder(table.schema)
    for batch in table.to_batches(max_chunksize=9):
        builder.update(batch)
    assert builder.histogram_columns() == []
    result = builder.finish()

    for name in ("f", "nan"):
        numbers = column(result, name)
        assert (numbers["nulls"], numbers["count"]) == (50, 0)
        assert (numbers["distinct"], numbers["distinct_exact"]) == (0, True)
        for key in ("min", "max", "mean", "std", "histogram"):
            assert numbers[key] is None
    strings = column(result, "s")
    assert strings["top"] == []
    assert strings["min_length"] is None
    assert strings["mean_length"] is None
    assert column(result, "b")["top"] == []
    assert column(result, "t")["min"] is None
    assert column(result, "n") == {
        "name": "n",
        "type": "null",
        "kind": "other",
        "nulls": 50,
        "count": 0,
    }
    assert_json_plain(result)


def test_single_value_column_gets_one_bin() -> None:
    table = pa.table({"v": pa.array([2.5] * 40 + [None] * 3)})
    x = column(profile(table, batch_rows=6, bins=5), "v")

    assert (x["min"], x["max"], x["mean"], x["std"]) == (2.5, 2.5, 2.5, 0.0)
    assert x["histogram"] == {"edges": [2.5, 2.5], "counts": [40]}
    assert x["distinct"] == 1


def test_histogram_is_none_without_second_pass() -> None:
    table = pa.table({"v": [1, 2, 3]})
    builder = ProfileBuilder(table.schema)
    builder.update(table.to_batches()[0])
    assert builder.histogram_columns() == ["v"]
    assert builder.finish()["columns"][0]["histogram"] is None


def test_string_top_values_and_lengths_match_pandas() -> None:
    species = load_iris().target_names
    rng = np.random.default_rng(2)
    # Distinct weights so the top order has no ties.
    words = [f"{name}-{i}" for name in species for i in range(7)] + ["", "ünïcødé"]
    weights = np.arange(1, len(words) + 1, dtype=float)
    drawn = rng.choice(np.array(words, dtype=object), size=30_000, p=weights / weights.sum())
    strings = with_nulls(drawn, 13)
    table = pa.table({"s": strings, "d": strings.dictionary_encode(), "v": strings})
    table = table.set_column(2, "v", table["v"].cast(pa.string_view()))

    result = profile(table, batch_rows=1_000, top_k=5)

    expected = strings.to_pandas()
    counts = expected.value_counts()
    for name, arrow_type in (("s", "string"), ("d", "dictionary"), ("v", "string_view")):
        s = column(result, name)
        assert s["kind"] == "string"
        assert s["type"].startswith(arrow_type)
        assert s["top"] == [
            {"value": value, "count": int(count)} for value, count in counts.head(5).items()
        ]
        assert s["top_exact"] is True
        assert (s["nulls"], s["count"]) == (expected.isna().sum(), expected.notna().sum())
        assert (s["distinct"], s["distinct_exact"]) == (expected.nunique(), True)
        lengths = expected.dropna().str.len()
        assert (s["min_length"], s["max_length"]) == (0, lengths.max())
        assert s["mean_length"] == pytest.approx(lengths.mean())


def test_top_values_stay_bounded_and_find_heavy_hitters() -> None:
    rng = np.random.default_rng(3)
    unique = np.array([f"id-{i}" for i in range(100_000)], dtype=object)
    heavy = np.repeat(np.array(["alpha", "beta", "gamma"], dtype=object), [9_000, 6_000, 3_000])
    values = np.concatenate([unique, heavy])
    rng.shuffle(values)

    result = profile(pa.table({"s": pa.array(values)}), batch_rows=10_000, top_k=3)

    s = column(result, "s")
    assert s["top"] == [
        {"value": "alpha", "count": 9_000},
        {"value": "beta", "count": 6_000},
        {"value": "gamma", "count": 3_000},
    ]
    assert s["top_exact"] is False
    assert s["distinct_exact"] is False
    assert s["distinct"] == pytest.approx(100_003, rel=0.05)


def test_booleans() -> None:
    values = pa.array([True, False, None, True] * 25)
    b = column(profile(pa.table({"b": values}), batch_rows=7), "b")

    assert b["kind"] == "boolean"
    assert (b["nulls"], b["count"], b["distinct"]) == (25, 75, 2)
    assert b["top"] == [{"value": True, "count": 50}, {"value": False, "count": 25}]


def test_distinct_exact_for_small_cardinality() -> None:
    rng = np.random.default_rng(4)
    ints = rng.integers(0, 3_000, size=60_000)
    table = pa.table({"i": ints, "s": pa.array(ints.astype(str)), "f": ints / 7.0})

    result = profile(table, batch_rows=4_096)

    for name in ("i", "s", "f"):
        assert column(result, name)["distinct"] == len(np.unique(ints))
        assert column(result, name)["distinct_exact"] is True


def test_distinct_estimate_for_large_cardinality() -> None:
    rng = np.random.default_rng(5)
    # About 500k distinct values, most repeated, arriving in shuffled batches.
    ints = rng.integers(0, 10**12, size=500_000)
    ints = np.concatenate([ints, rng.choice(ints, size=100_000)])
    rng.shuffle(ints)
    truth = len(np.unique(ints))
    table = pa.table(
        {
            "i": ints,
            "f": ints * 0.5,
            "s": pa.array(ints).cast(pa.string()),
            "t": pa.array(ints, pa.timestamp("us")),
        }
    )

    result = profile(table, batch_rows=65_536)

    for name in ("i", "f", "s", "t"):
        estimate = column(result, name)
        assert estimate["distinct_exact"] is False
        assert estimate["distinct"] == pytest.approx(truth, rel=0.05), name


def test_temporal_min_max_as_iso_strings() -> None:
    stamps = pd.DatetimeIndex(
        [pd.Timestamp("2021-03-04 05:06:07.123456789"), pd.Timestamp("1999-12-31 23:59:59"), pd.NaT]
    )
    table = pa.table(
        {
            "ts": pa.array(stamps, pa.timestamp("ns", tz="UTC")),
            "local": pa.array(
                stamps.floor("s").tz_localize("UTC"), pa.timestamp("s", tz="Europe/Paris")
            ),
            "day": pa.array([dt.date(2020, 2, 29), None, dt.date(1970, 1, 1)]),
            "clock": pa.array([None, 3_723_000_000_005, 5], pa.time64("ns")),
            "wait": pa.array([-1_500, 90_061_001, None], pa.duration("ms")),
        }
    )

    result = profile(table, batch_rows=1)

    ts = column(result, "ts")
    assert ts["kind"] == "temporal"
    assert (ts["nulls"], ts["count"], ts["distinct"]) == (1, 2, 2)
    assert ts["min"] == "1999-12-31T23:59:59+00:00"
    assert ts["max"] == pd.Timestamp("2021-03-04 05:06:07.123456789", tz="UTC").isoformat()
    assert column(result, "local")["max"] == "2021-03-04T06:06:07+01:00"
    assert (column(result, "day")["min"], column(result, "day")["max"]) == (
        "1970-01-01",
        "2020-02-29",
    )
    clock = column(result, "clock")
    assert (clock["min"], clock["max"]) == ("00:00:00.000000005", "01:02:03.000000005")
    wait = column(result, "wait")
    assert (wait["min"], wait["max"]) == ("-P0DT0H0M1.5S", "P1DT1H1M1.001S")
    assert "histogram" not in ts
    assert builder_histograms(table) == []


def builder_histograms(table: pa.Table) -> list[str]:
    """histogram_columns() after a first pass over ``table``."""
    builder = ProfileBuilder(table.schema)
    for batch in table.to_batches():
        builder.update(batch)
    return builder.histogram_columns()


def test_decimals_are_numbers() -> None:
    values = pa.array([Decimal("1.10"), None, Decimal("2.25"), Decimal("2.25"), Decimal("-3.00")])
    d = column(profile(pa.table({"d": values}), batch_rows=2, bins=2), "d")

    assert d["kind"] == "number"
    assert (d["min"], d["max"], d["distinct"]) == (-3.0, 2.25, 3)
    assert d["mean"] == pytest.approx(0.65)
    assert d["histogram"]["counts"] == [1, 3]


def test_other_kinds_report_counts_only() -> None:
    table = pa.table(
        {
            "list": pa.array([[1, 2], None, []]),
            "struct": pa.array([{"a": 1}, {"a": 2}, None]),
            "bytes": pa.array([b"x", None, None]),
            "interval": pa.array([None, None, pa.MonthDayNano([1, 2, 3])]),
        }
    )
    result = profile(table, batch_rows=2)

    assert result["columns"] == [
        {"name": "list", "type": "list<item: int64>", "kind": "other", "nulls": 1, "count": 2},
        {"name": "struct", "type": "struct<a: int64>", "kind": "other", "nulls": 1, "count": 2},
        {"name": "bytes", "type": "binary", "kind": "other", "nulls": 2, "count": 1},
        {
            "name": "interval",
            "type": "month_day_nano_interval",
            "kind": "other",
            "nulls": 2,
            "count": 1,
        },
    ]


def test_profile_is_json_serialisable() -> None:
    iris = load_iris(as_frame=True).frame
    table = pa.Table.from_pandas(iris, preserve_index=False).append_column(
        "species", pa.array(load_iris().target_names[iris["target"]])
    )
    table = table.append_column("when", pa.array(np.arange(len(iris), dtype=np.int32), pa.date32()))
    table = table.append_column("odd", pa.array([np.nan, np.inf] * (len(iris) // 2)))

    result = profile(table, batch_rows=16)

    json.dumps(result, allow_nan=False)
    assert_json_plain(result)
    assert column(result, "target")["min"] == 0
    assert column(result, "species")["top"][0]["count"] == 50


def test_empty_streams() -> None:
    schema = pa.schema(
        {"x": pa.float64(), "s": pa.string(), "t": pa.date32(), "l": pa.list_(pa.int8())}
    )
    empty = ProfileBuilder(schema)
    assert empty.histogram_columns() == []
    no_batches = empty.finish()

    zero_rows = ProfileBuilder(schema)
    zero_rows.update(pa.RecordBatch.from_pylist([], schema=schema))
    assert zero_rows.finish() == no_batches

    assert no_batches["rows"] == 0
    x, s, t, lists = no_batches["columns"]
    assert (x["count"], x["nulls"], x["distinct"], x["mean"], x["histogram"]) == (
        0,
        0,
        0,
        None,
        None,
    )
    assert (s["top"], s["max_length"]) == ([], None)
    assert t["max"] is None
    assert lists == {
        "name": "l",
        "type": "list<item: int8>",
        "kind": "other",
        "nulls": 0,
        "count": 0,
    }
    json.dumps(no_batches, allow_nan=False)


def test_misuse_is_reported() -> None:
    table = pa.table({"x": [1.0, 2.0], "s": ["a", "b"]})
    with pytest.raises(InvalidInput):
        ProfileBuilder(table.schema, top_k=0)
    with pytest.raises(InvalidInput):
        ProfileBuilder(table.schema, bins=0)

    builder = ProfileBuilder(table.schema)
    with pytest.raises(InvalidData):
        builder.update(table.select(["s"]).to_batches()[0])
    builder.update(table.to_batches()[0])
    with pytest.raises(InvalidData):
        builder.update_histograms(table.select(["s"]).to_batches()[0])
    builder.update_histograms(table.select(["x"]).to_batches()[0])
    with pytest.raises(LeptonLabError):
        builder.update(table.to_batches()[0])
    assert column(builder.finish(), "x")["histogram"]["counts"] == [1] + [0] * 8 + [1]
