"""The train widget driven like a user, on a real catalog: state checked in Python.

Runs train for real (small scikit-learn data, a few torch epochs) in the widget's
background thread; ``wait()`` joins it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import lepton_lab
import lepton_lab as ll
from lepton_lab.client import LocalClient
from lepton_lab.config import Settings
from lepton_lab.training import Leaderboard, ProgressEvent, TrainResult, get_family
from lepton_lab.widgets import TrainWidget
from lepton_lab.widgets.live import LiveView, epoch_budgets
from lepton_lab.widgets.train import NO_GALLERY
from lepton_lab.widgets.train_render import loss_svg, per_family
from lepton_lab.workspace import Workspace

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def template(
    tmp_path_factory: pytest.TempPathFactory, iris: pd.DataFrame, breast_cancer: pd.DataFrame
) -> Path:
    """A workspace holding the datasets these tests train on, registered once."""
    home = tmp_path_factory.mktemp("train-widget") / "ws"
    workspace = Workspace(Settings(home=home, user="alice", auto_start_runner=False))
    try:
        client = LocalClient(workspace, user="alice")
        client.datasets.register(iris, "uci/iris", description="Fisher's iris flowers.")
        client.datasets.register(breast_cancer, "uci/breast-cancer", description="Wisconsin.")
    finally:
        workspace.close()
    return home


@pytest.fixture(autouse=True)
def _no_leftover_shell() -> Iterator[None]:
    InteractiveShell.clear_instance()
    yield
    InteractiveShell.clear_instance()


def cancer(client: LocalClient, *models: str, **traits: Any) -> TrainWidget:
    """A widget set up for breast cancer's binary target with these families."""
    return TrainWidget(
        client.datasets, "uci/breast-cancer", target="target", model=models, **traits
    )


def values(box: Any) -> list[Any]:
    return [value for _, value in box.options]


# -- choosing data, target and models --------------------------------------------------------


def test_picking_a_dataset_lists_its_columns_as_targets(
    client: LocalClient, iris: pd.DataFrame
) -> None:
    widget = TrainWidget(client.datasets)
    assert set(values(widget.dataset_box)) == {"uci/iris", "uci/breast-cancer"}
    assert widget.dataset == ""

    widget.dataset_box.value = "uci/iris"  # a click in the picker

    assert widget.dataset == "uci/iris"
    assert values(widget.target_box) == ["", *iris.columns]
    assert widget.target == ""
    assert "uci/iris@1 · 150 rows · 5 columns" in widget.dataset_info.value
    widget.target_box.value = "species"
    assert widget.target == "species"


def test_search_narrows_the_picker_and_a_pinned_ref_is_kept(client: LocalClient) -> None:
    widget = TrainWidget(client.datasets)
    widget.search_box.value = "wisconsin"
    assert values(widget.dataset_box) == ["uci/breast-cancer"]

    widget.dataset = "uci/iris@1"  # from code, pinned

    assert widget.dataset_box.value == "uci/iris@1"
    assert "species" in values(widget.target_box)


def test_typing_words_selects_the_best_match(client: LocalClient) -> None:
    widget = TrainWidget(client.datasets)

    widget.search_box.value = "iris"

    assert widget.dataset == "uci/iris" and widget.dataset_box.value == "uci/iris"
    assert "species" in values(widget.target_box)
    widget.dataset = "uci/iris@1"
    widget.search_box.value = "uci"  # the pinned version of a match stays chosen
    assert widget.dataset == "uci/iris@1"


def test_the_status_line_sits_under_the_buttons(client: LocalClient) -> None:
    widget = TrainWidget(client.datasets)
    rows = list(widget.children)
    buttons = next(i for i, row in enumerate(rows) if widget.register_button in row.children)

    widget.register_model()  # nothing trained yet: refused, next to Register

    assert rows.index(widget.status_line) == buttons + 1
    assert "train a model first" in widget.status_line.value


def test_a_round_default_stays_round_on_its_slider(client: LocalClient) -> None:
    widget = TrainWidget(client.datasets, model="mlp")
    slider = widget.forms["mlp"].inputs["dropout"].control

    assert slider.step == 0.001 and slider.value == 0.1
    assert round(slider.value / slider.step) * slider.step == pytest.approx(0.1, abs=1e-12)


def test_a_target_the_dataset_lacks_is_cleared_with_a_word(client: LocalClient) -> None:
    widget = TrainWidget(client.datasets, "uci/iris", target="target")
    assert widget.target == ""
    assert widget.status == "uci/iris@1 has no column 'target': choose the column to predict"


