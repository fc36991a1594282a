"""The template gallery driven like a user, on a real workspace: state checked in Python.

No job runs here (no runner): Run queues the job, and the tests read the queue.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import ipywidgets as w
import nbformat
import pandas as pd
import pytest

from lepton_lab.client import LocalClient
from lepton_lab.config import Settings
from lepton_lab.runs.info import ParameterSpec
from lepton_lab.widgets import JobMonitor, TemplateGallery
from lepton_lab.widgets.forms import ParameterForm
from lepton_lab.widgets.namespaces import namespace
from lepton_lab.workspace import Workspace

PARAMS = "alice-team/params"

PARAMETERS_CELL = """\
count = 3  # how many rows
rate = 0.5  # the learning rate
title = "hello"  # a title
flag = True  # a switch
items = [1, 2]  # numbers to use
options = {"depth": 2}  # more settings
model = "a"  # the model family
data = "agri/wine"  # the dataset to read
needed: str = None  # must be given
extra = None  # anything at all
"""

TEMPLATE_FILES = Path(__file__).resolve().parents[2] / "notebook_templates"


def params_notebook(path: Path) -> Path:
    """A notebook with a parameter of every type, choices, a dataset and a required one."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    notebook.metadata["lepton"] = {
        "title": "Every parameter",
        "description": "One parameter of each type, for the form.",
        "tags": ["testing"],
        "resources": {"gpus": 1},
        "parameters": {"model": {"choices": ["a", "b"]}, "data": {"kind": "dataset"}},
    }
    notebook.cells = [
        nbformat.v4.new_code_cell(PARAMETERS_CELL, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print(count, rate, title)"),
    ]
    nbformat.write(notebook, path)
    return path


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, wine: pd.DataFrame) -> Path:
    """A workspace with agri/wine (the dataset report's default) and alice-team/params."""
    folder = tmp_path_factory.mktemp("template-gallery")
    home = folder / "ws"
    workspace = Workspace(Settings(home=home, user="alice", auto_start_runner=False))
    try:
        client = LocalClient(workspace, user="alice")
        client.datasets.register(wine, "agri/wine", description="Wine recognition data.")
        client.teams.create("alice-team")
        client.templates.publish(params_notebook(folder / "params.ipynb"), PARAMS)
    finally:
        workspace.close()
    return home


@pytest.fixture
def gallery(client: LocalClient) -> Iterator[TemplateGallery]:
    """A gallery whose job monitors are driven by hand (no polling thread)."""
    made = TemplateGallery(
        client.templates, client.jobs, datasets_api=client.datasets, autostart=False
    )
    yield made
    made.close()


def open_params(gallery: TemplateGallery) -> ParameterForm:
    gallery.card_buttons[PARAMS].click()
    assert gallery.form is not None, gallery.status
    return gallery.form


def fill_required(form: ParameterForm) -> None:
    form.fields["needed"].control.value = "given"


def queued(client: LocalClient) -> int:
    return client.jobs.list().total


# -- the cards ---------------------------------------------------------------------------------


def test_lists_the_shipped_and_published_templates(gallery: TemplateGallery) -> None:
    names = [info.name for info in gallery.templates]
    shipped = sorted(p.stem for p in TEMPLATE_FILES.glob("*.ipynb"))
    assert names == [*shipped, PARAMS]  # shipped ones first, by name
    assert set(gallery.card_buttons) == set(names)
    cards = {n: row.children[0].value for n, row in zip(names, gallery.card_rows, strict=True)}
    report, params = cards["dataset-report"], cards[PARAMS]
    assert "Dataset report" in report and "dataset-report@1" in report
    assert "kernel <code>python3</code>" in report and "0 GPUs" in report
    assert "needs 1 GPU" not in report
    assert "Every parameter" in params and f"{PARAMS}@1" in params
    assert "needs 1 GPU" in params and "<code>testing</code>" in params
    assert gallery.detail.layout.display == "none"


def test_search_narrows_the_cards(gallery: TemplateGallery) -> None:
    gallery.search_box.value = "histograms"
    assert gallery.query == "histograms"
    assert [info.name for info in gallery.templates] == ["dataset-report"]

    gallery.query = "no-such-words"
    assert gallery.templates == []
    assert "No templates match" in gallery.cards_box.children[0].value


def test_client_browse_makes_a_gallery(client: LocalClient) -> None:
    made = namespace(client, "templates").browse("report")  # ll.templates.browse()
    try:
        assert isinstance(made, TemplateGallery)
        assert [info.name for info in made.templates] == ["dataset-report"]
    finally:
        made.close()


