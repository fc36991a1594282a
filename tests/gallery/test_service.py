"""The model registry on SQLite and PostgreSQL: versions, cards, aliases, metrics, lineage."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select

from lepton_lab.errors import Conflict, CorruptBlob, InvalidInput, NotFound, PermissionDenied
from lepton_lab.identity import Actor
from lepton_lab.lineage import edges_of
from lepton_lab.store.tables import Event
from lepton_lab.training import train
from lepton_lab.workspace import Workspace


@pytest.fixture
def trained(workspace: Workspace, alice: Actor, wine: pd.DataFrame) -> Any:
    workspace.datasets.register(alice, wine, "finance/wine")
    datasets = _Datasets(workspace, alice)
    return train(datasets, "finance/wine", "target", model="logistic_regression")


class _Datasets:
    """The dataset API ``train`` reads through, over the service (no client needed)."""

    def __init__(self, workspace: Workspace, actor: Actor) -> None:
        self._ws, self._actor = workspace, actor

    def version(self, ref: str) -> Any:
        return self._ws.datasets.version(self._actor, ref)

    def load(self, ref: str, **options: Any) -> pd.DataFrame:
        return self._ws.datasets.load(self._actor, ref, **options)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._ws.datasets, name)
        return lambda *a, **k: method(self._actor, *a, **k)


def test_register_stores_everything_known(workspace: Workspace, alice: Actor, trained: Any) -> None:
    info = workspace.models.register(alice, trained, "finance/wine-clf", tags=["risk"])
    assert (info.ref, info.version, info.created, info.parent) == (
        "finance/wine-clf@1",
        1,
        True,
        None,
    )
    assert info.family == "logistic_regression" and info.task == "multiclass"
    assert [i["name"] for i in info.signature["inputs"]] == trained.spec["features"]
    assert info.signature["output"]["classes"] == [0, 1, 2]
    assert [(m.dataset, m.split) for m in info.metrics] == [("finance/wine@1", "test")]
    assert info.metrics[0].metrics["accuracy"] == pytest.approx(trained.metrics["accuracy"])
    model = workspace.models.get(alice, "finance/wine-clf")
    assert model.tags == ["risk"] and model.headline is not None
    assert "logistic_regression" in model.card["summary"]
    assert "finance/wine@1" in model.card["training_data"]
    with workspace.db.read() as session:
        kinds = {(e.src, e.kind) for e in edges_of(session, "model:finance/wine-clf")}
    assert ("dataset:finance/wine@1", "trained_on") in kinds
    assert (trained.node, "registered_from") in kinds
    again = workspace.models.register(alice, trained, "finance/wine-clf")
    assert (again.version, again.created) == (1, False)  # the same bytes: the same version


def test_versions_aliases_and_roles(
    workspace: Workspace, alice: Actor, trained: Any, wine: pd.DataFrame
) -> None:
    workspace.models.register(alice, trained, "finance/m")
    other = train(None, wine, "target", model="random_forest")
    second = workspace.models.register(alice, other, "finance/m")
    assert (second.version, second.parent) == (2, 1)
    workspace.teams.add_member(alice, "finance", "bob", "contributor")
    bob = workspace.actor("bob")
    assert workspace.models.set_alias(bob, "finance/m@1", "staging").aliases == {"staging": 1}
    with pytest.raises(PermissionDenied, match="editor role in team finance"):
        workspace.models.set_alias(bob, "finance/m@2", "production")
    moved = workspace.models.set_alias(alice, "finance/m@2", "production")
    assert moved.aliases == {"production": 2, "staging": 1}
    assert workspace.models.version(bob, "finance/m@production").version == 2
    assert workspace.models.version(bob, "finance/m").version == 2
    with workspace.db.read() as session:
        moves = session.scalars(select(Event).where(Event.action == "model.alias"))
        assert [(e.actor, e.details["version"]) for e in moves] == [("bob", 1), ("alice", 2)]
    with pytest.raises(NotFound, match="has no version 7"):
        workspace.models.set_alias(alice, "finance/m@7", "staging")
    with pytest.raises(NotFound, match="has no alias 'producton'; did you mean production"):
        workspace.models.version(alice, "finance/m@producton")
    for bad in ("3", "latest", "Bad Alias"):
        with pytest.raises(InvalidInput):
            workspace.models.set_alias(alice, "finance/m@1", bad)
    rows = workspace.models.compare(alice, "finance/m")
    assert [r["version"] for r in rows] == [1, 2] and "accuracy" in rows[0]


def test_unknown_refs_and_namespaces(workspace: Workspace, alice: Actor, trained: Any) -> None:
    workspace.models.register(alice, trained, "finance/credit-risk")
    with pytest.raises(NotFound, match="did you mean finance/credit-risk"):
        workspace.models.get(alice, "finance/credit-rsik")
    bob = workspace.actor("bob")
    with pytest.raises(PermissionDenied, match="contributor role in team finance"):
        workspace.models.register(bob, trained, "finance/bobs")
    assert workspace.models.search(bob).total == 0  # team visibility: bob is no member
    assert workspace.models.search(alice, "credit").total == 1
    assert workspace.models.search(alice, task="regression").total == 0


def test_cards_keep_what_people_write(
    workspace: Workspace, alice: Actor, trained: Any, wine: pd.DataFrame
) -> None:
    workspace.models.register(alice, trained, "finance/c", card={"limitations": "Wine only."})
    workspace.models.update(alice, "finance/c", card={"summary": "Our cultivar model."})
    workspace.models.register(alice, train(None, wine, "target", model="knn"), "finance/c")
    card = workspace.models.get(alice, "finance/c").card
    assert card["summary"] == "Our cultivar model." and card["limitations"] == "Wine only."
    assert "Held-out test split" in card["evaluation"]  # filled in from version 2
    with pytest.raises(InvalidInput, match="unknown card field"):
        workspace.models.update(alice, "finance/c", card={"sumary": "x"})


def test_evaluations_are_stored_with_lineage(
    workspace: Workspace, alice: Actor, trained: Any
) -> None:
    workspace.models.register(alice, trained, "finance/e")
    workspace.models.record_metrics(
        alice, "finance/e@1", "finance/wine@1", "eval", {"accuracy": 0.5}
    )
    info = workspace.models.version(alice, "finance/e@1")
    assert [(m.split, m.metrics.get("accuracy")) for m in info.metrics][-1] == ("eval", 0.5)
    with workspace.db.read() as session:
        kinds = {e.kind for e in edges_of(session, "model:finance/e")}
    assert "evaluated_on" in kinds


def test_load_predict_and_a_tampered_artifact(
    workspace: Workspace, alice: Actor, trained: Any, wine: pd.DataFrame
) -> None:
    from lepton_lab.gallery.artifacts import clear_cache

    info = workspace.models.register(alice, trained, "finance/p")
    rows = wine.drop(columns="target").head(5)
    loaded = workspace.models.load(alice, "finance/p@1")
    assert list(loaded.predict(rows)) == list(trained.predict(rows))
    answer = workspace.models.predict(alice, "finance/p", rows.to_dict(orient="records"))
    assert answer["predictions"] == [int(p) for p in trained.predict(rows)]
    assert len(answer["probabilities"][0]) == 3
    with pytest.raises(InvalidInput, match="alcohol"):
        workspace.models.predict(alice, "finance/p", rows.drop(columns="alcohol"))
    clear_cache()
    blob = workspace.blobs.local_path(info.sha256)
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte changed in the middle of the artifact
    blob.write_bytes(bytes(data))
    with pytest.raises(CorruptBlob):
        workspace.models.load(alice, "finance/p@1")


def test_a_name_taken_by_an_invisible_model(
    workspace: Workspace, alice: Actor, trained: Any
) -> None:
    workspace.models.register(alice, trained, "finance/secret", visibility="private")
    workspace.teams.add_member(alice, "finance", "bob", "contributor")
    with pytest.raises(Conflict, match="cannot see"):
        workspace.models.register(workspace.actor("bob"), trained, "finance/secret")


def test_an_outsider_cannot_tell_a_hidden_model_name_from_a_free_one(
    workspace: Workspace, alice: Actor, trained: Any
) -> None:
    workspace.models.register(alice, trained, "finance/secret", visibility="private")
    bob = workspace.actor("bob")
    answers = []
    for name in ("finance/secret", "finance/free"):
        with pytest.raises(PermissionDenied) as refused:
            workspace.models.register(bob, trained, name)
        answers.append(refused.value.message.replace(name, "NAME"))
    assert answers[0] == answers[1] and "contributor role in team finance" in answers[0]
