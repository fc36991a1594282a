"""Streaming column profiles over record batches, in memory bounded regardless of row count.

A dataset bigger than memory is read as a stream of ``pyarrow.RecordBatch`` objects and
profiled in two passes::

    builder = ProfileBuilder(schema)
    for batch in read_batches():                      # first pass
        builder.update(batch)
    if builder.histogram_columns():
        for batch in read_batches(columns=builder.histogram_columns()):  # second pass
            builder.update_histograms(batch)
    profile = builder.finish()                        # JSON-ready dict

The second pass exists because fixed-width histogram bins need the final minimum and maximum.
Everything else is accumulated in the first pass by small mergeable summaries, one per
statistic: :class:`NumericStats`, :class:`Histogram`, :class:`DistinctSketch`,
:class:`TopValues` and :class:`LengthStats`.  Each batch is reduced with vectorised
pyarrow/numpy calls; no Python code runs per row.
"""

from __future__ import annotations

import math
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lepton_lab.errors import InvalidData, InvalidInput, LeptonLabError

__all__ = [
    "DistinctSketch",
    "Histogram",
    "Kind",
    "LengthStats",
    "NumericStats",
    "ProfileBuilder",
    "TopValues",
    "column_kind",
]

Kind = Literal["number", "string", "boolean", "temporal", "other"]

FloatArray = npt.NDArray[np.float64]
HashArray = npt.NDArray[np.uint64]

#: Hashes kept by the KMV sketch: relative error about 1/sqrt(k) = 1.6 %, 32 KiB per column.
SKETCH_SIZE: Final = 4096
#: Candidates the top-values summary keeps per reported top value.
TOP_CAPACITY_FACTOR: Final = 64

_HASH_SPACE: Final = 2.0**64
_UNITS_PER_SECOND: Final = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


# --------------------------------------------------------------------------------------------
# Types


def _value_type(arrow_type: pa.DataType) -> pa.DataType:
    """The type a column is profiled as: dictionaries by their values, string views as strings.

    string_view is widened to large_string because several compute kernels the summaries
    rely on (``index_in``) have no string_view kernel.
    """
    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if pa.types.is_string_view(arrow_type):
        return pa.large_string()
    return arrow_type


def column_kind(arrow_type: pa.DataType) -> Kind:
    """Classify an arrow type as number, string, boolean, temporal or other."""
    value_type = _value_type(arrow_type)
    if (
        pa.types.is_integer(value_type)
        or pa.types.is_floating(value_type)
        or pa.types.is_decimal(value_type)
    ):
        return "number"
    if pa.types.is_string(value_type) or pa.types.is_large_string(value_type):
        return "string"
    if pa.types.is_boolean(value_type):
        return "boolean"
    # Not pa.types.is_temporal: that includes intervals, which have no single integer tick.
    if (
        pa.types.is_timestamp(value_type)
        or pa.types.is_date(value_type)
        or pa.types.is_time(value_type)
        or pa.types.is_duration(value_type)
    ):
        return "temporal"
    return "other"


def _normalise(array: pa.Array, value_type: pa.DataType) -> pa.Array:
    """Decode dictionaries and widen string views so one code path handles each kind."""
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if not array.type.equals(value_type):
        array = array.cast(value_type)
    return array


def _json_float(value: float) -> float | None:
    """A float JSON can carry: NaN and infinities become None."""
    return float(value) if math.isfinite(value) else None


