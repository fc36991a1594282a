"""The retail, vision and NLP templates: valid, runnable with plain papermill, and as jobs.

Each runs on real data that a package ships (nothing is downloaded): statsmodels'
Eurostat series of EU electrical equipment turnover (public domain), scikit-learn's
digits, and TextBlob's hand-tagged sentiment lexicon of English adjective senses (PDDL).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_digits

from lepton_lab.client import LocalClient
from lepton_lab.demo.data import adjective_sentiment, demand_series
from tests.runner_support import RunnerThread
from tests.templates.support import check_template, run_with_papermill

TEMPLATES = Path(__file__).parents[2] / "notebook_templates"


# template -> (small parameters, the dataset parameter's pinned ref, the model, the metrics)
CASES: dict[str, tuple[dict[str, Any], str, str, tuple[str, ...]]] = {
    "demand-forecast": (
        {"dataset": "retail/electrical-equipment", "lags": 6, "holdout": 12},
        "retail/electrical-equipment@1",
        "retail/demand-forecast",
        ("rmse", "mae", "naive_rmse"),
    ),
    "digits-cnn": (
        {"dataset": "vision/digits", "epochs": 2, "channels": 8},
        "vision/digits@1",
        "vision/digits-cnn",
        ("accuracy", "f1_macro"),
    ),
    "text-classification": (
        {"dataset": "text/adjective-sentiment"},
        "text/adjective-sentiment@1",
        "text/classifier",
        ("accuracy", "f1_macro"),
    ),
}


@pytest.fixture
def catalog(client: LocalClient, monkeypatch: pytest.MonkeyPatch) -> LocalClient:
    """Alice's workspace holding the three datasets, seen by kernels started from here."""
    client.datasets.register(demand_series(), "retail/electrical-equipment")
    client.datasets.register(load_digits(as_frame=True).frame, "vision/digits")
    client.datasets.register(adjective_sentiment(), "text/adjective-sentiment")
    monkeypatch.setenv("LEPTON_LAB_HOME", str(client.workspace.settings.home))
    monkeypatch.setenv("LEPTON_LAB_USER", "alice")
    return client


def test_the_datasets_are_real_and_bundled() -> None:
    series = demand_series()
    assert len(series) == 257
    assert series["date"].is_monotonic_increasing
    sentiment = adjective_sentiment()
    assert len(sentiment) > 2700
    assert set(sentiment["label"]) == {"negative", "neutral", "positive"}
    assert "abhorrent: offensive to the mind" in set(sentiment["text"])


@pytest.mark.parametrize("name", sorted(CASES))
def test_template_is_valid_with_typed_parameters(client: LocalClient, name: str) -> None:
    check_template(client, name, CASES[name][0])


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", sorted(CASES))
def test_template_runs_with_plain_papermill(
    catalog: LocalClient, tmp_path: Path, name: str
) -> None:
    parameters, _, model, _ = CASES[name]
    text = run_with_papermill(name, parameters, tmp_path)
    assert f"registered {model}@1" in text
    assert "image/png" in text
    info = catalog.models.get(model)
    assert info.latest_version == 1
    assert info.owner == "alice"


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", sorted(CASES))
def test_template_runs_as_a_job(catalog: LocalClient, job_runner: RunnerThread, name: str) -> None:
    parameters, pinned, model, metrics = CASES[name]
    job = catalog.jobs.submit(name, parameters, seed=3).wait(timeout=240)
    assert job.info.status == "succeeded", job.info.reason
    assert job.info.parameters["dataset"] == pinned
    outputs = job.outputs
    for metric in metrics:
        assert isinstance(outputs[metric], float)
        assert outputs[metric] >= 0
    assert outputs["model"] == f"{model}@1"
    if name == "demand-forecast":
        assert outputs["rmse"] < outputs["naive_rmse"]  # beats repeating the last period
    else:
        assert outputs["accuracy"] > 0.55  # chance: 0.1 for digits, about 0.36 for sentiment
    figures = [r.name for r in job.records if r.kind == "figure"]
    assert figures == ["forecast"] if name == "demand-forecast" else ["confusion_matrix"]
    assert catalog.models.get(model).latest_version == 1
