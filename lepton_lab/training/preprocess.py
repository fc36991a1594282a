"""Preprocessing built from a frame's column types, fitted inside the model's pipeline.

Everything a model needs to go from raw rows to numbers lives in one scikit-learn step
placed before the model, so that a fitted pipeline predicts from the same raw rows it was
trained on (the same column names, missing values and all):

============  ===========================================================================
kind          columns and what is done to them
============  ===========================================================================
numeric       numbers (not booleans): median imputation, then standard scaling
categorical   booleans, pandas categories, and short strings: most-frequent imputation,
              then one-hot encoding (unknown categories at prediction give all zeros;
              at most :data:`MAX_CATEGORIES` columns per feature, rarer values pooled)
text          free-text strings: missing -> "", then TF-IDF per column (at most
              :data:`MAX_TEXT_FEATURES` terms, so a neural network's input stays small)
dropped       dates, durations and columns with no values at all (listed in the plan)
============  ===========================================================================

**Text or category?**  A string column is *text* when its values read like sentences:
at least :data:`TEXT_MIN_WORDS` words on average **and** mostly distinct (more than
:data:`TEXT_MIN_DISTINCT` of the non-missing values differ).  Short labels ("red",
"retail", "setosa") and repeated phrases are categories; a one-hot column per distinct
sentence would be useless, and TF-IDF over single words of a label adds nothing.

**One step or a column transformer?**  Mixed columns need a ``ColumnTransformer`` routing
each kind to its own treatment.  When every feature is a number (nothing categorical,
textual or dropped), the step is the numeric treatment itself,
``make_pipeline(SimpleImputer(strategy="median"), StandardScaler())``: the same numbers
in the same column order, so the very same model, without the column transformer's fixed
cost of about 2 ms per fit (selecting the columns by name, running its block through
joblib, stacking the result), a fifth of a small fit (docs/training.md, "Overhead").
It takes the feature columns in their training order; the column transformer also
ignored extra columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from lepton_lab.errors import InvalidInput

__all__ = [
    "MAX_CATEGORIES",
    "MAX_TEXT_FEATURES",
    "TEXT_MIN_DISTINCT",
    "TEXT_MIN_WORDS",
    "ColumnPlan",
    "build_column_transformer",
    "build_preprocessor",
    "plan_columns",
]

TEXT_MIN_WORDS = 3.0
"""Mean words per value from which a string column may be free text."""
TEXT_MIN_DISTINCT = 0.5
"""Share of distinct values above which a wordy string column is free text."""
MAX_CATEGORIES = 50
"""One-hot columns per categorical feature at most; rarer values share one column."""
MAX_TEXT_FEATURES = 2000
"""TF-IDF terms per text column at most."""


@dataclass(frozen=True)
class ColumnPlan:
    """Which feature columns are treated how, and why some were left out."""

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    """Column -> why it is not used."""

    @property
    def numeric_only(self) -> bool:
        """Whether every feature is a number used as such: nothing categorical, textual or
        dropped, and every name a string (so the fitted steps know the column names)."""
        return (
            bool(self.numeric)
            and not (self.categorical or self.text or self.dropped)
            and all(isinstance(name, str) for name in self.numeric)
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form (kept in a result's spec)."""
        return {
            "numeric": list(self.numeric),
            "categorical": list(self.categorical),
            "text": list(self.text),
            "dropped": dict(self.dropped),
        }


def _is_text(values: pd.Series) -> bool:
    present = values.dropna().astype(str)
    if present.empty:
        return False
    words = present.str.count(r"\S+").mean()
    distinct = present.nunique() / len(present)
    return bool(words >= TEXT_MIN_WORDS and distinct > TEXT_MIN_DISTINCT)


def _kind(values: pd.Series) -> tuple[str, str]:
    """(kind, reason) for one column."""
    dtype = values.dtype
    if values.isna().all():
        return "dropped", "no values"
    if pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return "categorical", ""
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric", ""
    if pd.api.types.is_datetime64_any_dtype(dtype) or pd.api.types.is_timedelta64_dtype(dtype):
        return "dropped", f"{dtype} columns are not used yet; derive numeric features from them"
    if _is_text(values):
        return "text", ""
    return "categorical", ""


def plan_columns(frame: pd.DataFrame, features: Iterable[str]) -> ColumnPlan:
    """Sort ``features`` of ``frame`` into numeric, categorical, text and dropped."""
    plan = ColumnPlan()
    for name in features:
        kind, reason = _kind(frame[name])
        if kind == "dropped":
            plan.dropped[name] = reason
        else:
            getattr(plan, kind).append(name)
    return plan


def as_categories(values: Any) -> pd.DataFrame:
    """Categorical columns as objects, every kind of missing value as NaN.

    Raw rows at prediction may say ``None`` where training saw NaN; the imputer only
    recognises one of them.
    """
    frame = pd.DataFrame(values).astype(object)
    return frame.where(frame.notna(), np.nan)


def as_text(values: Any) -> np.ndarray[Any, Any]:
    """One text column as strings, missing values as empty text."""
    series = pd.Series(np.asarray(values, dtype=object).ravel())
    return np.asarray(series.where(series.notna(), "").astype(str), dtype=object)


def _categorical() -> Pipeline:
    return make_pipeline(
        FunctionTransformer(as_categories, feature_names_out="one-to-one"),
        SimpleImputer(strategy="most_frequent"),
        OneHotEncoder(handle_unknown="ignore", max_categories=MAX_CATEGORIES),
    )


def _text() -> Pipeline:
    return make_pipeline(
        FunctionTransformer(as_text), TfidfVectorizer(max_features=MAX_TEXT_FEATURES)
    )


def _numeric() -> Pipeline:
    return make_pipeline(SimpleImputer(strategy="median"), StandardScaler())


def build_preprocessor(plan: ColumnPlan) -> Pipeline | ColumnTransformer:
    """The (unfitted) preprocessing step for ``plan``.

    When every feature is a number (:attr:`ColumnPlan.numeric_only`), the numeric
    treatment alone: ``make_pipeline(SimpleImputer(strategy="median"), StandardScaler())``,
    which gives the very numbers :func:`build_column_transformer` would, in the same order,
    without the column transformer's fixed cost per fit.  It takes the feature columns in
    their training order (``frame[features]``, as :meth:`TrainResult.predict` passes
    them).  Otherwise the column transformer.
    """
    if plan.numeric_only:
        return _numeric()
    return build_column_transformer(plan)


def build_column_transformer(plan: ColumnPlan) -> ColumnTransformer:
    """The (unfitted) column transformer for ``plan``; columns not in it are dropped."""
    steps: list[tuple[str, Any, Any]] = []
    if plan.numeric:
        steps.append(("numeric", _numeric(), list(plan.numeric)))
    if plan.categorical:
        steps.append(("categorical", _categorical(), list(plan.categorical)))
    # TfidfVectorizer wants one column of strings: a scalar column name gives it that.
    steps.extend((f"text_{i}", _text(), name) for i, name in enumerate(plan.text))
    if not steps:
        why = ", ".join(f"{name} ({reason})" for name, reason in plan.dropped.items())
        raise InvalidInput(f"no usable feature columns: {why or 'none given'}")
    return ColumnTransformer(steps, remainder="drop", sparse_threshold=0.3)
