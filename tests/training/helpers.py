"""Helpers the training tests share."""

from __future__ import annotations

import numpy as np
import pandas as pd

TEST_EVERY = 5
"""Every fifth row is a test row in :func:`with_split`, so tests know the test rows."""


def with_split(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with a ``split`` column: every fifth row ``test``, the rest ``train``."""
    labels = np.where(np.arange(len(frame)) % TEST_EVERY == 0, "test", "train")
    return frame.assign(split=labels)


def held_out(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows :func:`with_split` marks as test rows."""
    return frame[frame["split"] == "test"]
