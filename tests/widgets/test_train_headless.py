"""The train widget in a notebook executed headless by papermill: the output keeps the result.

No frontend draws the widget there, so its state is of no use to a reader; the widget
leaves a static HTML summary and a PNG plot as ordinary outputs (see docs/widgets.md).
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import nbformat
import papermill
import pytest
from nbformat.v4 import new_code_cell, new_notebook

SETUP = """\
from sklearn.datasets import load_breast_cancer
import lepton_lab as ll
ll.datasets.register(load_breast_cancer(as_frame=True).frame, "medical/cancer")
"""
TRAIN = """\
w = ll.train_widget("medical/cancer", target="target", model="logistic_regression", autorun=True)
"""
CHECK = "print(f\"{w.result.metrics['accuracy']:.4g} {w.result.metrics['roc_auc']:.4g}\")"
FAIL = 'll.train_widget("medical/cancer", target="target", model="ridge", autorun=True)'


def displays(cell: Any) -> list[dict[str, Any]]:
    """The data of a cell's display outputs."""
    return [o["data"] for o in cell["outputs"] if o["output_type"] == "display_data"]


@pytest.mark.slow
def test_papermill_output_shows_the_summary_and_plots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEPTON_LAB_HOME", str(tmp_path / "ws"))  # the kernel inherits it
    notebook = new_notebook(cells=[new_code_cell(c) for c in (SETUP, TRAIN, CHECK, FAIL)])
    source, output = tmp_path / "train.ipynb", tmp_path / "train-out.ipynb"
    nbformat.write(notebook, source)

    papermill.execute_notebook(
        str(source), str(output), kernel_name="python3", cwd=str(tmp_path), progress_bar=False
    )

    cells = nbformat.read(output, as_version=4).cells
    accuracy, roc_auc = cells[2]["outputs"][0]["text"].split()
    trained = displays(cells[1])
    assert "application/vnd.jupyter.widget-view+json" in trained[0]
    assert trained[0]["text/plain"] == "<TrainWidget medical/cancer → target>"
    html = [d["text/html"] for d in trained if "text/html" in d]
    assert len(html) == 1
    assert [d["text/plain"] for d in trained if "text/html" in d] == [
        f"Done: logistic_regression, roc_auc {roc_auc}"
    ]
    assert "<b>logistic_regression</b> on <code>medical/cancer@1</code>" in html[0]
    assert f"<td>accuracy</td><td>{accuracy}</td>" in html[0]
    pngs = [base64.b64decode(d["image/png"]) for d in trained if "image/png" in d]
    assert len(pngs) == 1
    assert pngs[0].startswith(b"\x89PNG")

    failed = [d.get("text/html", "") for d in displays(cells[3])]
    assert any(
        "InvalidInput: model &#x27;ridge&#x27; does not do binary tasks" in h for h in failed
    )
