"""Running a shipped template the way a person does without Lepton Lab: plain papermill."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import papermill

TEMPLATES = Path(__file__).resolve().parents[2] / "notebook_templates"


def run_with_papermill(name: str, parameters: dict[str, Any], folder: Path) -> str:
    """Execute ``notebook_templates/{name}.ipynb`` in ``folder``; the outputs as JSON text."""
    out = folder / f"{name}.ipynb"
    papermill.execute_notebook(
        str(TEMPLATES / f"{name}.ipynb"),
        str(out),
        parameters=parameters,
        kernel_name="python3",
        cwd=str(folder),
        progress_bar=False,
        start_timeout=180,  # a busy 2-core machine can take over a minute to start one
    )
    return json.dumps([c.get("outputs", []) for c in nbformat.read(out, as_version=4).cells])
