"""A gallery model ready to use, and the input signature that checks rows before it.

A **signature** says what a model takes and gives::

    {"inputs": [{"name": "age", "dtype": "number"}, {"name": "sector", "dtype": "category"}],
     "output": {"kind": "class", "classes": [0, 1]}}      # or {"kind": "value"}

Input kinds are those of training's preprocessing (:mod:`lepton_lab.training.preprocess`):
``number``, ``category``, ``text``, or ``any`` when it is not known.  :meth:`LoadedModel.check`
holds rows to it before the model sees them, so that a bad row is a clear ``InvalidInput``
(a 400 on the server), never an error from deep inside scikit-learn: a missing column, text
where a number belongs, a list or object where a value belongs, and a number that is not
finite or too large for a float (``Infinity``, ``NaN``, ``1e999``, an integer beyond any
float).  A missing value is ``None`` (JSON's ``null``) in records, ``NaN`` in a DataFrame.
"""

from __future__ import annotations

import html
import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.feature_selection import VarianceThreshold
from sklearn.impute import KNNImputer, SimpleImputer
from sklearn.preprocessing import (
    KBinsDiscretizer,
    MaxAbsScaler,
    MinMaxScaler,
    Normalizer,
    PolynomialFeatures,
    PowerTransformer,
    QuantileTransformer,
    RobustScaler,
    SplineTransformer,
    StandardScaler,
)

from lepton_lab.errors import InvalidInput
from lepton_lab.gallery.candidate import json_safe
from lepton_lab.training.preprocess import plan_columns

__all__ = ["KINDS", "LoadedModel", "signature_of"]

KINDS = ("number", "category", "text", "any")
"""The input kinds a signature names."""

Rows = pd.DataFrame | list[dict[str, Any]] | dict[str, Any]
"""Rows for a model: a DataFrame, JSON records, or one record."""

_NUMERIC_STEPS = (
    *(StandardScaler, MinMaxScaler, RobustScaler, MaxAbsScaler, Normalizer),
    *(PolynomialFeatures, SplineTransformer, PowerTransformer, QuantileTransformer),
    *(KBinsDiscretizer, KNNImputer, PCA, TruncatedSVD, VarianceThreshold),
)
"""First steps of a pipeline that take numbers only: the columns they see are numbers."""