@pytest.mark.parametrize("family", ["random_forest", "logistic_regression", "mlp"])
def test_the_form_is_drawn_from_the_family_schema(client: LocalClient, family: str) -> None:
    widget = TrainWidget(client.datasets)
    widget.models_box.value = (family,)

    assert widget.models == (family,)
    assert widget.params_tabs.titles == (family,)
    form = widget.forms[family]
    schema = get_family(family).to_dict()["params"]
    assert list(form.inputs) == [spec["name"] for spec in schema]
    for spec in schema:
        field = form.inputs[spec["name"]]
        assert field.control.description == spec["name"]
        assert field.value == spec["default"]
        assert (field.none_box is not None) == spec["nullable"]
        if spec["type"] == "str":
            assert list(field.control.options) == spec["choices"]
        elif spec["log"] and spec["type"] == "float":
            assert (10**field.control.min, 10**field.control.max) == pytest.approx(
                (spec["low"], spec["high"])
            )
        elif spec["type"] in ("int", "float"):
            assert (field.control.min, field.control.max) == (spec["low"], spec["high"])
    assert widget.params[family] == get_family(family).defaults()


def test_form_and_params_trait_stay_in_step(client: LocalClient) -> None:
    widget = TrainWidget(client.datasets, model="random_forest")
    depth = widget.forms["random_forest"].inputs["max_depth"]
    assert depth.none_box is not None
    assert depth.none_box.value
    assert depth.control.disabled

    depth.none_box.value = False
    depth.control.value = 8
    assert widget.params["random_forest"]["max_depth"] == 8

    widget.params = {"random_forest": {"n_estimators": 300, "max_depth": None}}
    assert widget.forms["random_forest"].inputs["n_estimators"].control.value == 300
    assert depth.value is None


def test_two_families_get_two_forms(client: LocalClient) -> None:
    widget = TrainWidget(client.datasets, model=["knn", "ridge"])
    assert widget.params_tabs.titles == ("knn", "ridge")
    assert set(widget.params) >= {"knn", "ridge"}


def test_an_unknown_family_says_which_exist(client: LocalClient) -> None:
    widget = TrainWidget(client.datasets)
    widget.models = ("random_forrest",)
    assert widget.status.startswith("unknown model 'random_forrest'; did you mean random_forest?")


# -- refused before running ------------------------------------------------------------------


def test_a_bad_parameter_is_refused_without_a_run(client: LocalClient) -> None:
    widget = cancer(client, "logistic_regression", params={"C": -1.0})

    widget.train_button.click()

    assert widget.status == (
        "model 'logistic_regression': C must be a float from 0.0001 to 10000, not -1.0"
    )
    assert "color: var(--jp-error-color1" in widget.status_line.value
    assert not widget.running
    assert widget.wait() is None
    assert widget.result is None
    assert not widget.train_button.disabled


def test_missing_choices_are_named(client: LocalClient) -> None:
    widget = TrainWidget(client.datasets)
    widget.train_button.click()
    assert widget.status == "choose a dataset to train on"
    widget.dataset = "uci/iris"
    widget.train_button.click()
    assert widget.status == "choose the column to predict (target)"
    assert widget.wait() is None


# -- training --------------------------------------------------------------------------------


def test_training_shows_metrics_and_plots(client: LocalClient) -> None:
    widget = cancer(client, "logistic_regression")

    widget.train_button.click()
    assert widget.running or widget.result is not None
    result = widget.wait(timeout=60)

    assert isinstance(result, TrainResult)
    assert result is widget.result
    assert not widget.running
    accuracy = result.metrics["accuracy"]
    assert f"<td>accuracy</td><td>{accuracy:.4g}</td>" in widget.metrics_pane.value
    assert set(widget.results.plots) == {"confusion", "roc"}
    images = widget.plots_box.children
    assert len(images) == 2
    assert all(bytes(image.value).startswith(PNG) for image in images)
    assert widget.status == f"Done: logistic_regression, roc_auc {result.metrics['roc_auc']:.4g}"
    assert widget.live.bar.value == 1.0
    assert widget.live.bar.bar_style == "success"
    assert not widget.register_button.disabled
    assert widget.stop_button.disabled
    assert result.spec["dataset"]["ref"] == "uci/breast-cancer@1"


def test_comparing_families_gives_a_leaderboard(client: LocalClient) -> None:
    widget = cancer(client, "logistic_regression", "knn")
    widget.seed = 3

    widget.train()
    board = widget.wait(timeout=60)

    assert isinstance(board, Leaderboard)
    pane = widget.metrics_pane.value
    assert f"Ranked by <b>{board.metric}</b>" in pane
    assert pane.count("<tr><td>") == 2
    for rank, result in enumerate(board, 1):
        assert f"<tr><td>{rank}</td><td>{result.family}</td>" in pane
        assert result.spec["seed"] == 3
    assert values(widget.register_box) == [r.family for r in board]
    assert widget.register_box.layout.display == ""
    assert widget.status.startswith(f"Done: best of 2: {board.best.family}, ")


