"""The rows a run trains and tests on: loading by pinned reference, features, the split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from lepton_lab.errors import InvalidInput, did_you_mean
from lepton_lab.training.preprocess import ColumnPlan, plan_columns
from lepton_lab.training.tasks import Task, check_task, is_classification

if TYPE_CHECKING:
    from lepton_lab.catalog.info import VersionInfo

__all__ = ["DatasetSource", "Prepared", "load_frame", "prepare", "split_rows"]

Dataset = str | pd.DataFrame
SPLIT_VALUES = ("train", "test")


class DatasetSource(Protocol):
    """What training needs of ``ll.datasets`` (any backend): pin a reference, load it."""

    def version(self, ref: str) -> VersionInfo:
        """One version (the latest when ``ref`` has no ``@N``)."""
        ...

    def load(self, ref: str) -> pd.DataFrame:
        """The version's rows."""
        ...


def load_frame(
    datasets: DatasetSource | None, dataset: Dataset
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The rows and where they came from: ``{"ref": "team/name@N", "sha256", "rows"}``.

    A reference is pinned to its version first, so the rows are the version the result
    records even when someone registers a newer one meanwhile.
    """
    if isinstance(dataset, pd.DataFrame):
        return dataset, {"ref": None, "sha256": None, "rows": len(dataset)}
    if not isinstance(dataset, str):
        raise InvalidInput(
            f"dataset must be a reference such as 'team/name@3' or a DataFrame, "
            f"not {type(dataset).__name__}"
        )
    if datasets is None:
        raise InvalidInput(f"a datasets API is needed to load {dataset!r}; pass ll.datasets")
    version = datasets.version(dataset)
    frame = datasets.load(version.ref)
    return frame, {"ref": version.ref, "sha256": version.sha256, "rows": len(frame)}


def _check_column(frame: pd.DataFrame, name: Any, what: str) -> str:
    if not isinstance(name, str) or name not in frame.columns:
        columns = [str(c) for c in frame.columns]
        hint = did_you_mean(str(name), columns)
        raise InvalidInput(f"no {what} column {name!r}{hint}; columns: {', '.join(columns)}")
    return name


@dataclass(frozen=True)
class Prepared:
    """A frame ready to train on: what to learn, from which columns, on which rows."""

    frame: pd.DataFrame
    source: dict[str, Any]
    target: str
    features: list[str]
    task: Task
    plan: ColumnPlan
    train_index: np.ndarray[Any, Any]
    test_index: np.ndarray[Any, Any]
    split: dict[str, Any]
    dropped_rows: int
    """Rows left out because their target is missing."""

    def rows(self, which: str) -> tuple[pd.DataFrame, pd.Series]:
        """(features, target) of the ``train`` or ``test`` rows."""
        index = self.train_index if which == "train" else self.test_index
        part = self.frame.iloc[index]
        return part[self.features], part[self.target]


def pick_features(
    frame: pd.DataFrame, target: str, features: list[str] | None, exclude: tuple[str, ...]
) -> list[str]:
    """``features`` checked, or every column but the target and ``exclude``."""
    if features is None:
        return [c for c in frame.columns if c != target and c not in exclude]
    checked = [_check_column(frame, f, "feature") for f in features]
    if target in checked:
        raise InvalidInput(f"the target {target!r} cannot also be a feature")
    return checked


def split_rows(
    y: pd.Series, frame: pd.DataFrame, split: float | str, task: Task, seed: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], dict[str, Any]]:
    """(train positions, test positions, how): a seeded fraction or a train/test column."""
    if isinstance(split, str):
        values = frame[split].astype(str)
        odd = sorted(set(values.unique()) - set(SPLIT_VALUES))
        if odd:
            raise InvalidInput(
                f"split column {split!r} may hold only 'train' and 'test', not {odd[:5]}"
            )
        train, test = np.flatnonzero(values == "train"), np.flatnonzero(values == "test")
        how: dict[str, Any] = {"column": split}
    else:
        if isinstance(split, bool) or not isinstance(split, int | float) or not 0 < split < 1:
            raise InvalidInput(
                f"split must be a test fraction between 0 and 1 or a column name, not {split!r}"
            )
        positions = np.arange(len(y))
        # Stratified when every class can appear on both sides, so that both see every class.
        counts = y.value_counts()
        stratify = y if is_classification(task) and counts.min() >= 2 else None
        try:
            train, test = train_test_split(
                positions, test_size=split, random_state=seed, stratify=stratify
            )
        except ValueError:  # too few rows per class for a stratified split of this size
            train, test = train_test_split(positions, test_size=split, random_state=seed)
        how = {"test_fraction": float(split), "stratified": stratify is not None}
    if len(train) == 0 or len(test) == 0:
        raise InvalidInput(f"the split leaves {len(train)} training and {len(test)} test rows")
    return np.sort(train), np.sort(test), how


def prepare(
    frame: pd.DataFrame,
    source: dict[str, Any],
    target: str,
    *,
    task: str,
    features: list[str] | None,
    split: float | str,
    seed: int,
) -> Prepared:
    """Check the columns, infer the task, plan the preprocessing and split the rows."""
    _check_column(frame, target, "target")
    if isinstance(split, str):
        _check_column(frame, split, "split")
    exclude = (split,) if isinstance(split, str) else ()
    chosen = pick_features(frame, target, features, exclude)
    present = frame[frame[target].notna()].reset_index(drop=True)
    if len(present) < 2:
        raise InvalidInput(f"target {target!r} has {len(present)} non-missing value(s)")
    concrete = check_task(present[target], task)
    train, test, how = split_rows(present[target], present, split, concrete, seed)
    return Prepared(
        present,
        source,
        target,
        chosen,
        concrete,
        plan_columns(present.iloc[train], chosen),
        train,
        test,
        how,
        len(frame) - len(present),
    )
