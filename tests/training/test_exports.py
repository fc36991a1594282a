"""``lepton_lab.training`` exports exactly what its ``__all__`` says."""

from __future__ import annotations

import types

import lepton_lab.training as training


def test_all_is_exact() -> None:
    public = {
        name
        for name, value in vars(training).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"
    }
    assert set(training.__all__) == public
    assert len(training.__all__) == len(public)  # no name listed twice
