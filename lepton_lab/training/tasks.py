"""Which kind of learning problem a target column poses: binary, multiclass or regression.

Inference, from the target's values (missing values ignored):

* text, categories or booleans -> classification: ``binary`` with two classes,
  ``multiclass`` with more;
* numbers that are all whole and take at most :data:`MAX_INTEGER_CLASSES` distinct values
  (``0/1``, wine's ``0/1/2``, digits' ``0…9``) -> classification as above;
* any other numbers -> ``regression``.

``task=`` overrides the inference, and is checked against the values: a text target
cannot be a regression, and a binary task needs exactly two classes.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from lepton_lab.errors import InvalidInput

__all__ = ["MAX_INTEGER_CLASSES", "TASKS", "Task", "check_task", "infer_task", "is_classification"]

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[Task, ...] = ("binary", "multiclass", "regression")
MAX_INTEGER_CLASSES = 20
"""Whole-number targets with at most this many distinct values are treated as classes."""


def is_classification(task: Task) -> bool:
    """Binary or multiclass."""
    return task != "regression"


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def infer_task(target: pd.Series) -> Task:
    """The task the target's values suggest (see the module docstring for the rule)."""
    values = target.dropna()
    distinct = values.nunique()
    if distinct < 2:
        raise InvalidInput(
            f"target {target.name!r} has {distinct} distinct value(s); "
            "a model needs at least two classes or a varying number to learn"
        )
    if _is_numeric(values):
        numbers = values.to_numpy(dtype=float)
        whole = bool(np.all(np.isfinite(numbers)) and np.all(numbers == np.round(numbers)))
        if not (whole and distinct <= MAX_INTEGER_CLASSES):
            return "regression"
    return "binary" if distinct == 2 else "multiclass"


def check_task(target: pd.Series, task: str) -> Task:
    """``task`` ("auto" or one of :data:`TASKS`) made concrete and checked against the target."""
    if task == "auto":
        return infer_task(target)
    if task not in TASKS:
        raise InvalidInput(f"unknown task {task!r}; known: auto, {', '.join(TASKS)}")
    values = target.dropna()
    if task == "regression" and not _is_numeric(values):
        raise InvalidInput(
            f"target {target.name!r} holds {values.dtype} values, not numbers; a regression "
            "needs a numeric target (use task='binary' or 'multiclass', or 'auto')"
        )
    distinct = values.nunique()
    if task == "binary" and distinct != 2:
        raise InvalidInput(
            f"task 'binary' needs exactly 2 classes; target {target.name!r} has {distinct} "
            "(use task='multiclass' or 'regression', or 'auto')"
        )
    if task == "multiclass" and distinct < 2:
        raise InvalidInput(f"target {target.name!r} has {distinct} class(es); at least 2 needed")
    return task