# -- the form ----------------------------------------------------------------------------------


def test_selecting_builds_an_input_per_type(gallery: TemplateGallery) -> None:
    form = open_params(gallery)

    assert gallery.selected == PARAMS
    assert gallery.detail.layout.display == ""
    assert "Every parameter" in gallery.card_pane.value
    assert "<b>Run " in gallery.card_pane.value  # a header for the form, not a second card
    assert "ll-template-card" not in gallery.card_pane.value
    controls = {name: field.control for name, field in form.fields.items()}
    expected = {
        "count": w.IntText,
        "rate": w.FloatText,
        "title": w.Text,
        "flag": w.Checkbox,
        "items": w.Textarea,
        "options": w.Textarea,
        "model": w.Dropdown,
        "data": w.Combobox,
        "needed": w.Text,
        "extra": w.Textarea,
    }
    assert {name: type(control) for name, control in controls.items()} == expected
    assert (controls["count"].value, controls["rate"].value) == (3, 0.5)
    assert (controls["title"].value, controls["flag"].value) == ("hello", True)
    assert json.loads(controls["items"].value) == [1, 2]
    assert json.loads(controls["options"].value) == {"depth": 2}
    assert controls["model"].options == (("a", "a"), ("b", "b")) and controls["model"].value == "a"
    assert controls["data"].value == "agri/wine"
    assert "agri/wine" in controls["data"].options
    assert controls["needed"].description == "needed *"
    assert "<b>required</b>" in form.fields["needed"].help.value
    assert "the learning rate" in form.fields["rate"].help.value
    assert form.fields["extra"].none_box is not None and form.fields["extra"].none_box.value
    assert gallery.gpus_box.value == 1  # the template's
    assert gallery.seed_box.value == ""


def test_run_queues_a_job_with_typed_parameters(
    client: LocalClient, gallery: TemplateGallery
) -> None:
    form = open_params(gallery)
    fill_required(form)
    form.fields["count"].control.value = 10
    form.fields["rate"].control.value = 0.25
    form.fields["flag"].control.value = False
    form.fields["items"].control.value = "[3, 4, 5]"
    form.fields["model"].control.value = "b"
    gallery.gpus_box.value = 0
    gallery.seed_box.value = "42"

    gallery.run_button.click()

    job = gallery.last_job
    assert job is not None, gallery.status
    info = client.jobs.get(job.id)
    assert info.status == "queued"
    assert info.template == PARAMS and info.template_version == 1
    assert info.parameters == {
        "count": 10,
        "rate": 0.25,
        "title": "hello",
        "flag": False,
        "items": [3, 4, 5],
        "options": {"depth": 2},
        "model": "b",
        "data": "agri/wine@1",  # pinned to the version it named at submit time
        "needed": "given",
        "extra": None,
    }
    assert (info.gpus, info.seed) == (0, 42)
    assert f"Queued job {job.id}" in gallery.status
    assert job.id in gallery.form_error.value  # said in the form
    assert isinstance(gallery.monitor, JobMonitor)
    assert gallery.monitor_box.children == (gallery.monitor,)
    assert gallery.monitor.job_id == job.id and gallery.monitor.status == "queued"


def test_bad_json_is_shown_inline_and_nothing_is_submitted(
    client: LocalClient, gallery: TemplateGallery
) -> None:
    form = open_params(gallery)
    fill_required(form)
    form.fields["items"].control.value = "[1, 2"

    gallery.run_button.click()

    assert gallery.last_job is None
    assert queued(client) == 0
    assert "parameter items: not valid JSON" in gallery.status
    assert "not valid JSON" in form.fields["items"].error.value
    assert "var(--jp-error-color1" in gallery.form_error.value
    assert form.fields["options"].error.value == ""

    form.fields["items"].control.value = "[1, 2]"
    gallery.run_button.click()
    assert gallery.last_job is not None
    assert form.fields["items"].error.value == ""


def test_what_the_service_refuses_is_shown_inline(
    client: LocalClient, gallery: TemplateGallery
) -> None:
    form = open_params(gallery)
    fill_required(form)
    form.fields["items"].control.value = '{"not": "a list"}'

    gallery.run_button.click()

    assert gallery.last_job is None and queued(client) == 0
    assert "parameter items" in gallery.status and "must be list, not dict" in gallery.status
    assert "must be list, not dict" in gallery.form_error.value
    assert gallery.status_line.value == ""  # in the form, not twice


def test_a_missing_required_parameter_is_the_service_s_message(
    client: LocalClient, gallery: TemplateGallery
) -> None:
    open_params(gallery)

    gallery.run_button.click()

    assert gallery.last_job is None and queued(client) == 0
    assert "needs parameter(s) ['needed']" in gallery.status


