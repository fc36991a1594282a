"""What ships in notebook_templates/ and kernels/ is valid and runs as ordinary notebooks."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import papermill
import pytest
from jupyter_client.kernelspec import KernelSpec

from lepton_lab.client import LocalClient

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize("path", sorted((ROOT / "notebook_templates").glob("*.ipynb")), ids=str)
def test_templates_are_valid_with_a_parameters_cell(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    declared = set(notebook.metadata["lepton"])
    assert {"title", "description", "tags", "kernel", "resources"} <= declared


@pytest.mark.parametrize("path", sorted((ROOT / "kernels").glob("*/kernel.json")), ids=str)
def test_kernelspecs_load(path: Path) -> None:
    spec = KernelSpec.from_resource_dir(str(path.parent))
    assert spec.language == "python"
    assert "{connection_file}" in spec.argv
    assert "gpus" in json.loads(path.read_text())["metadata"]["lepton"]


@pytest.mark.slow
def test_dataset_report_runs_with_plain_papermill(
    client: LocalClient, wine: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.datasets.register(wine, "agri/wine", description="Wine cultivars")
    monkeypatch.setenv("LEPTON_LAB_HOME", str(client.workspace.settings.home))
    out = tmp_path / "report.ipynb"
    papermill.execute_notebook(
        str(ROOT / "notebook_templates" / "dataset-report.ipynb"),
        str(out),
        parameters={"dataset": "agri/wine@1", "max_columns": 4},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    executed = nbformat.read(out, as_version=4)
    text = json.dumps([c.get("outputs", []) for c in executed.cells])
    assert "agri/wine@1: 178 rows, 14 columns, owner alice" in text
    assert "image/png" in text  # the histograms were drawn
