"""The ipywidgets set of Lepton Lab: the dataset browser (``ll.datasets.browse()``), the
train panel (``ll.train_widget()``), the model gallery (``ll.models.browse()``), the
template gallery (``ll.templates.browse()``) and the job monitor (``ll.jobs.monitor(job_id)``).

Widgets are imported on first use: ``import lepton_lab.widgets`` stays cheap and does not
load ipywidgets, pandas or markdown-it until a widget is asked for.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lepton_lab.widgets.datasets import DatasetBrowser
    from lepton_lab.widgets.gallery import ModelGallery
    from lepton_lab.widgets.jobs import JobMonitor
    from lepton_lab.widgets.templates import TemplateGallery
    from lepton_lab.widgets.train import TrainWidget

__all__ = ["DatasetBrowser", "JobMonitor", "ModelGallery", "TemplateGallery", "TrainWidget"]

# Which module defines each widget, imported when the widget is first asked for.
_MODULES = {
    "DatasetBrowser": "lepton_lab.widgets.datasets",
    "JobMonitor": "lepton_lab.widgets.jobs",
    "ModelGallery": "lepton_lab.widgets.gallery",
    "TemplateGallery": "lepton_lab.widgets.templates",
    "TrainWidget": "lepton_lab.widgets.train",
}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return getattr(importlib.import_module(_MODULES[name]), name)
    raise AttributeError(f"module 'lepton_lab.widgets' has no attribute {name!r}")