def test_stop_ends_a_torch_run_after_the_current_epoch(client: LocalClient) -> None:
    budget = 200
    widget = cancer(client, "mlp", params={"patience": 0, "hidden_units": 8})
    widget.epochs = budget

    def press_stop(change: dict[str, Any]) -> None:
        if "<polyline" in change["new"] and not widget.stop_button.disabled:
            widget.stop_button.click()  # when the live curve first draws: one epoch done

    widget.live.curve.observe(press_stop, names="value")
    widget.train()
    result = widget.wait(timeout=60)

    assert isinstance(result, TrainResult)
    assert result.stopped
    assert 1 <= len(result.history) < budget
    assert widget.status.endswith("(stopped by request)")
    assert widget.live.bar.bar_style == "warning"
    assert widget.live.losses["mlp"][0][0] == 1
    assert not widget.running
    assert not widget.train_button.disabled


def test_a_failure_is_shown_in_plain_words(client: LocalClient) -> None:
    widget = TrainWidget(client.datasets, "uci/iris", target="species", model="ridge")
    widget.task = "regression"

    widget.train()
    assert widget.wait(timeout=60) is None

    assert widget.status.startswith("InvalidInput: target 'species' holds ")
    assert "a regression needs a numeric target" in widget.status
    assert "Traceback" not in widget.status_line.value
    assert widget.live.bar.bar_style == "danger"
    assert not widget.running
    assert not widget.train_button.disabled
    assert widget.stop_button.disabled
    assert widget.register_button.disabled


def test_register_model_without_a_gallery_is_honest(client: LocalClient) -> None:
    widget = cancer(client, "logistic_regression")
    widget.register_button.click()
    assert widget.status == "train a model first"

    widget.train()
    widget.wait(timeout=60)
    widget.register_button.click()

    assert widget.status == NO_GALLERY


def test_register_model_hands_the_chosen_result_and_name_to_the_gallery(
    client: LocalClient,
) -> None:
    received: list[tuple[TrainResult, str]] = []

    def register(result: TrainResult, name: str) -> str:
        received.append((result, name))
        return f"{name}@1"

    widget = cancer(client, "logistic_regression", "knn", register=register)
    assert widget.model_name == ""  # nothing to name before a run
    widget.train()
    board = widget.wait(timeout=60)
    assert isinstance(board, Leaderboard)
    assert widget.model_name == f"uci/breast-cancer-{board.best.family}"
    other = board[1].family
    widget.register_box.value = other  # the suggested name follows the model picked
    assert widget.model_name_box.value == f"uci/breast-cancer-{other}"

    widget.register_button.click()

    assert received == [(board[other], f"uci/breast-cancer-{other}")]
    assert widget.status == f"Registered uci/breast-cancer-{other}@1"

    widget.model_name_box.value = "uci/cancer-screen"  # typed: kept from now on
    widget.register_box.value = board.best.family
    assert widget.model_name == "uci/cancer-screen"
    widget.register_model()
    assert received[-1] == (board.best, "uci/cancer-screen")

    widget.model_name = " "
    assert widget.register_model() is None
    assert widget.status == "type the model's name, 'team/name', beside Register model"


def test_register_model_adds_a_version_to_the_gallery(client: LocalClient) -> None:
    widget = cancer(client, "logistic_regression", register=client.models.register)
    widget.train()
    result = widget.wait(timeout=60)
    assert isinstance(result, TrainResult)
    widget.model_name_box.value = "uci/cancer-screen"

    registered = widget.register_model()

    assert registered.ref == "uci/cancer-screen@1"
    assert widget.status == "Registered uci/cancer-screen@1"
    version = client.models.version("uci/cancer-screen")
    assert version.version == 1
    assert version.family == "logistic_regression"
    assert version.spec["dataset"]["ref"] == "uci/breast-cancer@1"
    widget.register_button.click()  # the same model again: no second version
    assert widget.status == "Already registered as uci/cancer-screen@1"
    assert [v.version for v in client.models.versions("uci/cancer-screen")] == [1]


def test_register_model_shows_the_gallery_refusal(
    local_workspace: Workspace, client: LocalClient
) -> None:
    carol = LocalClient(local_workspace, user="carol")  # no member of team uci
    widget = cancer(client, "logistic_regression", register=carol.models.register)
    widget.train()
    widget.wait(timeout=60)

    assert widget.register_model() is None

    assert "registering model uci/breast-cancer-logistic_regression needs" in widget.status
    assert "error-color" in widget.status_line.value


