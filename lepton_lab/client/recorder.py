"""The lineage hook a training run calls, bound to a client's datasets API.

:func:`lepton_lab.training.train` and :func:`~lepton_lab.training.evaluate` take a
``record(src, dst, kind)`` callable rather than a client, so that the training service
imports nothing above it; the surfaces (``ll.train``, the train widget) pass this one.
"""

from __future__ import annotations

from collections.abc import Callable

from lepton_lab.client.api import DatasetsAPI

__all__ = ["lineage_recorder"]


def lineage_recorder(datasets: DatasetsAPI) -> Callable[[str, str, str], None]:
    """A hook that records ``dataset:ref --kind--> node`` edges through ``datasets.link``."""

    def record(src: str, dst: str, kind: str) -> None:
        datasets.link(src.removeprefix("dataset:"), dst, kind)

    return record
