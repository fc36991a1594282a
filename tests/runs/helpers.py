"""Small notebooks and queue helpers shared by the job tests."""

from __future__ import annotations

from typing import Any

import nbformat

from lepton_lab.identity import Actor
from lepton_lab.runs.info import JobInfo
from lepton_lab.workspace import Workspace

__all__ = ["make_notebook", "submit_code"]


def make_notebook(
    *cells: str, parameters: str | None = None, lepton: dict[str, Any] | None = None
) -> bytes:
    """A python3 notebook: an optional ``parameters`` cell, then one code cell per string."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "language": "python",
        "display_name": "Python 3",
    }
    if lepton is not None:
        notebook.metadata["lepton"] = lepton
    if parameters is not None:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        notebook.cells.append(cell)
    notebook.cells.extend(nbformat.v4.new_code_cell(code) for code in cells)
    return nbformat.writes(notebook).encode("utf-8")


def submit_code(workspace: Workspace, actor: Actor, *cells: str, **options: Any) -> JobInfo:
    """Queue a notebook made of ``cells`` as ``actor``."""
    content = make_notebook(*cells, parameters=options.pop("parameters_cell", None))
    return workspace.jobs.submit(actor, notebook=content, notebook_name="test.ipynb", **options)