# -- ll.train_widget and the static copy -----------------------------------------------------


def test_ll_train_widget_autoruns_and_waits(
    client: LocalClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lepton_lab.client, "_default", client)

    widget = ll.train_widget(
        "uci/breast-cancer", target="target", model="logistic_regression", autorun=True, seed=1
    )

    assert isinstance(widget.result, TrainResult)  # it waited
    assert widget.result.spec["seed"] == 1
    edges = client.workspace.datasets.lineage(client.actor(), "uci/breast-cancer")
    assert ("dataset:uci/breast-cancer@1", widget.result.node, "trained_on") in {
        (e.src, e.dst, e.kind) for e in edges
    }


def test_in_ipython_a_headless_run_leaves_html_and_png(
    client: LocalClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lepton_lab.client, "_default", client)
    InteractiveShell.instance()

    with capture_output() as captured:
        widget = ll.train_widget(
            "uci/breast-cancer", target="target", model="logistic_regression", autorun=True
        )

    kinds = [set(output.data) for output in captured.outputs]
    assert "application/vnd.jupyter.widget-view+json" in kinds[0]
    last = {kind: output.data[kind] for output in captured.outputs for kind in output.data}
    assert "Lepton Lab training" in last["text/html"]
    assert f"{widget.result.metrics['accuracy']:.4g}" in last["text/html"]  # type: ignore[union-attr]
    assert last["image/png"]

    with capture_output() as cleared:
        widget._view_count = 1  # a frontend reports a view: no second copy of the result
    assert all("image/png" not in output.data for output in cleared.outputs)
    assert cleared.outputs  # the outputs were updated to nothing


def test_a_live_frontend_gets_no_static_copy(client: LocalClient) -> None:
    InteractiveShell.instance()
    widget = cancer(client, "logistic_regression")
    widget._view_count = 1  # JupyterLab has drawn it

    with capture_output() as captured:
        widget.train()
        widget.wait(timeout=60)

    assert captured.outputs == []


# -- pieces ----------------------------------------------------------------------------------


def test_loss_svg_draws_training_and_validation_lines() -> None:
    svg = loss_svg({"mlp": [(1, 0.7, 0.8), (2, 0.5, 0.6)], "<cnn>": [(1, 0.9, None)]})
    assert svg.count("<polyline") == 3
    assert 'stroke-dasharray="4 3"' in svg
    assert "&lt;cnn&gt;" in svg
    assert "<cnn>" not in svg
    assert loss_svg({}) == ""


def test_the_live_view_records_every_epoch_but_redraws_a_few_times_a_second() -> None:
    view = LiveView()
    view.reset(["mlp"], {"mlp": 1000})
    redraws: list[str] = []
    view.curve.observe(lambda change: redraws.append(change["new"]), names="value")

    for epoch in range(1, 1001):  # far faster than four a second
        view(ProgressEvent("epoch_end", "mlp", epoch=epoch, total=1000, loss=1 / epoch))
    assert len(view.losses["mlp"]) == 1000
    assert 1 <= len(redraws) <= 3  # the first epoch at once, then at most 4/s
    view(ProgressEvent("model_done", "mlp", step=1, total=1))

    assert len(redraws) <= 4
    assert "epoch 1000" in view.curve.value  # the end shows every epoch
    assert view.bar.value == 1.0


def test_params_given_flat_or_per_family() -> None:
    assert per_family(["knn"], {"n_neighbors": 3}) == {"knn": {"n_neighbors": 3}}
    assert per_family(["knn"], {"knn": {"n_neighbors": 3}}) == {"knn": {"n_neighbors": 3}}
    assert per_family(["knn", "mlp"], {"mlp": {"layers": 1}}) == {"mlp": {"layers": 1}}
    assert per_family(["knn"], None) == {"knn": {}}
    arguments = {"model": ["knn", "mlp"], "params": {"knn": {}, "mlp": {"epochs": 9}}}
    assert epoch_budgets(arguments | {"epochs": None}) == {"mlp": 9}
    assert epoch_budgets(arguments | {"epochs": 4}) == {"mlp": 4}


def test_widget_state_serialises_for_the_frontend(client: LocalClient) -> None:
    """Built only of stock ipywidgets: JupyterLab renders it with no extension of ours."""
    from ipywidgets.embed import embed_data

    widget = cancer(client, "logistic_regression")
    widget.train()
    widget.wait(timeout=60)

    state = json.dumps(embed_data(views=[widget])["manager_state"])

    assert "ll-metrics" in state
    assert '"_view_count": 0' in state