def _sorted_unique(values: HashArray) -> HashArray:
    """Sorted distinct hashes.

    np.unique is not used: for large uint64 arrays its hash-table path is many times slower
    than sorting (numpy 2.4).
    """
    ordered = np.sort(values)
    keep = np.empty(ordered.size, dtype=bool)
    keep[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def _hash(values: npt.NDArray[Any]) -> HashArray:
    """Stable 64-bit hashes (pandas: SipHash for objects, a splitmix finaliser for numbers)."""
    # categorize=False: callers pass distinct values, or batches where factorizing first
    # would cost more than hashing every value.
    return np.asarray(pd.util.hash_array(values, categorize=False), dtype=np.uint64)


# --------------------------------------------------------------------------------------------
# Accumulators


class NumericStats:
    """Count, mean, sum of squared deviations, min and max of finite values.

    Each batch is reduced with numpy, then merged with Chan et al.'s parallel update, which
    stays accurate where the textbook sum-of-squares formula cancels catastrophically
    (large mean, small spread).
    """

    def __init__(self) -> None:
        self.count = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.min: int | float | None = None
        self.max: int | float | None = None

    def update(self, values: npt.NDArray[Any]) -> None:
        """Add finite values (ints keep their dtype so min/max stay exact)."""
        n = int(values.size)
        if n == 0:
            return
        batch_min, batch_max = values.min().item(), values.max().item()
        self.min = batch_min if self.min is None else min(self.min, batch_min)
        self.max = batch_max if self.max is None else max(self.max, batch_max)
        as_float = values.astype(np.float64, copy=False)
        batch_mean = float(as_float.mean())
        batch_m2 = float(np.square(as_float - batch_mean).sum())
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean += delta * n / total
        self.m2 += batch_m2 + delta * delta * self.count * n / total
        self.count = total

    @property
    def std(self) -> float | None:
        """Sample standard deviation (ddof=1); None below two values."""
        if self.count < 2:
            return None
        return math.sqrt(self.m2 / (self.count - 1)) if math.isfinite(self.m2) else None

    def to_dict(self) -> dict[str, Any]:
        """min, max, mean and std, None where undefined."""
        return {
            "min": self.min,
            "max": self.max,
            "mean": _json_float(self.mean) if self.count else None,
            "std": self.std,
        }


class Histogram:
    """Exact counts in equal-width bins between a known minimum and maximum.

    Bins are ``[edge[i], edge[i + 1])`` except the last, which also holds the maximum, the
    same convention as ``numpy.histogram``.  When minimum and maximum are equal there is no
    width to divide, so the histogram is one bin with edges ``[v, v]`` holding every value.
    """

    def __init__(self, low: float, high: float, bins: int) -> None:
        self.low = low
        self.high = high
        self.bins = 1 if low == high else bins
        self.counts = np.zeros(self.bins, dtype=np.int64)
        self.edges = self._edges()

    def _edges(self) -> FloatArray:
        if self.bins == 1:
            return np.array([self.low, self.high], dtype=np.float64)
        # Interpolating instead of low + i * (high - low) / bins: high - low overflows to inf
        # when the range spans most of the float64 line.
        fraction = np.arange(self.bins + 1, dtype=np.float64) / self.bins
        edges = self.low * (1.0 - fraction) + self.high * fraction
        edges[0], edges[-1] = self.low, self.high
        return edges

    def update(self, values: FloatArray) -> None:
        """Count finite float64 values; values outside [low, high] are ignored."""
        values = values[(values >= self.low) & (values <= self.high)]
        if self.bins == 1:
            self.counts[0] += values.size
            return
        # Halving both sides first keeps the differences finite for extreme ranges.
        position = (values * 0.5 - self.low * 0.5) / (self.high * 0.5 - self.low * 0.5)
        index = np.clip((position * self.bins).astype(np.int64), 0, self.bins - 1)
        # Rounding can put a value next to an edge into the neighbouring bin; one comparison
        # against the reported edges puts it back, so counts agree with the edges exactly.
        index -= values < self.edges[index]
        index += (values >= self.edges[index + 1]) & (index != self.bins - 1)
        self.counts += np.bincount(index, minlength=self.bins)

    def to_dict(self) -> dict[str, Any]:
        """{"edges": [...], "counts": [...]} as plain floats and ints."""
        return {"edges": [float(e) for e in self.edges], "counts": [int(c) for c in self.counts]}


class DistinctSketch:
    """Distinct count: exact while small, then a k-minimum-values (KMV) estimate.

    Keeps the ``k`` smallest distinct 64-bit hashes seen.  While fewer than ``k`` distinct
    hashes exist the set holds every value's hash and the count is exact (up to 64-bit
    collisions); afterwards the k-th smallest hash ``h`` estimates the count as
    ``(k - 1) / (h / 2**64)`` with relative standard error about ``1 / sqrt(k)``.
    """

    def __init__(self, k: int = SKETCH_SIZE) -> None:
        self.k = k
        self.hashes: HashArray = np.empty(0, dtype=np.uint64)

    @property
    def full(self) -> bool:
        """Whether the sketch has switched from exact counting to estimating."""
        return int(self.hashes.size) >= self.k

    def update(self, hashes: HashArray) -> None:
        """Add hashes (duplicates allowed)."""
        if self.full:
            # Hashes above the current k-th smallest can never enter: drop them before sorting.
            hashes = hashes[hashes < self.hashes[-1]]
        elif hashes.size > self.k:
            hashes = self._smallest(hashes)
        if hashes.size:
            self.hashes = _sorted_unique(np.concatenate([self.hashes, hashes]))[: self.k]

    def _smallest(self, hashes: HashArray) -> HashArray:
        """The k smallest distinct hashes of a large batch, without sorting all of it."""
        # Partitioning is O(n); only hashes up to the k-th smallest can enter the sketch.
        cut = np.partition(hashes, self.k - 1)[self.k - 1]
        smallest = _sorted_unique(hashes[hashes <= cut])
        if smallest.size < self.k:
            # Duplicates below the cut: fewer than k distinct survived, so look at them all.
            return _sorted_unique(hashes)
        return smallest

    @property
    def exact(self) -> bool:
        """True while the count is exact."""
        return not self.full

    def estimate(self) -> int:
        """The distinct count, exact or estimated."""
        if not self.full:
            return int(self.hashes.size)
        kth = (float(self.hashes[-1]) + 1.0) / _HASH_SPACE
        return round((self.k - 1) / kth)


class TopValues:
    """Most frequent values, in bounded memory.

    A frequent-items summary of the Misra-Gries family, holding at most ``capacity``
    (value, count) pairs: each batch's exact ``value_counts`` is added to the pairs held,
    then only the ``capacity`` largest counts are kept.  Counts are exact while the column
    has at most ``capacity`` distinct values; after an eviction they can only be
    underestimates (a value evicted and seen again counts from then on).  Evicting instead
    of Misra-Gries' decrement-all keeps heavy hitters, which are never evicted, exact; and
    unlike space-saving's inherited counts it never reports a long tail of unique values
    with inflated counts.
    """

    def __init__(self, value_type: pa.DataType, capacity: int) -> None:
        self.capacity = capacity
        self.values: pa.Array = pa.array([], type=value_type)
        self.counts: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self.evicted = False

    def update(self, values: pa.Array, counts: npt.NDArray[np.int64]) -> None:
        """Merge one batch's distinct non-null values and their counts."""
        if len(values) == 0:
            return
        position = pc.index_in(values, value_set=self.values)
        known = pc.is_valid(position)
        merged = self.counts.copy()
        # Values within one batch are distinct, so positions never repeat: plain += is safe.
        merged[position.filter(known).to_numpy()] += counts[known.to_numpy(zero_copy_only=False)]
        unknown = pc.invert(known)
        all_values = pa.concat_arrays([self.values, values.filter(unknown)])
        all_counts = np.concatenate([merged, counts[unknown.to_numpy(zero_copy_only=False)]])
        if all_counts.size > self.capacity:
            keep = np.argpartition(-all_counts, self.capacity - 1)[: self.capacity]
            all_values, all_counts = all_values.take(pa.array(keep)), all_counts[keep]
            self.evicted = True
        self.values, self.counts = all_values, all_counts

    def top(self, k: int) -> list[dict[str, Any]]:
        """Up to ``k`` values, most frequent first, ties by value for a stable order."""
        table = pa.table({"value": self.values, "count": pa.array(self.counts)})
        ranked = table.sort_by([("count", "descending"), ("value", "ascending")]).slice(0, k)
        rows: list[dict[str, Any]] = ranked.to_pylist()
        return rows


class LengthStats:
    """Minimum, maximum and mean string length in characters."""

    def __init__(self) -> None:
        self.count = 0
        self.total = 0
        self.min: int | None = None
        self.max: int | None = None

    def update(self, strings: pa.Array) -> None:
        """Add the lengths of non-null strings."""
        lengths = pc.utf8_length(strings)
        bounds = pc.min_max(lengths).as_py()
        if bounds["min"] is None:
            return
        self.min = bounds["min"] if self.min is None else min(self.min, bounds["min"])
        self.max = bounds["max"] if self.max is None else max(self.max, bounds["max"])
        self.total += int(pc.sum(lengths).as_py())
        self.count += len(strings) - strings.null_count

    def to_dict(self) -> dict[str, Any]:
        """min_length, max_length, mean_length (None without strings)."""
        return {
            "min_length": self.min,
            "max_length": self.max,
            "mean_length": self.total / self.count if self.count else None,
        }


# --------------------------------------------------------------------------------------------
# Column profilers: one per kind, each combining the accumulators it needs.


class _Column:
    """Null and non-null counts; the profile of columns of kind "other"."""

    def __init__(self, index: int, field: pa.Field, kind: Kind) -> None:
        self.index = index
        self.name: str = field.name
        self.type = field.type
        self.value_type = _value_type(field.type)
        self.kind = kind
        self.nulls = 0
        self.count = 0

    def update(self, array: pa.Array) -> None:
        """Add one batch's column."""
        array = _normalise(array, self.value_type)
        extra_nulls = self.observe(array)
        self.nulls += array.null_count + extra_nulls
        self.count += len(array) - array.null_count - extra_nulls

    def observe(self, array: pa.Array) -> int:
        """Feed the kind's accumulators; returns non-null values that count as null (NaN)."""
        return 0

    def finish(self) -> dict[str, Any]:
        """The column profile."""
        return {
            "name": self.name,
            "type": str(self.type),
            "kind": self.kind,
            "nulls": self.nulls,
            "count": self.count,
        }


class _NumberColumn(_Column):
    """Integers, floats and decimals: stats, distinct count and a second-pass histogram."""

    def __init__(self, index: int, field: pa.Field, bins: int) -> None:
        super().__init__(index, field, "number")
        self.bins = bins
        self.stats = NumericStats()
        self.distinct = DistinctSketch()
        self.histogram: Histogram | None = None

    def _values(self, array: pa.Array) -> npt.NDArray[Any]:
        """Non-null values as numpy; decimals as float64 since numpy has no decimal type."""
        present = array.drop_null()
        if pa.types.is_decimal(present.type):
            present = present.cast(pa.float64())
        values: npt.NDArray[Any] = present.to_numpy(zero_copy_only=False)
        if pa.types.is_floating(present.type):
            values = values.astype(np.float64, copy=False)
        return values

    def observe(self, array: pa.Array) -> int:
        values = self._values(array)
        nan_count = 0
        if values.dtype.kind == "f":
            # NaN is reported as null; infinities are values (counted, distinct) but not stats.
            values = values[~np.isnan(values)]
            nan_count = len(array) - array.null_count - int(values.size)
        self.distinct.update(self._distinct_hashes(array, values))
        self.stats.update(values[np.isfinite(values)] if values.dtype.kind == "f" else values)
        return nan_count

    def _distinct_hashes(self, array: pa.Array, values: npt.NDArray[Any]) -> HashArray:
        """Hashes of the batch's non-null, non-NaN values (each at least once)."""
        if pa.types.is_decimal(array.type):
            # Hashing the exact text, not a float64 that could merge nearby decimals.
            distinct = pc.unique(array.drop_null()).cast(pa.string())
            return _hash(distinct.to_numpy(zero_copy_only=False))
        if not self.distinct.full:
            # Deduplicating first keeps low-cardinality columns cheap to hash and sketch.
            values = pc.unique(pa.array(values)).to_numpy(zero_copy_only=False)
        # Once the sketch is full nearly every hash is filtered out, so hashing all values
        # beats building a hash table of them.  + 0.0 makes -0.0 and 0.0 hash alike.
        return _hash(values + 0.0 if values.dtype.kind == "f" else values)

    def needs_histogram(self) -> bool:
        """Whether any finite value exists to bin."""
        return self.stats.count > 0

    def update_histogram(self, array: pa.Array) -> None:
        """Second pass: bin the finite values."""
        if self.stats.min is None or self.stats.max is None:
            return  # no finite value: nothing to bin (histogram_columns() leaves it out)
        if self.histogram is None:
            self.histogram = Histogram(float(self.stats.min), float(self.stats.max), self.bins)
        values = self._values(_normalise(array, self.value_type)).astype(np.float64, copy=False)
        self.histogram.update(values[np.isfinite(values)])

    def finish(self) -> dict[str, Any]:
        profile = super().finish()
        profile["distinct"] = min(self.distinct.estimate(), self.count)
        profile["distinct_exact"] = self.distinct.exact
        profile.update(self.stats.to_dict())
        # None when no finite value exists or the second pass was skipped.
        profile["histogram"] = self.histogram.to_dict() if self.histogram else None
        return profile


class _CategoricalColumn(_Column):
    """Strings and booleans: top values and distinct count, plus lengths for strings."""

    def __init__(self, index: int, field: pa.Field, kind: Kind, top_k: int) -> None:
        super().__init__(index, field, kind)
        self.top_k = top_k
        self.top = TopValues(self.value_type, TOP_CAPACITY_FACTOR * top_k)
        self.distinct = DistinctSketch()
        self.lengths = LengthStats() if kind == "string" else None

    def observe(self, array: pa.Array) -> int:
        # value_counts would report null as a value; nulls are counted separately.
        counted = pc.value_counts(array.drop_null())
        values = counted.field("values")
        self.top.update(values, counted.field("counts").to_numpy())
        self.distinct.update(_hash(values.to_numpy(zero_copy_only=False)))
        if self.lengths is not None:
            self.lengths.update(array)
        return 0

    def finish(self) -> dict[str, Any]:
        profile = super().finish()
        profile["distinct"] = min(self.distinct.estimate(), self.count)
        profile["distinct_exact"] = self.distinct.exact
        profile["top"] = self.top.top(self.top_k)
        profile["top_exact"] = not self.top.evicted
        if self.lengths is not None:
            profile.update(self.lengths.to_dict())
        return profile


class _TemporalColumn(_Column):
    """Dates, times, timestamps and durations: ISO min/max and distinct count."""

    def __init__(self, index: int, field: pa.Field) -> None:
        super().__init__(index, field, "temporal")
        self.distinct = DistinctSketch()
        self.min: int | None = None
        self.max: int | None = None
        # Temporal arrays are integers underneath; comparing those avoids object conversion.
        self.storage_type = pa.int32() if self.value_type.bit_width == 32 else pa.int64()

    def observe(self, array: pa.Array) -> int:
        ticks = array.view(self.storage_type)
        bounds = pc.min_max(ticks).as_py()
        if bounds["min"] is not None:
            self.min = bounds["min"] if self.min is None else min(self.min, bounds["min"])
            self.max = bounds["max"] if self.max is None else max(self.max, bounds["max"])
        present = ticks.drop_null()
        # As for numbers: deduplicate only while the sketch still counts exactly.
        distinct = present if self.distinct.full else pc.unique(present)
        self.distinct.update(_hash(distinct.to_numpy(zero_copy_only=False)))
        return 0

    def finish(self) -> dict[str, Any]:
        profile = super().finish()
        profile["distinct"] = min(self.distinct.estimate(), self.count)
        profile["distinct_exact"] = self.distinct.exact
        profile["min"] = None if self.min is None else _iso(self.min, self.value_type)
        profile["max"] = None if self.max is None else _iso(self.max, self.value_type)
        return profile


def _fraction(ticks: int, per_second: int) -> str:
    """'.fff' for sub-second ticks, trailing zeros dropped; '' when whole."""
    if ticks == 0:
        return ""
    digits = len(str(per_second)) - 1
    return "." + f"{ticks:0{digits}d}".rstrip("0")


def _clock(ticks: int, per_second: int) -> tuple[int, int, int, int, str]:
    """Split non-negative ticks into days, hours, minutes, seconds and a fraction."""
    seconds, sub = divmod(ticks, per_second)
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3_600)
    minutes, seconds = divmod(seconds, 60)
    return days, hours, minutes, seconds, _fraction(sub, per_second)


