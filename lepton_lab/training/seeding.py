"""Seeding and the record of what a run ran with (library versions)."""

from __future__ import annotations

import functools
import platform
import random
import sys
from importlib import metadata
from typing import Any

import numpy as np

from lepton_lab._version import __version__

__all__ = ["library_versions", "seed_everything"]

_LIBRARIES = ("lepton-lab", "numpy", "pandas", "scikit-learn", "torch", "pyarrow")


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every GPU).

    scikit-learn estimators get ``random_state=seed`` from their builders instead: they do
    not read the global generators.  torch is seeded only once something imported it, so
    that sklearn-only runs do not pay for importing it.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def library_versions() -> dict[str, Any]:
    """Python and the versions of the libraries a result depends on (None: not installed)."""
    return dict(_library_versions())


@functools.cache
def _library_versions() -> dict[str, Any]:
    # Reading package metadata costs ~3 ms a call (bench/training.py), and versions do not
    # change while a process runs: read once, hand out copies.
    versions: dict[str, Any] = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    if versions["lepton-lab"] is None:
        versions["lepton-lab"] = __version__
    return versions
