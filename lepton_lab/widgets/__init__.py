"""The ipywidgets set of Lepton Lab: the dataset browser (``ll.datasets.browse()``).

Widgets are imported on first use: ``import lepton_lab.widgets`` stays cheap and does not
load ipywidgets, pandas or markdown-it until a widget is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lepton_lab.widgets.datasets import DatasetBrowser

__all__ = ["DatasetBrowser"]


def __getattr__(name: str) -> Any:
    if name == "DatasetBrowser":
        from lepton_lab.widgets.datasets import DatasetBrowser

        return DatasetBrowser
    raise AttributeError(f"module 'lepton_lab.widgets' has no attribute {name!r}")
