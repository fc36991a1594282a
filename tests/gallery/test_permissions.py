"""Who may change what a model says about itself, on SQLite and PostgreSQL.

Each test tries the change as the person who must not make it, shows it refused with
nothing changed and no event, then makes it as the one who may, with its event.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select

from lepton_lab.errors import InvalidInput, NotFound, PermissionDenied
from lepton_lab.identity import Actor
from lepton_lab.lineage import edges_of
from lepton_lab.store.tables import Event, Job
from lepton_lab.training import TrainResult, train
from lepton_lab.workspace import Workspace

ROLES = {"vera": "viewer", "bob": "contributor", "carol": "editor"}


@pytest.fixture
def team(workspace: Workspace, wine: pd.DataFrame) -> dict[str, Actor]:
    """finance: alice (admin, owns the model finance/m), vera, bob, carol; wine@1 shared."""
    workspace.teams.create(workspace.actor("alice"), "finance")
    alice = workspace.actor("alice")  # an Actor holds the roles of the moment it was made
    for user, role in ROLES.items():
        workspace.teams.add_member(alice, "finance", user, role)
    workspace.datasets.register(alice, wine, "finance/wine")
    result = train(None, wine, "target", model="logistic_regression")
    assert isinstance(result, TrainResult)
    result.spec["dataset"] = {"ref": "finance/wine@1"}
    workspace.models.register(alice, result, "finance/m")
    return {"alice": alice, **{user: workspace.actor(user) for user in ROLES}}


def _events(workspace: Workspace, action: str) -> list[tuple[str, str]]:
    with workspace.db.read() as session:
        rows = session.scalars(select(Event).where(Event.action == action).order_by(Event.id))
        return [(e.actor, e.subject) for e in rows]


def _headline(workspace: Workspace, actor: Actor) -> Any:
    return workspace.models.get(actor, "finance/m").headline


# -- evaluations ----------------------------------------------------------------------------


def test_a_viewer_cannot_record_an_evaluation(workspace: Workspace, team: dict[str, Actor]) -> None:
    before = _headline(workspace, team["alice"])
    for split in ("test", "holdout"):
        with pytest.raises(PermissionDenied, match="contributor role in team finance"):
            workspace.models.record_metrics(
                team["vera"], "finance/m@1", "finance/wine@1", split, {"accuracy": 1.0}
            )
    assert _headline(workspace, team["alice"]) == before
    assert len(workspace.models.version(team["alice"], "finance/m@1").metrics) == 1
    assert _events(workspace, "model.evaluate") == []


def test_replacing_the_headline_evaluation_needs_the_edit_right(
    workspace: Workspace, team: dict[str, Actor]
) -> None:
    before = _headline(workspace, team["alice"])
    # A contributor adds an evaluation of their own, and may change it again.
    for value in (0.5, 0.6):
        workspace.models.record_metrics(
            team["bob"], "finance/m@1", "finance/wine@1", "holdout", {"accuracy": value}
        )
    # Not the one registration recorded on the test split: it gives the headline.
    with pytest.raises(PermissionDenied, match="replacing the evaluation on finance/wine@1"):
        workspace.models.record_metrics(
            team["bob"], "finance/m@1", "finance/wine@1", "test", {before["name"]: 1.0}
        )
    assert _headline(workspace, team["alice"]) == before
    # An editor may (and the owner).
    workspace.models.record_metrics(
        team["carol"], "finance/m@1", "finance/wine@1", "test", {before["name"]: 0.25}
    )
    assert _headline(workspace, team["alice"]) == {"name": before["name"], "value": 0.25}
    node = "model:finance/m@1"
    assert _events(workspace, "model.evaluate") == [("bob", node), ("bob", node), ("carol", node)]


def test_an_evaluation_on_a_dataset_the_caller_cannot_see_is_refused(
    workspace: Workspace, team: dict[str, Actor], wine: pd.DataFrame
) -> None:
    workspace.teams.create(workspace.actor("dana"), "medical")
    workspace.datasets.register(workspace.actor("dana"), wine, "medical/secret", visibility="team")
    for dataset in ("medical/secret@1", "finance/nothing@1"):
        with pytest.raises(NotFound, match="no dataset"):
            workspace.models.record_metrics(
                team["alice"], "finance/m@1", dataset, "holdout", {"accuracy": 0.5}
            )
    assert len(workspace.models.version(team["alice"], "finance/m@1").metrics) == 1
    with workspace.db.read() as session:
        assert [e for e in edges_of(session, "dataset:medical/secret")] == []


# -- lineage links ---------------------------------------------------------------------------


def _job(workspace: Workspace, job_id: str, submitter: str, team: str) -> None:
    def work(session: Any) -> None:
        session.add(
            Job(
                id=job_id,
                template="report",
                notebook_sha256="0" * 64,
                kernel="python3",
                seed=1,
                submitted_by=submitter,
                team=team,
            )
        )

    workspace.db.transact(work)


def test_lineage_links_need_a_node_the_caller_answers_for(
    workspace: Workspace, team: dict[str, Actor]
) -> None:
    _job(workspace, "j-carol", "carol", "finance")
    _job(workspace, "j-vera", "vera", "")
    link = workspace.datasets.link
    # A viewer sees the team's jobs and models but does not write their history.
    with pytest.raises(PermissionDenied, match=r"job j-carol.*contributor role"):
        link(team["vera"], "finance/wine@1", "job:j-carol", "trained_on")
    with pytest.raises(PermissionDenied, match=r"model finance/m@1.*contributor role"):
        link(team["vera"], "finance/wine@1", "model:finance/m@1", "evaluated_on")
    # Someone else's job outside the caller's teams: as if it did not exist.
    with pytest.raises(NotFound, match="no job j-vera"):
        link(team["carol"], "finance/wine@1", "job:j-vera", "trained_on")
    with pytest.raises(PermissionDenied, match="only their own"):
        link(team["bob"], "finance/wine@1", "user:alice", "trained_on")
    with pytest.raises(InvalidInput, match="link a run of yours"):
        link(team["bob"], "finance/wine@1", "dataset:finance/other@1", "produced")
    with workspace.db.read() as session:
        assert [e.kind for e in edges_of(session, "dataset:finance/wine@1")] == ["trained_on"]
    assert _events(workspace, "lineage.link") == []

    # Who may: the team's contributors, the submitter, anyone for their own run.
    link(team["bob"], "finance/wine@1", "job:j-carol", "trained_on")
    link(team["bob"], "finance/wine@1", "model:finance/m@1", "evaluated_on")
    link(team["vera"], "finance/wine@1", "job:j-vera", "trained_on")
    link(team["vera"], "finance/wine@1", "training:3f2a", "trained_on")
    assert _events(workspace, "lineage.link") == [
        ("bob", "job:j-carol"),
        ("bob", "model:finance/m@1"),
        ("vera", "job:j-vera"),
        ("vera", "training:3f2a"),
    ]


# -- aliases and predictions -----------------------------------------------------------------


def test_staging_needs_a_contributor_and_production_an_editor(
    workspace: Workspace, team: dict[str, Actor]
) -> None:
    # The rule docs/models.md and docs/rest-api.md state.
    with pytest.raises(PermissionDenied, match="contributor role in team finance"):
        workspace.models.set_alias(team["vera"], "finance/m@1", "staging")
    assert workspace.models.set_alias(team["bob"], "finance/m@1", "staging").aliases == {
        "staging": 1
    }
    with pytest.raises(PermissionDenied, match="editor role in team finance"):
        workspace.models.set_alias(team["bob"], "finance/m@1", "production")
    assert workspace.models.set_alias(team["carol"], "finance/m@1", "production").aliases == {
        "staging": 1,
        "production": 1,
    }


def test_text_for_a_numeric_column_is_refused_naming_it(
    workspace: Workspace, team: dict[str, Actor], wine: pd.DataFrame
) -> None:
    row = wine.drop(columns="target").head(1).to_dict(orient="records")[0]
    assert workspace.models.predict(team["vera"], "finance/m@1", [row])["predictions"]
    for text in ("a lot", "12 %", "NaN-ish"):
        with pytest.raises(InvalidInput, match=r"column 'alcohol' takes numbers.*not a number"):
            workspace.models.predict(team["vera"], "finance/m@1", [{**row, "alcohol": text}])
