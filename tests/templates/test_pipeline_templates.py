"""The shipped pipeline train-evaluate-promote and its templates: valid, and run end to end
on a runner, once promoting (nothing to beat) and once not (the same version again)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from sklearn.datasets import load_wine

from lepton_lab.client import LocalClient
from tests.runner_support import RunnerThread

TEMPLATES = Path(__file__).parents[2] / "notebook_templates"


@pytest.mark.parametrize("name", ["train-model", "promote-if-better", "evaluate-model"])
def test_the_pipeline_templates_have_typed_explained_parameters(
    client: LocalClient, name: str
) -> None:
    notebook = nbformat.read(TEMPLATES / f"{name}.ipynb", as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata["lepton"]["resources"] == {"gpus": 0}
    schema = {p.name: p for p in client.templates.get(name).parameters}
    assert all(p.type != "any" and p.help for p in schema.values()), schema
    if name == "promote-if-better":
        assert schema["model"].required and schema["better"].type == "bool"
        assert schema["alias"].default == "production"
    if name == "evaluate-model":
        assert schema["compare_with"].default == "production"


def test_the_shipped_pipeline_names_shipped_templates_that_fit(client: LocalClient) -> None:
    pipeline = client.pipelines.get("train-evaluate-promote")
    assert pipeline.builtin and pipeline.visibility == "org"
    steps = pipeline.definition["steps"]
    assert [steps[s]["template"] for s in pipeline.steps] == [
        "train-model", "evaluate-model", "promote-if-better"
    ]  # fmt: skip
    assert steps["promote"]["when"] == "evaluate.better_than_production"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_shipped_pipeline_promotes_only_a_better_version(
    client: LocalClient, job_runner: RunnerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEPTON_LAB_HOME", str(client.workspace.settings.home))
    monkeypatch.setenv("LEPTON_LAB_USER", "alice")
    client.datasets.register(load_wine(as_frame=True).frame, "agri/wine")
    inputs = {"register_as": "agri/wine-model"}
    first = client.pipelines.run("train-evaluate-promote", inputs).wait(timeout=400)
    assert first.status == "succeeded", first.info.steps
    assert first.steps == {"train": "succeeded", "evaluate": "succeeded", "promote": "succeeded"}
    train, evaluate, promote = (client.jobs.get(first.info.step(s).job) for s in first.steps)
    trained = {r.name: r.value for r in client.jobs.records(train.id)}
    assert trained["model_ref"] == "agri/wine-model@1"
    assert trained["dataset_ref"] == train.parameters["dataset"] == "agri/wine@1"
    # Lineage through the steps: dataset -> train job -> version -> evaluate -> promotion.
    assert client.models.version("agri/wine-model@1").job_id == train.id
    assert evaluate.parameters["model"] == "agri/wine-model@1"
    evaluated = {r.name: r.value for r in client.jobs.records(evaluate.id)}
    assert evaluated["better_than_production"] is True and evaluated["compared_with"] == ""
    assert promote.parameters == {"model": "agri/wine-model@1", "better": True}
    decided = {r.name: r.value for r in client.jobs.records(promote.id)}
    assert decided["promoted"] is True and "promoted agri/wine-model@1" in decided["decision"]
    assert client.models.get("agri/wine-model").aliases == {"production": 1}

    # The same inputs and seed train the same bytes: the same version, not better than
    # itself, so the promote step is skipped and production stays.
    again = client.pipelines.rerun(first.id).wait(timeout=400)
    assert again.steps == {"train": "succeeded", "evaluate": "succeeded", "promote": "skipped"}
    report = client.pipelines.reproduction(again.id)
    assert (report.steps[0].name, report.steps[0].reproduced) == ("train", True)
    assert report.reproduced is False  # the decision changed: production is now version 1
    evaluated = {r.name: r.value for r in client.jobs.records(again.info.step("evaluate").job)}
    assert evaluated["better_than_production"] is False
    assert evaluated["compared_with"] == "agri/wine-model@1"
