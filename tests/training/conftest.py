"""Small real data for the training tests: scikit-learn's bundled datasets, nothing fetched."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes, load_digits


@pytest.fixture(scope="session")
def digits() -> pd.DataFrame:
    """8x8 images of handwritten digits, 1,797 rows (64 pixel columns and ``target``)."""
    return load_digits(as_frame=True).frame


@pytest.fixture(scope="session")
def diabetes() -> pd.DataFrame:
    """442 patients, ten numeric features, a numeric disease progression ``target``."""
    return load_diabetes(as_frame=True).frame


@pytest.fixture(scope="session")
def iris_mixed(iris: pd.DataFrame) -> pd.DataFrame:
    """Iris with what real tables have: missing numbers, a category, a free-text column.

    The text is written from the row's own measurements ("long wide petals, short narrow
    sepals"), so it carries real signal without naming the species.
    """
    frame = iris.copy()
    rng = np.random.default_rng(0)
    frame.loc[rng.choice(len(frame), 15, replace=False), "sepal width (cm)"] = np.nan

    def words(column: str, low: str, high: str) -> pd.Series:
        cut = frame[column].median()
        return frame[column].map(lambda v: high if v > cut else low)

    frame["petal size"] = words("petal length (cm)", "small", "large")
    frame.loc[rng.choice(len(frame), 10, replace=False), "petal size"] = None
    frame["notes"] = (
        words("petal length (cm)", "short", "long")
        + " "
        + words("petal width (cm)", "narrow", "wide")
        + " petals with sepals of "
        + frame["sepal length (cm)"].astype(str)
        + " by "
        + frame["sepal width (cm)"].astype(str)
        + " cm"
    )
    return frame
