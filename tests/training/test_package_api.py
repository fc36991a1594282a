"""``ll.train`` and ``ll.evaluate`` on the default client: pinned refs and lineage."""

from __future__ import annotations

import pandas as pd
import pytest

import lepton_lab as ll
from lepton_lab.client import LocalClient


@pytest.fixture
def default(client: LocalClient, monkeypatch: pytest.MonkeyPatch) -> LocalClient:
    import lepton_lab.client as client_module

    monkeypatch.setattr(client_module, "_default", client)
    return client


def test_train_then_evaluate_by_reference_records_the_lineage(
    default: LocalClient, breast_cancer: pd.DataFrame
) -> None:
    default.datasets.register(breast_cancer, "medical/cancer")
    default.datasets.register(breast_cancer.sample(200, random_state=1), "medical/cancer-2024")
    result = ll.train("medical/cancer", target="target", model="logistic_regression", seed=3)
    assert result.spec["dataset"]["ref"] == "medical/cancer@1"
    assert result.metrics["accuracy"] > 0.9
    evaluation = ll.evaluate(result, "medical/cancer-2024")
    assert evaluation.metrics["accuracy"] > 0.9
    kinds = {
        (e.src, e.kind)
        for e in default.workspace.datasets.lineage(default.actor(), "medical/cancer")
    }
    assert ("dataset:medical/cancer@1", "trained_on") in kinds
    later = {
        (e.src, e.kind)
        for e in default.workspace.datasets.lineage(default.actor(), "medical/cancer-2024")
    }
    assert ("dataset:medical/cancer-2024@1", "evaluated_on") in later


def test_links_are_checked(default: LocalClient, breast_cancer: pd.DataFrame) -> None:
    default.datasets.register(breast_cancer, "medical/cancer")
    with pytest.raises(ll.LeptonLabError, match="unknown lineage kind"):
        default.datasets.link("medical/cancer@1", "training:x", "liked")
    with pytest.raises(ll.LeptonLabError, match="must look like"):
        default.datasets.link("medical/cancer@1", "no colon here", "trained_on")
