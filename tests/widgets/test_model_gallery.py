"""The model gallery driven like a user, on a real workspace: state checked in Python.

The module's workspace holds models trained for real (small scikit-learn data) on a
catalog dataset and registered through the local client, so that versions carry a pinned
dataset, metrics and, for one of them, the job that registered it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sklearn.tree import DecisionTreeClassifier

from lepton_lab.client import LocalClient
from lepton_lab.config import Settings
from lepton_lab.errors import PermissionDenied
from lepton_lab.gallery.info import ModelVersionInfo
from lepton_lab.training import TrainResult, train
from lepton_lab.widgets import ModelGallery
from lepton_lab.widgets.gallery_render import load_code
from lepton_lab.widgets.namespaces import namespace
from lepton_lab.workspace import Workspace

PNG = b"\x89PNG\r\n\x1a\n"
WINE = "agri/wine-classifier"
ALCOHOL = "lab/alcohol"
PLAIN = "lab/plain-tree"
CARD = {
    "summary": "Tells the **cultivar** of a wine. <script>alert('card')</script>",
    "intended_use": "Teaching.",
    "limitations": "178 wines from one region.",
}


def fit(client: LocalClient, target: str, model: str) -> TrainResult:
    result = train(client.datasets, "uci/wine", target, model=model, seed=0)
    assert isinstance(result, TrainResult)
    return result


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, wine: pd.DataFrame) -> Path:
    """A workspace with uci/wine and three models: two versions of agri/wine-classifier
    (the second registered from a job), a regression, and a model with no metrics."""
    home = tmp_path_factory.mktemp("model-gallery") / "ws"
    workspace = Workspace(Settings(home=home, user="alice", auto_start_runner=False))
    try:
        client = LocalClient(workspace, user="alice")
        client.datasets.register(wine, "uci/wine", description="Wine recognition data.")
        for team in ("agri", "lab"):
            client.teams.create(team)
        models = client.models
        first = fit(client, "target", "logistic_regression")
        models.register(first, WINE, card=CARD, tags=["wine", "classic"])
        job = client.jobs.submit("dataset-report", {"dataset": "uci/wine"})
        with pytest.MonkeyPatch.context() as env:
            env.setenv("LEPTON_LAB_JOB_ID", job.id)  # as if registered by the job
            models.register(fit(client, "target", "knn"), WINE)
        models.register(fit(client, "alcohol", "ridge"), ALCOHOL, tags=["chemistry"])
        features = wine.drop(columns="target")
        tree = DecisionTreeClassifier(max_depth=2, random_state=0).fit(features, wine["target"])
        models.register(tree, PLAIN)
    finally:
        workspace.close()
    return home


@pytest.fixture
def gallery(client: LocalClient) -> Iterator[ModelGallery]:
    made = ModelGallery(client.models, jobs_api=client.jobs)
    yield made
    made.close()


def values(box: object) -> list[object]:
    return [value for _, value in box.options]  # type: ignore[attr-defined]


def shown(gallery: ModelGallery) -> list[str]:
    return list(gallery.card_buttons)


# -- the result list -----------------------------------------------------------------------


def test_the_list_shows_a_card_per_model(gallery: ModelGallery, client: LocalClient) -> None:
    assert set(shown(gallery)) == {WINE, ALCOHOL, PLAIN}
    assert gallery.total == 3
    assert gallery.page_label.value == "1\N{EN DASH}3 of 3"
    wine = client.models.get(WINE)
    card = gallery.cards_box.children[shown(gallery).index(WINE)].children[0].value
    assert f"<b>{WINE}</b>" in card
    assert "latest @2" in card
    assert wine.task in card
    assert f"{wine.headline['name']} {wine.headline['value']:.4g}" in card  # type: ignore[index]
    assert "<code>wine</code> <code>classic</code>" in card
    assert "ll-alias" not in card  # no alias yet
    assert gallery.detail.layout.display == "none"


def test_filters_offer_what_the_results_hold(gallery: ModelGallery) -> None:
    assert values(gallery.team_box) == ["", "agri", "lab"]
    assert set(values(gallery.tag_box)) == {"", "wine", "classic", "chemistry"}
    assert "regression" in values(gallery.task_box)

    gallery.team_box.value = "lab"  # a click in the dropdown
    assert gallery.team == "lab"
    assert set(shown(gallery)) == {ALCOHOL, PLAIN}

    gallery.task = "regression"  # from code: the dropdown follows
    assert gallery.task_box.value == "regression"
    assert shown(gallery) == [ALCOHOL]

    gallery.team = gallery.task = ""
    gallery.tag_box.value = "classic"
    assert shown(gallery) == [WINE]


def test_a_query_narrows_the_list_and_its_filters(client: LocalClient) -> None:
    gallery = namespace(client, "models").browse("wine")  # ll.models.browse()
    assert isinstance(gallery, ModelGallery)
    assert shown(gallery) == [WINE]
    assert values(gallery.team_box) == ["", "agri"]

    gallery.search_box.value = "nothing-like-this"
    assert gallery.total == 0
    assert gallery.page_label.value == "No models match"
    assert "No models match" in gallery.cards_box.children[0].value
    gallery.close()


def test_pages_turn(client: LocalClient) -> None:
    gallery = ModelGallery(client.models, page_size=2)
    assert len(shown(gallery)) == 2
    assert gallery.previous_button.disabled and not gallery.next_button.disabled

    gallery.next_button.click()

    assert gallery.page == 1
    assert len(shown(gallery)) == 1
    assert gallery.page_label.value == "3\N{EN DASH}3 of 3"
    assert gallery.next_button.disabled
    gallery.team = "agri"  # a filter starts again from the first page
    assert gallery.page == 0
    assert shown(gallery) == [WINE]


# -- a model opened ------------------------------------------------------------------------


def test_opening_a_model_shows_card_versions_chart_lineage_and_code(
    gallery: ModelGallery, client: LocalClient
) -> None:
    gallery.card_buttons[WINE].click()

    assert gallery.selected == WINE
    assert gallery.detail.layout.display == ""
    assert gallery.version == 2
    card = gallery.card_pane.value
    assert "Tells the <strong>cultivar</strong> of a wine." in card
    assert "&lt;script&gt;" in card and "<script>" not in card  # a card cannot run code
    assert "<h2>Limitations</h2>" in card

    table = gallery.versions_pane.value
    assert table.count("<tr style=") == 1  # the version shown is highlighted
    for version in client.models.versions(WINE):
        assert f"<code>@{version.version}</code>" in table
        assert version.family in table
    assert "<code>uci/wine@1</code>" in table
    assert values(gallery.version_box) == [2, 1]
    assert gallery.version_box.value == 2

    assert bytes(gallery.chart.value).startswith(PNG)
    assert gallery.chart.layout.display == ""

    lineage = gallery.lineage_pane.value
    assert (
        lineage.index("uci/wine@1") < lineage.index("dataset-report@") < lineage.index(f"{WINE}@2")
    )
    assert f"follows <code>{WINE}@1</code>" in lineage
    assert gallery.code_box.value == f'model = ll.models.load("{WINE}@2")\nmodel.predict(df)'


def test_picking_a_version_updates_lineage_and_code(gallery: ModelGallery) -> None:
    gallery.selected = WINE
    gallery.version_box.value = 1

    assert gallery.version == 1
    assert gallery.ref == f"{WINE}@1"
    assert gallery.code_box.value == load_code(f"{WINE}@1")
    assert "job" not in gallery.lineage_pane.value  # registered from a notebook
    assert "the first version" in gallery.lineage_pane.value


def log_loss(version: ModelVersionInfo) -> str:
    """How the card's evaluation shows a version's held-out log loss."""
    test = next(m.metrics for m in version.metrics if m.split == "test")
    return f"log_loss {test['log_loss']:.4g}"


def test_an_older_version_shows_its_own_card_fields_and_metric(gallery: ModelGallery) -> None:
    gallery.selected = WINE
    newest = gallery.card_pane.value
    old, new = (log_loss(gallery.api.version(f"{WINE}@{n}")) for n in (1, 2))
    assert old != new and new in newest  # the evaluation filled in follows version 2

    gallery.version = 1

    card = gallery.card_pane.value
    assert "showing <b>@1</b>" in card
    assert old in card and new not in card  # version 1's own evaluation
    assert "<h2>Limitations</h2>" in card and "cultivar" in card  # what a person wrote stays
    gallery.version = 2
    assert gallery.card_pane.value == newest


def test_search_and_open_show_a_version_registered_since(
    gallery: ModelGallery, client: LocalClient
) -> None:
    gallery.selected = WINE
    assert gallery.version == 2
    client.models.register(fit(client, "target", "random_forest"), WINE)

    gallery.search_button.click()

    assert gallery.version == 3 and values(gallery.version_box) == [3, 2, 1]
    assert "latest @3" in gallery.card_pane.value
    assert log_loss(client.models.version(f"{WINE}@3")) in gallery.card_pane.value
    gallery.version = 1  # an older version picked stays picked
    client.models.register(fit(client, "target", "hist_gradient_boosting"), WINE)
    gallery.card_buttons[WINE].click()  # Open on the model already open fetches it again
    assert gallery.version == 1 and values(gallery.version_box) == [4, 3, 2, 1]


def test_the_chart_of_one_version_has_whole_version_numbers() -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from lepton_lab.gallery.plots import compare_figure

    row = {"version": 1, "dataset": "uci/wine@1", "split": "test", "roc_auc": 0.9}
    figure = compare_figure("m", [row], None)
    FigureCanvasAgg(figure).draw()
    axes = figure.axes[0]
    low, high = axes.get_xlim()
    assert [t for t in axes.get_xticks() if low <= t <= high] == [1.0]


def test_without_a_jobs_api_the_lineage_names_the_job_alone(client: LocalClient) -> None:
    gallery = ModelGallery(client.models)
    gallery.selected = WINE
    job_id = client.models.version(f"{WINE}@2").job_id
    assert job_id and job_id in gallery.lineage_pane.value
    assert "dataset-report" not in gallery.lineage_pane.value
    gallery.close()


def test_a_model_without_metrics_has_no_chart(gallery: ModelGallery) -> None:
    gallery.selected = PLAIN

    assert gallery.chart.layout.display == "none"
    assert gallery.chart.value == b""
    assert "a DataFrame" in gallery.lineage_pane.value
    assert gallery.code_box.value == load_code(f"{PLAIN}@1")


def test_an_unknown_model_is_said_not_raised(gallery: ModelGallery) -> None:
    gallery.selected = "agri/wine-clasifier"

    assert gallery.status.startswith("no model agri/wine-clasifier")
    assert "did you mean" in gallery.status
    assert "agri/wine-clasifier" in gallery.status_line.value
    assert gallery.detail.layout.display == "none"
    assert gallery.version == 0


# -- promoting -----------------------------------------------------------------------------


def test_an_admin_promotes_and_the_badges_follow(
    gallery: ModelGallery, client: LocalClient
) -> None:
    gallery.selected = WINE
    gallery.version_box.value = 1
    assert gallery.alias == "production"

    gallery.promote_button.click()

    assert gallery.status == f"production now points at {WINE}@1"
    assert client.models.version(f"{WINE}@production").version == 1
    card = gallery.cards_box.children[shown(gallery).index(WINE)].children[0].value
    assert "production@1" in card
    assert "production@1" in gallery.card_pane.value
    assert "production</span>" in gallery.versions_pane.value
    assert "[production]" in gallery.version_box.label

    gallery.version_box.value = 2
    gallery.alias_box.value = "staging"  # typed in the box
    assert gallery.promote() is not None
    assert client.models.get(WINE).aliases == {"production": 1, "staging": 2}
    assert gallery.version == 2  # the version picked is kept


def test_a_contributor_moving_production_sees_why_not(
    local_workspace: Workspace, client: LocalClient
) -> None:
    client.teams.add_member("agri", "bob", "contributor")
    bob = LocalClient(local_workspace, user="bob")
    gallery = ModelGallery(bob.models, jobs_api=bob.jobs)
    gallery.selected = WINE

    assert gallery.promote() is None  # nothing raised

    assert "needs the editor role in team agri" in gallery.status
    assert "you are contributor of agri" in gallery.status
    assert "needs the editor role" in gallery.message_line.value
    assert "error-color" in gallery.message_line.value
    assert gallery.status_line.value == ""
    assert client.models.get(WINE).aliases == {}
    with pytest.raises(PermissionDenied):  # the rule is the service's, not the widget's
        bob.models.promote(f"{WINE}@2", "production")
    gallery.close()


def test_promote_with_nothing_open_says_so(gallery: ModelGallery) -> None:
    assert gallery.promote() is None
    assert gallery.status == "open a model and pick a version first"
    assert "open a model" in gallery.status_line.value