def test_a_seed_that_is_not_a_number_is_refused(
    client: LocalClient, gallery: TemplateGallery
) -> None:
    fill_required(open_params(gallery))
    gallery.seed_box.value = "seven"

    gallery.run_button.click()

    assert gallery.last_job is None and queued(client) == 0
    assert "seed 'seven' is not a whole number" in gallery.status


def test_dataset_report_runs_with_a_chosen_dataset(
    client: LocalClient, gallery: TemplateGallery
) -> None:
    gallery.selected = "dataset-report"
    assert gallery.form is not None
    dataset = gallery.form.fields["dataset"].control
    assert isinstance(dataset, w.Combobox)
    assert dataset.value == "agri/wine" and "agri/wine" in dataset.options
    assert gallery.gpus_box.value == 0

    gallery.form.fields["max_columns"].control.value = 4
    job = gallery.run()

    assert job is not None, gallery.status
    info = client.jobs.get(job.id)
    assert info.parameters == {"dataset": "agri/wine@1", "max_columns": 4}


def test_an_unknown_template_is_reported(gallery: TemplateGallery) -> None:
    gallery.selected = "alice-team/nothing"

    assert gallery.form is None
    assert gallery.detail.layout.display == "none"
    assert "alice-team/nothing" in gallery.status
    assert "alice-team/nothing" in gallery.status_line.value


def test_a_new_run_replaces_the_monitor(client: LocalClient, gallery: TemplateGallery) -> None:
    fill_required(open_params(gallery))
    first = gallery.run()
    monitor = gallery.monitor
    second = gallery.run()

    assert first is not None and second is not None and first.id != second.id
    assert gallery.monitor is not monitor
    assert gallery.monitor is not None and gallery.monitor.job_id == second.id
    assert queued(client) == 2


def test_the_form_opens_under_its_card_without_the_last_templates_monitor(
    gallery: TemplateGallery,
) -> None:
    fill_required(open_params(gallery))
    gallery.run()
    monitor = gallery.monitor
    assert monitor is not None

    gallery.selected = "dataset-report"  # its form right below its card, not at the end

    children = list(gallery.cards_box.children)
    card = gallery.card_rows[[t.name for t in gallery.templates].index("dataset-report")]
    assert children.index(gallery.detail) == children.index(card) + 1
    assert gallery.monitor is None and gallery.monitor_box.children == ()
    assert monitor.comm is None  # closed: its thread and widgets are gone
    assert gallery.seed_box.description == "job seed"  # not a second "seed" beside a parameter


# -- the form on its own -----------------------------------------------------------------------


def test_an_expression_default_is_kept_by_leaving_the_box_empty() -> None:
    spec = ParameterSpec("scale", "any", None, "np.pi", optional=True)
    form = ParameterForm([spec])
    field = form.fields["scale"]

    assert field.control.value == ""
    assert "np.pi" in field.control.placeholder
    assert field.none_box is not None and not field.none_box.value
    assert form.values() == {}  # the notebook keeps np.pi

    field.control.value = "1.5"
    assert form.values() == {"scale": 1.5}
    field.none_box.value = True
    assert field.control.disabled
    assert form.values() == {"scale": None}


def test_an_optional_number_can_be_none() -> None:
    spec = ParameterSpec("limit", "int", 3, "3", optional=True)
    form = ParameterForm([spec])
    field = form.fields["limit"]

    assert field.none_box is not None and not field.none_box.value
    assert form.values() == {"limit": 3}
    field.none_box.value = True
    assert form.values() == {"limit": None}


def test_a_template_without_parameters_says_so() -> None:
    form = ParameterForm([])
    assert form.values() == {}
    assert "takes no parameters" in form.children[0].value


def test_widget_state_serialises_for_the_frontend(
    client: LocalClient, gallery: TemplateGallery
) -> None:
    """Stock ipywidgets only, and nothing closed left inside an open box."""
    from ipywidgets.embed import embed_data

    fill_required(open_params(gallery))
    job = gallery.run()
    assert job is not None
    assert job.id in json.dumps(embed_data(views=[gallery])["manager_state"])
    monitor = gallery.monitor
    gallery.selected = "dataset-report"  # the first form and its job's monitor are closed

    state = json.dumps(embed_data(views=[gallery])["manager_state"])

    assert job.id not in state and "Dataset report" in state
    assert monitor is not None and monitor.comm is None
    gallery.close()
    json.dumps(w.Widget.get_manager_state()["state"])  # no open box holds a closed widget
