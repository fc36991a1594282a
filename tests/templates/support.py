"""What the template tests share: the checks every shipped template passes, and running one
the way a person does without Lepton Lab (plain papermill)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nbformat
import papermill

from lepton_lab.client import LocalClient

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


def check_template(client: LocalClient, name: str, parameters: dict[str, Any]) -> None:
    """A valid notebook with one parameters cell, Lepton metadata for a CPU job on
    ``python3``, a dataset parameter, and a typed, explained parameter for each given."""
    notebook = nbformat.read(TEMPLATES / f"{name}.ipynb", as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    lepton = notebook.metadata["lepton"]
    assert {"title", "description", "tags", "kernel", "resources", "parameters"} <= set(lepton)
    assert lepton["kernel"] == "python3" and lepton["resources"] == {"gpus": 0}
    assert lepton["parameters"]["dataset"] == {"kind": "dataset"}
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    schema = {p.name: p for p in client.templates.get(name).parameters}
    assert set(parameters) <= set(schema)
    assert all(p.type != "any" and p.help for p in schema.values())
    assert schema["dataset"].kind == "dataset"