class LoadedModel:
    """A gallery model ready to use: ``model.predict(df)``, ``model.predict_proba(df)``.

    Rows are checked against the signature first (:meth:`check`).  The wrapped ``model`` is
    shared with every other load of the same version in this process: predict, never refit.
    """

    def __init__(
        self, model: Any, *, ref: str, task: str, signature: dict[str, Any], info: Any = None
    ) -> None:
        self.model = model
        self.ref = ref
        """The pinned reference, ``team/name@version``."""
        self.task = task
        self.signature = signature
        self.info = info
        """The version's description (``ModelVersionInfo``), when the registry gave it."""

    @property
    def features(self) -> list[str]:
        """The input columns, in the order the model takes them."""
        return [str(spec["name"]) for spec in self.signature.get("inputs", [])]

    @property
    def classes(self) -> list[Any]:
        """The class labels in ``predict_proba``'s column order (``[]`` for regression)."""
        classes = getattr(self.model, "classes_", None)
        if classes is not None:
            return _plain_list(classes)
        return list(self.signature.get("output", {}).get("classes", []))

    def check(self, rows: Rows) -> pd.DataFrame:
        """``rows`` as the model takes them: its columns in its order (others dropped),
        numbers parsed from text; ``InvalidInput`` naming what is missing or wrong."""
        kinds = self._kinds()
        if not isinstance(rows, pd.DataFrame):
            numbers = _number_records([rows] if isinstance(rows, dict) else rows, kinds)
            if numbers is not None:  # the common case, without pandas' reading of records
                return numbers
        frame = _as_frame(rows)
        names = self.features
        missing = [name for name in names if name not in frame.columns]
        if missing:
            raise InvalidInput(
                f"missing column(s) {', '.join(missing)}; the model needs: {', '.join(names)}"
            )
        if frame.empty:
            raise InvalidInput("no rows to predict")
        numeric = _numeric_block(frame, names, kinds, records=not isinstance(rows, pd.DataFrame))
        if numeric is not None:  # the common case, checked as one array
            return numeric
        if isinstance(rows, pd.DataFrame):
            for name in names:
                _check_column(frame[name], name)
        else:  # records: NaN is no missing value there, None is
            _check_records([rows] if isinstance(rows, dict) else rows, names)
        # Built in one go: setting 30 columns one by one on a copy costs more than the
        # model's own predict on a few rows.
        columns = {name: _coerce(frame[name], kind, name) for name, kind in kinds}
        return pd.DataFrame(columns, index=frame.index, copy=False)

    def _kinds(self) -> list[tuple[str, str]]:
        """(column, kind) of each input, in the model's order; a kind the signature left
        ``any`` read off the model when it can be (so that text meant for a model that
        takes numbers is refused here, naming the column, not deep inside it)."""
        inputs = self.signature.get("inputs", [])
        kinds = [(str(spec["name"]), str(spec.get("dtype", "any"))) for spec in inputs]
        if any(kind == "any" for _, kind in kinds):
            known = _kinds_from_model(self.model)
            kinds = [
                (name, known.get(name, "any") if kind == "any" else kind) for name, kind in kinds
            ]
        return kinds

    def predict(self, rows: Rows) -> np.ndarray[Any, Any]:
        """One prediction per row: a class label, or a number for regression."""
        return np.asarray(self.model.predict(self._input(rows)))

    def predict_proba(self, rows: Rows) -> np.ndarray[Any, Any]:
        """Class probabilities, one column per entry of :attr:`classes`."""
        if not hasattr(self.model, "predict_proba"):
            what = "a regression model" if self.task == "regression" else "this classifier"
            raise InvalidInput(
                f"model {self.ref} gives no probabilities ({what} has no predict_proba); "
                "use predict"
            )
        return np.asarray(self.model.predict_proba(self._input(rows)))

    def predict_with_proba(self, rows: Rows) -> tuple[np.ndarray[Any, Any], Any]:
        """Predictions and, when the model gives them, probabilities (else None), with the
        rows checked once for both (the predict endpoint answers with the two)."""
        from sklearn.pipeline import Pipeline

        features, model = self._input(rows), self.model
        if self.task == "regression" or not hasattr(model, "predict_proba"):
            return np.asarray(model.predict(features)), None
        if isinstance(model, Pipeline) and len(model) > 1:
            # What the pipeline does in each of the two calls, done once: its preprocessing
            # costs more than the final estimator on a few rows.
            features, model = model[:-1].transform(features), model[-1]
        return np.asarray(model.predict(features)), np.asarray(model.predict_proba(features))

    def answer(self, rows: Rows) -> dict[str, Any]:
        """What the predict endpoint answers for ``rows``, JSON-ready: ``model`` (this
        version), ``predictions`` and, when the model gives them, ``classes`` and
        ``probabilities`` (one row per row, one column per class)."""
        return self._answer(*self.predict_with_proba(rows))

    def answer_many(self, requests: Sequence[list[dict[str, Any]]]) -> list[Any]:
        """:meth:`answer` for each request's JSON records, in one model call when it gives
        the same answers: every row of every request has the same columns, in the same
        order, with values of the same Python types (so the frame built from them has the
        dtypes each request's own frame would have).  Otherwise, or when the rows are bad,
        each request alone, so that each gets its own answer or error with its own row
        numbers.  Each item is an answer or the exception its request raised."""
        if len(requests) > 1 and _same_shape(requests):
            try:
                predictions, probabilities = self.predict_with_proba(
                    [row for rows in requests for row in rows]
                )
            except Exception:  # some request is bad: each alone finds out which
                pass
            else:
                answers, start = [], 0
                for rows in requests:
                    end = start + len(rows)
                    part = None if probabilities is None else probabilities[start:end]
                    answers.append(self._answer(predictions[start:end], part))
                    start = end
                return answers
        return [self._answer_or_error(rows) for rows in requests]

    def _answer_or_error(self, rows: Rows) -> Any:
        try:
            return self.answer(rows)
        except Exception as exc:  # the request's own error, raised to its caller only
            return exc

    def _answer(self, predictions: np.ndarray[Any, Any], probabilities: Any) -> dict[str, Any]:
        result: dict[str, Any] = {"model": self.ref, "predictions": _json_list(predictions)}
        if probabilities is not None:
            result["classes"] = json_safe(self.classes)
            result["probabilities"] = np.asarray(probabilities, dtype=float).tolist()
        return result

    def _input(self, rows: Rows) -> Any:
        checked = self.check(rows)
        # An estimator fitted on a bare array warns when given named columns.
        return checked if hasattr(self.model, "feature_names_in_") else checked.to_numpy()

    def _repr_html_(self) -> str:
        inputs = ", ".join(
            f"{spec['name']} ({spec.get('dtype', 'any')})"
            for spec in self.signature.get("inputs", [])
        )
        output = self.signature.get("output", {})
        gives = (
            f"one of {len(output.get('classes', []))} classes"
            if output.get("kind") == "class"
            else "a value"
        )
        return (
            f"<b>{html.escape(self.ref)}</b> ({html.escape(self.task)}): takes "
            f"{html.escape(inputs or 'no columns')}; gives {gives} per row"
        )

    def __repr__(self) -> str:
        return f"<LoadedModel {self.ref} {self.task}, {len(self.features)} inputs>"