def _iso(ticks: int, arrow_type: pa.DataType) -> str:
    """ISO 8601 text for a temporal value stored as integer ticks."""
    if pa.types.is_duration(arrow_type):
        # Formatted by hand: Python and pandas timedeltas cannot hold every int64 duration.
        days, hours, minutes, seconds, fraction = _clock(
            abs(ticks), _UNITS_PER_SECOND[arrow_type.unit]
        )
        sign = "-" if ticks < 0 else ""
        return f"{sign}P{days}DT{hours}H{minutes}M{seconds}{fraction}S"
    if pa.types.is_time(arrow_type):
        # datetime.time drops nanoseconds, so times are formatted by hand too.
        _, hours, minutes, seconds, fraction = _clock(ticks, _UNITS_PER_SECOND[arrow_type.unit])
        return f"{hours:02d}:{minutes:02d}:{seconds:02d}{fraction}"
    storage = pa.int32() if arrow_type.bit_width == 32 else pa.int64()
    scalar = pa.array([ticks], type=storage).view(arrow_type)[0]
    try:
        # datetime.date / datetime.datetime, or pandas.Timestamp for nanosecond timestamps.
        return str(scalar.as_py().isoformat())
    except (ValueError, OverflowError):
        # Beyond what Python's datetime holds (years past 9999): arrow's own rendering.
        return str(scalar.cast(pa.string()).as_py())


