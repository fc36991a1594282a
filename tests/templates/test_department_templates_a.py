"""The finance, medical, evaluation and comparison templates: valid, runnable, as jobs.

They run on data that installed packages ship (nothing is downloaded): scikit-learn's
breast-cancer and wine tables, and for ``finance/credit`` the ``Default`` table of ISLP
(10,000 credit-card customers, ``default`` Yes/No), as the demo registers it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_breast_cancer, load_wine

from lepton_lab.client import LocalClient
from lepton_lab.demo.data import islp_table
from lepton_lab.training import train
from tests.runner_support import RunnerThread
from tests.templates.support import check_template, run_with_papermill

TEMPLATES = Path(__file__).parents[2] / "notebook_templates"
FEW_MODELS = ["logistic_regression", "knn"]

# template -> (small parameters, pinned dataset ref, registered model or None, numbers)
CASES: dict[str, tuple[dict[str, Any], str, str | None, tuple[str, ...]]] = {
    "credit-risk": (
        {"models": FEW_MODELS, "seed": 1},
        "finance/credit@1",
        "finance/credit-risk",
        ("roc_auc", "accuracy", "recall", "precision"),
    ),
    "diagnosis": (
        {"models": FEW_MODELS},
        "medical/breast-cancer@1",
        "medical/diagnosis",
        ("roc_auc", "accuracy", "f1_macro", "lowest_recall"),
    ),
    "evaluate-model": (
        {"model": "medical/baseline@1", "dataset": "medical/breast-cancer"},
        "medical/breast-cancer@1",
        None,
        ("roc_auc", "accuracy", "precision", "recall", "f1"),
    ),
    "compare-models": (
        {"models": FEW_MODELS, "cv": 2},
        "agri/wine@1",
        None,
        ("best_score",),
    ),
}


@pytest.fixture
def catalog(client: LocalClient, monkeypatch: pytest.MonkeyPatch) -> LocalClient:
    """Alice's workspace with the data and a baseline model, seen by kernels started here."""
    cancer = load_breast_cancer(as_frame=True).frame
    client.datasets.register(cancer, "medical/breast-cancer")
    client.datasets.register(islp_table("Default"), "finance/credit")
    client.datasets.register(load_wine(as_frame=True).frame, "agri/wine")
    baseline = train(
        client.datasets, "medical/breast-cancer", "target", model="logistic_regression"
    )
    client.models.register(baseline, "medical/baseline")
    monkeypatch.setenv("LEPTON_LAB_HOME", str(client.workspace.settings.home))
    monkeypatch.setenv("LEPTON_LAB_USER", "alice")
    return client


@pytest.mark.parametrize("name", sorted(CASES))
def test_template_is_valid_with_typed_parameters(client: LocalClient, name: str) -> None:
    check_template(client, name, CASES[name][0])


def test_the_credit_data_is_real_credit_data() -> None:
    credit = islp_table("Default")
    assert list(credit.columns) == ["default", "student", "balance", "income"]
    assert len(credit) == 10_000
    assert set(credit["default"]) == {"No", "Yes"}
    assert (credit["default"] == "Yes").sum() == 333  # the book's 3.3% of defaults


def test_evaluate_model_needs_a_model_and_data_but_not_a_target(client: LocalClient) -> None:
    schema = {p.name: p for p in client.templates.get("evaluate-model").parameters}
    assert schema["model"].required and schema["dataset"].required
    assert not schema["target"].required and schema["target"].optional


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", sorted(CASES))
def test_template_runs_with_plain_papermill(
    catalog: LocalClient, tmp_path: Path, name: str
) -> None:
    parameters, _, model, _ = CASES[name]
    text = run_with_papermill(name, parameters, tmp_path)
    assert "image/png" in text
    if model is not None:
        assert f"registered {model}@1" in text
        assert catalog.models.get(model).owner == "alice"
    if name == "evaluate-model":  # the evaluation was stored with the version
        datasets = {row["dataset"] for row in catalog.models.compare_rows("medical/baseline")}
        assert "medical/breast-cancer@1" in datasets


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", sorted(CASES))
def test_template_runs_as_a_job(catalog: LocalClient, job_runner: RunnerThread, name: str) -> None:
    parameters, pinned, model, numbers = CASES[name]
    job = catalog.jobs.submit(name, parameters, seed=3).wait(timeout=240)
    assert job.info.status == "succeeded", job.info.reason
    assert job.info.parameters["dataset"] == pinned
    outputs = job.outputs
    for number in numbers:
        assert 0 <= outputs[number] <= 1, number
    assert any(r.kind == "figure" for r in job.records)
    if name != "evaluate-model":
        assert set(outputs["leaderboard"]["model"]) == set(FEW_MODELS)
        assert "fit_seconds" not in outputs["leaderboard"]  # timings would break reruns
    if model is not None:
        assert outputs["model_ref"] == f"{model}@1"
        version = catalog.models.version(f"{model}@1")
        assert version.job_id == job.id  # registered from inside the job
        assert catalog.models.get(model).latest_version == 1
    if name == "evaluate-model":
        assert outputs["model_ref"] == "medical/baseline@1"
        assert outputs["dataset_ref"] == pinned and outputs["rows"] == 569
