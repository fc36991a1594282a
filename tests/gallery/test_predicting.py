"""The version a prediction runs, read in one statement: the same answers and refusals as
the full read, nothing kept between calls (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from sqlalchemy import event

from lepton_lab.errors import LeptonLabError, NotFound
from lepton_lab.identity import Actor
from lepton_lab.training import train
from lepton_lab.workspace import Workspace


@pytest.fixture
def two_versions(workspace: Workspace, alice: Actor, wine: pd.DataFrame) -> Any:
    """finance/m (team visibility) with two versions of different models, and the rows."""
    first = train(None, wine, "target", model="logistic_regression")
    second = train(None, wine.iloc[::2], "target", model="logistic_regression")
    workspace.models.register(alice, first, "finance/m")
    workspace.models.register(alice, second, "finance/m")
    return wine.drop(columns="target").head(5).to_dict("records")


def _refusal(call: Any) -> tuple[type[LeptonLabError], str]:
    with pytest.raises(LeptonLabError) as caught:
        call()
    return type(caught.value), str(caught.value)


def test_by_number_alias_and_latest(workspace: Workspace, alice: Actor, two_versions: Any) -> None:
    workspace.models.set_alias(alice, "finance/m@1", "production")
    for ref, pinned in (
        ("finance/m@1", "finance/m@1"),
        ("finance/m@2", "finance/m@2"),
        ("finance/m", "finance/m@2"),
        ("finance/m@latest", "finance/m@2"),
        ("finance/m@production", "finance/m@1"),
    ):
        loaded = workspace.models.predictor(alice, ref)
        full = workspace.models.load(alice, ref)
        assert loaded.ref == full.ref == pinned
        assert (loaded.task, loaded.signature) == (full.task, full.signature)
        assert loaded.model is full.model  # the same loaded model, by sha256
        assert loaded.answer(two_versions) == full.answer(two_versions)


def test_refusals_are_those_of_the_full_read(
    workspace: Workspace, alice: Actor, two_versions: Any
) -> None:
    workspace.models.set_alias(alice, "finance/m@1", "production")
    bob = workspace.actor("bob")  # no member of finance: the team's model is hidden from him
    for actor, ref in (
        (alice, "finance/n"),
        (alice, "finance/m@7"),
        (alice, "finance/m@producton"),
        (alice, "nobody/m"),
        (bob, "finance/m"),
        (bob, "finance/m@1"),
        (bob, "finance/m@production"),
    ):
        refused = _refusal(lambda: workspace.models.predictor(actor, ref))  # noqa: B023
        assert refused == _refusal(lambda: workspace.models.version(actor, ref)), ref  # noqa: B023
        assert refused[0] is NotFound
    assert (
        "did you mean production"
        in _refusal(lambda: workspace.models.predictor(alice, "finance/m@producton"))[1]
    )


def test_a_change_counts_at_the_next_call(
    workspace: Workspace, alice: Actor, two_versions: Any
) -> None:
    workspace.models.set_alias(alice, "finance/m@1", "production")
    workspace.teams.add_member(alice, "finance", "bob", "viewer")
    assert workspace.models.predictor(workspace.actor("bob"), "finance/m@production").ref == (
        "finance/m@1"
    )
    workspace.models.set_alias(alice, "finance/m@2", "production")
    assert workspace.models.predictor(workspace.actor("bob"), "finance/m@production").ref == (
        "finance/m@2"
    )
    workspace.teams.remove_member(alice, "finance", "bob")
    with pytest.raises(NotFound, match="no model finance/m"):
        workspace.models.predictor(workspace.actor("bob"), "finance/m@production")
    workspace.models.update(alice, "finance/m", visibility="org")
    assert workspace.models.predictor(workspace.actor("bob"), "finance/m").ref == "finance/m@2"


def test_roles_and_version_on_one_connection(
    workspace: Workspace, alice: Actor, two_versions: Any
) -> None:
    """Inside one snapshot (as ``models serve`` reads each batch), the caller's roles and
    the version share one connection: one checkout from the pool, not one per read."""
    checkouts: list[object] = []
    listener = lambda *args: checkouts.append(args)  # noqa: E731
    event.listen(workspace.db.engine, "checkout", listener)
    try:
        with workspace.db.one_snapshot():
            workspace.models.predictor(workspace.actor("alice"), "finance/m@1")
            workspace.models.predictor(workspace.actor("alice"), "finance/m")
    finally:
        event.remove(workspace.db.engine, "checkout", listener)
    assert len(checkouts) == 1