def signature_of(
    model: Any,
    frame_or_features: pd.DataFrame | list[str] | None,
    features: list[str] | None = None,
) -> dict[str, Any]:
    """The signature of a fitted ``model``: input kinds from a training frame's columns
    (as training's preprocessing sorts them), else from the model's own preprocessing."""
    if isinstance(frame_or_features, pd.DataFrame):
        frame = frame_or_features
        names = features or _fitted_names(model) or [str(c) for c in frame.columns]
        absent = [name for name in names if name not in frame.columns]
        if absent:
            raise InvalidInput(f"the frame lacks feature column(s) {', '.join(absent)}")
        plan = plan_columns(frame, names)
        kinds = _kinds(plan.numeric, plan.categorical, plan.text)
    else:
        names = features or list(frame_or_features or []) or _fitted_names(model)
        kinds = _kinds_from_model(model)
    if not names:
        raise InvalidInput(
            "this model does not know its input columns: fit it on a DataFrame, or name them "
            "with features=[...]"
        )
    inputs = [{"name": name, "dtype": kinds.get(name, "any")} for name in names]
    return {"inputs": inputs, "output": _output(model)}


def _as_frame(rows: Any) -> pd.DataFrame:
    if isinstance(rows, pd.DataFrame):
        return rows
    if isinstance(rows, dict):
        rows = [rows]
    if isinstance(rows, list) and all(isinstance(row, dict) for row in rows):
        return pd.DataFrame.from_records(rows)
    raise InvalidInput(
        f"rows must be a DataFrame or a list of {{column: value}} records, not "
        f"{type(rows).__name__}"
    )


_EXACT = 2**53
"""Integers below this size are floats exactly."""


def _number_records(records: Any, kinds: list[tuple[str, str]]) -> pd.DataFrame | None:
    """Records for a model that takes numbers only, when every value of its columns is a
    finite float or an integer a float holds exactly: one float frame, the model's columns
    in its order, values as the general path would give the model.  None for anything
    else (a missing column or value, text, a bool, a number no float holds): the general
    path reads those and names what is wrong."""
    if not isinstance(records, list) or not records or not kinds:
        return None
    if any(kind != "number" for _, kind in kinds):
        return None
    names = [name for name, _ in kinds]
    try:
        flat = [row[name] for row in records for name in names]
    except (KeyError, TypeError):  # a column missing, or a row that is no record
        return None
    types = set(map(type, flat))
    if not types <= {float, int}:
        return None
    try:
        values = np.array(flat, dtype=float).reshape(len(records), len(names))
    except OverflowError:  # an integer beyond any float
        return None
    if not np.isfinite(values).all():
        return None
    if int in types and not (np.abs(values) < _EXACT).all():
        return None
    return pd.DataFrame(values, columns=names, copy=False)


def _numeric_block(
    frame: pd.DataFrame, names: list[str], kinds: list[tuple[str, str]], *, records: bool
) -> pd.DataFrame | None:
    """The model's columns when all are numbers that need no coercion, checked in one pass;
    None when some column needs the per-column path (which names what is wrong).

    In a frame made from records, None and NaN both read as NaN, but only None is a
    missing value there: such a frame takes this path only when every number is finite.
    """
    if any(kind == "text" for _, kind in kinds):
        return None
    block = frame[names]
    if not all(pd.api.types.is_numeric_dtype(dtype) for dtype in block.dtypes):
        return None
    values = block.to_numpy(dtype=float, na_value=np.nan)
    if np.isfinite(values).all():
        return block
    infinite = np.isinf(values)
    if records or not infinite.any():
        return None if records else block
    row, column = (int(i) for i in np.argwhere(infinite)[0])
    raise _not_finite(names[column], float(values[row, column]), row + 1)


def _check_records(records: list[dict[str, Any]], names: list[str]) -> None:
    """Each value of the model's columns a single value, and any number a finite float."""
    for row, record in enumerate(records, 1):
        for name in names:
            value = record.get(name)
            if value is not None:
                _check_value(value, name, row, nan_is_missing=False)


