"""The ipywidgets set of Lepton Lab: the dataset browser (``ll.datasets.browse()``) and the
train panel (``ll.train_widget()``).

Widgets are imported on first use: ``import lepton_lab.widgets`` stays cheap and does not
load ipywidgets, pandas or markdown-it until a widget is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lepton_lab.widgets.datasets import DatasetBrowser
    from lepton_lab.widgets.train import TrainWidget

__all__ = ["DatasetBrowser", "TrainWidget"]


def __getattr__(name: str) -> Any:
    if name == "DatasetBrowser":
        from lepton_lab.widgets.datasets import DatasetBrowser

        return DatasetBrowser
    if name == "TrainWidget":
        from lepton_lab.widgets.train import TrainWidget

        return TrainWidget
    raise AttributeError(f"module 'lepton_lab.widgets' has no attribute {name!r}")
