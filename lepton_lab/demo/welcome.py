"""The welcome notebook ``make lab`` opens: every widget, on the demo's workspace.

It is an ordinary notebook, written once into the workspace's ``notebooks/`` folder (the
folder JupyterLab serves); a copy someone has edited is never overwritten.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from lepton_lab.demo.data import TEAMS

__all__ = ["WELCOME", "welcome_notebook", "write_welcome"]

#: The notebook's file name in the folder JupyterLab serves.
WELCOME = "Welcome.ipynb"

_CELLS: tuple[tuple[str, str], ...] = (
    (
        "markdown",
        "# Welcome to Lepton Lab\n\n"
        "Your organisation's teams share datasets, train and compare models in one cell, "
        "publish them in a model gallery, and run shared template notebooks as reproducible "
        "jobs. This workspace was seeded by `make demo`: datasets of its teams "
        f"({', '.join(f'`{team}`' for team in TEAMS)}), jobs that ran the shipped templates, "
        "models they registered, one promoted to `production`.\n\n"
        "Run the cells one by one (Shift+Enter), or all at once: *Run ▸ Run All Cells*.",
    ),
    ("code", "import lepton_lab as ll\n\nll.whoami()"),
    (
        "markdown",
        "## The shared dataset browser\n\n"
        "Search by words, team or tag; open a dataset for its card, schema, column profile "
        "and preview, and copy the one line that loads it.",
    ),
    ("code", "ll.datasets.browse()"),
    (
        "code",
        'wine = ll.datasets.load("agri/wine")  # the latest version; "agri/wine@1" pins it\n'
        "wine.head()",
    ),
    (
        "markdown",
        "## Train and evaluate in one cell\n\n"
        "Pick a dataset, a target and model families, press **Train**: live progress, then "
        "metrics and plots for each family; **Register model** publishes the one you choose.",
    ),
    (
        "code",
        'll.train_widget("medical/breast-cancer", target="target",\n'
        '                model=["logistic_regression", "hist_gradient_boosting"])',
    ),
    (
        "markdown",
        "## The model gallery\n\n"
        "Versions, cards, metrics over versions, lineage back to the data and the job, and "
        "aliases such as `production`. Models load from safe formats (skops, safetensors): "
        "no code of the model's author runs.",
    ),
    ("code", "ll.models.browse()"),
    (
        "code",
        'model = ll.models.load("medical/diagnosis@production")\n'
        'cases = ll.datasets.load("medical/breast-cancer").drop(columns="target")\n'
        "model.predict(cases.head())",
    ),
    (
        "markdown",
        "## Templates and jobs\n\n"
        "Open a template, fill in its form and press **Run**: the job runs on a fresh kernel "
        "(on a GPU when it asks for one) and its monitor follows it below the form. Jobs keep "
        "running when this notebook closes.",
    ),
    ("code", "ll.templates.browse()"),
    (
        "code",
        "latest = ll.jobs.list(limit=1)\n"
        'll.jobs.monitor(latest[0].id) if latest else "no jobs yet: run a template above"',
    ),
)


def welcome_notebook() -> NotebookNode:
    """The welcome notebook, unexecuted, for the default Python 3 kernel."""
    make = {"markdown": new_markdown_cell, "code": new_code_cell}
    cells = [make[kind](source) for kind, source in _CELLS]  # type: ignore[no-untyped-call]
    notebook: NotebookNode = new_notebook(cells=cells)  # type: ignore[no-untyped-call]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def write_welcome(folder: Path) -> Path:
    """Write the welcome notebook into ``folder`` unless one is there; its path."""
    path = folder / WELCOME
    if not path.exists():  # an edited copy is someone's work: keep it
        folder.mkdir(parents=True, exist_ok=True)
        nbformat.write(welcome_notebook(), path)  # type: ignore[no-untyped-call]
    return path