def _check_column(values: pd.Series, name: str) -> None:
    """As :func:`_check_records`, for a DataFrame's column (where NaN is a missing value)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if pd.api.types.is_float_dtype(values.dtype):
        infinite = np.isinf(values.to_numpy(dtype=float, na_value=np.nan))
        if infinite.any():
            at = int(infinite.argmax())
            _check_value(float(values.iloc[at]), name, at + 1)
    elif values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) != "string":
        for row, value in enumerate(values, 1):
            _check_value(value, name, row)


def _check_value(value: Any, name: str, row: int, *, nan_is_missing: bool = True) -> None:
    """``InvalidInput`` naming the column for a list or object, or a number no float holds."""
    if isinstance(value, list | tuple | dict | set | np.ndarray):
        raise InvalidInput(
            f"column {name!r} holds a list or object in row {row}, not a value: {_short(value)}"
        )
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an integer beyond any float
        finite = False
    missing = nan_is_missing and value != value  # NaN: a DataFrame's missing value
    if not finite and not missing:
        raise _not_finite(name, value, row)


def _not_finite(name: str, value: Any, row: int) -> InvalidInput:
    return InvalidInput(
        f"column {name!r} holds {_short(value)} in row {row}, a number that is not finite "
        "or too large for a float; send null (None) for a missing value"
    )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:20]}…"


def _coerce(values: pd.Series, kind: str, name: str) -> pd.Series:
    """One column as the model's preprocessing expects it; ``InvalidInput`` if it cannot be."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if kind == "number" and not pd.api.types.is_numeric_dtype(values.dtype):
        blank = values.map(lambda v: isinstance(v, str) and not v.strip()).astype(bool)
        parsed = pd.to_numeric(values.where(~blank), errors="coerce")
        bad = values.notna() & ~blank & parsed.isna()
        if bad.any():
            example = values[bad].iloc[0]
            raise InvalidInput(
                f"column {name!r} takes numbers (integers or decimals), but has {example!r}, "
                "which is not a number"
            )
        infinite = np.isinf(parsed.to_numpy(dtype=float, na_value=np.nan))
        if infinite.any():  # "inf", "1e999": text for a number no float holds
            at = int(infinite.argmax())
            raise _not_finite(name, values.iloc[at], at + 1)
        return parsed
    if kind == "text":
        return values.where(values.isna(), values.astype(str))
    return values  # category and any: as given (an unknown category counts as none)


def _fitted_names(model: Any) -> list[str]:
    return [str(name) for name in getattr(model, "feature_names_in_", [])]


def _kinds(numeric: list[str], categorical: list[str], text: list[str]) -> dict[str, str]:
    return (
        dict.fromkeys(numeric, "number")
        | dict.fromkeys(categorical, "category")
        | dict.fromkeys(text, "text")
    )


def _kinds_from_model(model: Any) -> dict[str, str]:
    """Kinds read off a fitted model, from the step that sees the raw rows: training's
    column transformer names its blocks numeric, categorical and text_N; its numeric-only
    step (an imputer by median, a scaler) and a bare estimator take numbers."""
    first = model
    while getattr(first, "steps", None):  # a pipeline's first step sees the raw rows
        first = first.steps[0][1]
    blocks = getattr(first, "transformers_", None)
    if blocks is not None:
        found: dict[str, list[str]] = {"numeric": [], "categorical": [], "text": []}
        for block, _, columns in blocks:
            kind = "text" if str(block).startswith("text_") else str(block)
            if kind in found:
                found[kind] += [columns] if isinstance(columns, str) else list(columns)
        return _kinds(found["numeric"], found["categorical"], found["text"])
    names = _fitted_names(model)
    categorical = getattr(first, "is_categorical_", None)  # histogram gradient boosting
    if first is model and categorical is not None:
        flags = list(categorical)
        return {n: "category" if flags[i] else "number" for i, n in enumerate(names)}
    if first is model or _takes_numbers(first):
        return dict.fromkeys(names, "number")
    return {}  # someone else's preprocessing: kinds unknown


def _takes_numbers(step: Any) -> bool:
    if isinstance(step, SimpleImputer):
        return step.strategy in ("mean", "median")
    return isinstance(step, _NUMERIC_STEPS)


def _output(model: Any) -> dict[str, Any]:
    classes = getattr(model, "classes_", None)
    if classes is None:
        return {"kind": "value"}
    return {"kind": "class", "classes": _plain_list(classes)}


def _same_shape(requests: Sequence[list[dict[str, Any]]]) -> bool:
    """Whether every row has the first row's columns, in its order, with values of the same
    Python types (an int where the first has an int, None where it has None)."""
    first = [(key, type(value)) for key, value in requests[0][0].items()]
    return all(
        [(key, type(value)) for key, value in row.items()] == first
        for rows in requests
        for row in rows
    )


def _json_list(values: np.ndarray[Any, Any]) -> list[Any]:
    """An array as JSON keeps it: numbers and booleans through ``tolist`` (exact), anything
    else (labels held as objects) through a JSON round trip."""
    if values.dtype.kind in "biuf":
        return list(values.tolist())
    return list(json_safe(list(values)))


def _plain_list(values: Any) -> list[Any]:
    """numpy scalars as Python ones, so that the list is JSON-ready."""
    return [v.item() if isinstance(v, np.generic) else v for v in values]