def _make_column(index: int, field: pa.Field, top_k: int, bins: int) -> _Column:
    kind = column_kind(field.type)
    if kind == "number":
        return _NumberColumn(index, field, bins)
    if kind in ("string", "boolean"):
        return _CategoricalColumn(index, field, kind, top_k)
    if kind == "temporal":
        return _TemporalColumn(index, field)
    return _Column(index, field, kind)


# --------------------------------------------------------------------------------------------
# Public entry point


class ProfileBuilder:
    """Builds a column profile over a stream of record batches in bounded memory.

    Memory per column is bounded by the sketch sizes (``SKETCH_SIZE`` hashes,
    ``64 * top_k`` top-value candidates, ``bins`` counters), never by the row count.
    """

    def __init__(self, schema: pa.Schema, *, top_k: int = 10, bins: int = 10) -> None:
        if top_k < 1:
            raise InvalidInput(f"top_k must be at least 1, not {top_k}")
        if bins < 1:
            raise InvalidInput(f"bins must be at least 1, not {bins}")
        self.schema = schema
        self.rows = 0
        self._columns = [
            _make_column(index, field, top_k, bins) for index, field in enumerate(schema)
        ]
        self._second_pass = False

    def update(self, batch: pa.RecordBatch) -> None:
        """First pass: counts, nulls, distinct sketch, min/max/mean/std, top values."""
        if self._second_pass:
            raise LeptonLabError("update() called after update_histograms() began")
        # Resolve every array before touching any state, so a bad batch changes nothing.
        arrays = [self._column(batch, column.index) for column in self._columns]
        for column, array in zip(self._columns, arrays, strict=True):
            column.update(array)
        self.rows += batch.num_rows

    def histogram_columns(self) -> list[str]:
        """Names of numeric columns (with at least one non-null finite value) that need the
        second pass."""
        return [column.name for column in self._histogram_targets()]

    def update_histograms(self, batch: pa.RecordBatch) -> None:
        """Second pass (called after all update() calls, on batches holding at least
        histogram_columns()): fills the fixed bins between the min and max found in the first
        pass.

        Before any call, numeric profiles report ``"histogram": None``.
        """
        self._second_pass = True
        targets = self._histogram_targets()
        # Resolve every array before touching any state, so a bad batch changes nothing.
        arrays = [self._column(batch, column.index) for column in targets]
        for column, array in zip(targets, arrays, strict=True):
            column.update_histogram(array)

    def finish(self) -> dict[str, Any]:
        """JSON-serialisable profile: {"rows": int, "columns": [column profile, ...]} in schema
        order.  Builder state is not changed, so finish() may be called more than once."""
        return {"rows": self.rows, "columns": [column.finish() for column in self._columns]}

    def _histogram_targets(self) -> list[_NumberColumn]:
        return [c for c in self._columns if isinstance(c, _NumberColumn) and c.needs_histogram()]

    def _column(self, batch: pa.RecordBatch, index: int) -> pa.Array:
        """The batch's array for schema field ``index``, found by position or else by name."""
        field = self.schema.field(index)
        if index < batch.num_columns and batch.schema.field(index).name == field.name:
            array = batch.column(index)
        else:
            # The second pass may read only some columns, so positions need not match.
            found = batch.schema.get_field_index(field.name)
            if found < 0:
                raise InvalidData(f"batch has no single column named {field.name!r}")
            array = batch.column(found)
        if array.type.equals(field.type):
            return array
        try:
            return array.cast(field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            raise InvalidData(
                f"column {field.name!r} is {array.type}, expected {field.type}: {error}"
            ) from error
