"""The welcome notebook in a real JupyterLab, in a real browser (issue #7).

The module's fixtures (``conftest.py``) start JupyterLab and a job runner on a seeded
workspace, open ``Welcome.ipynb`` in headless Chromium and run all its cells.  Then: each
widget rendered as a widget, Train produces metrics, and a template run from the template
gallery succeeds in the job monitor below its form, and in the catalog.
"""

from __future__ import annotations

import re

import nbformat
import pytest
from playwright.sync_api import Locator, Page, expect

from lepton_lab.demo import notebooks_folder
from lepton_lab.demo.welcome import WELCOME
from tests.e2e.conftest import Session
from tests.e2e.lab import USER, client_for
from tests.e2e.notebook import WIDGET_CLASSES, code_cell_prompts, widget_in_output

pytestmark = pytest.mark.timeout(300)

#: What each widget shows once drawn, from the seeded workspace.
EXPECTED_TEXT = {
    "DatasetBrowser": "agri/wine",
    "TrainWidget": "medical/breast-cancer",
    "ModelGallery": "medical/diagnosis",
    "TemplateGallery": "dataset-report@1",
}
#: Seconds a dataset-report job may take from Run to succeeded on a 2-core machine.
JOB_TIMEOUT = 90


def test_every_cell_ran_and_every_widget_rendered_as_a_widget(session: Session) -> None:
    page = session.page
    prompts = code_cell_prompts(page)
    assert len(prompts) == 8 and all(re.fullmatch(r"\[\d+\]:", p) for p in prompts), prompts

    for widget, text in EXPECTED_TEXT.items():
        shown = widget_in_output(page, widget)
        expect(shown).to_have_count(1)
        expect(shown).to_contain_text(text)
    expect(last_cell_monitor(page)).to_contain_text(f"Job {session.seeded_job}")
    # A widget the frontend could not draw shows as its text repr, or as this message.
    for output in page.locator(".jp-OutputArea-output[data-mime-type='text/plain']").all():
        shown_as_text = output.text_content() or ""
        for name in WIDGET_CLASSES:
            assert name not in shown_as_text, f"{name} shown as text: {shown_as_text}"
    expect(page.locator(".jp-Notebook")).not_to_contain_text("Error displaying widget")

    path = notebooks_folder(session.lab.home) / WELCOME  # as saved after the run
    saved = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    outputs = [o for cell in saved.cells if cell.cell_type == "code" for o in cell.outputs]
    errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
    assert not errors, errors
    views = [o for o in outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == len(WIDGET_CLASSES), f"{len(views)} widget outputs in the saved notebook"

    page.locator(".jp-Cell").first.scroll_into_view_if_needed()
    session.shots.take(page, "01-welcome-notebook")
    session.shots.take(last_cell_monitor(page), "02-job-monitor", docs="job-monitor")


def test_dataset_browser_and_model_gallery_open_what_is_picked(session: Session) -> None:
    page, shots = session.page, session.shots
    datasets = widget_in_output(page, "DatasetBrowser")
    choose_dataset(datasets, "agri/wine")
    expect(datasets.get_by_text("178 rows · 14 columns")).to_be_visible()  # its profile
    expect(datasets.get_by_text("alcohol", exact=True).first).to_be_visible()
    shots.take(datasets, "03-dataset-browser", docs="dataset-browser")
    gallery = widget_in_output(page, "ModelGallery")
    button(gallery, "Open").click()
    expect(gallery.get_by_text("Versions", exact=True)).to_be_visible()
    # The load code is drawn last, once the version is chosen.
    expect(gallery.locator("textarea")).to_have_value(re.compile(r"medical/diagnosis@2"))
    shots.take(gallery, "04-model-gallery", docs="model-gallery")


def test_train_button_trains_and_shows_metrics(session: Session) -> None:
    page = session.page
    widget = widget_in_output(page, "TrainWidget")
    session.shots.take(widget, "05-train-widget-before")
    button(widget, "Train").click()

    board = widget.locator("table.ll-leaderboard")
    expect(board).to_be_visible(timeout=120_000)
    expect(widget).to_contain_text(re.compile(r"Done: best of 2: \w+, roc_auc"))
    header = board.locator("thead th").all_text_contents()
    assert {"rank", "model", "accuracy", "roc_auc"} <= set(header), header
    rows = [row.locator("td").all_text_contents() for row in board.locator("tbody tr").all()]
    families = {row[header.index("model")] for row in rows}
    assert families == {"logistic_regression", "hist_gradient_boosting"}, rows
    for row in rows:
        for metric in ("accuracy", "roc_auc"):
            assert 0.85 < float(row[header.index(metric)]) <= 1, (metric, row)
    expect(widget.locator("img")).to_have_count(2)  # the best model's confusion matrix, ROC
    session.shots.take(widget, "06-train-widget-metrics", docs="train-widget")


def test_template_run_from_the_gallery_succeeds(session: Session) -> None:
    page = session.page
    gallery = widget_in_output(page, "TemplateGallery")
    gallery.get_by_placeholder("search templates").fill("report")
    gallery.get_by_placeholder("search templates").press("Enter")
    card = gallery.locator(".widget-hbox", has=page.locator(".ll-template-card")).filter(
        has_text="dataset-report@1"
    )
    expect(gallery.locator(".ll-template-card")).to_have_count(1)
    button(card, "Open").click()
    max_columns = field(gallery, "max_columns")
    max_columns.fill("4")
    max_columns.press("Enter")
    button(gallery, "Run").click()

    monitor = gallery.locator(".lepton-job-monitor")
    expect(monitor).to_contain_text("succeeded", timeout=JOB_TIMEOUT * 1000)
    expect(monitor).to_contain_text("cell 9/9")
    job_id = monitor.locator("code").first.text_content()
    session.shots.take(gallery, "07-template-gallery-job-succeeded", docs="template-gallery")

    workspace, client = client_for(session.lab.home)
    try:
        job = client.jobs.get(job_id or "")
        records = {r.name: r.value for r in client.jobs.records(job.id)}
    finally:
        workspace.close()
    assert (job.status, job.template, job.submitted_by) == ("succeeded", "dataset-report", USER)
    assert job.parameters == {"dataset": "agri/wine@1", "max_columns": 4}  # pinned at submit
    assert job.id != session.seeded_job
    assert records["rows"] == 178 and records["columns"] == 14, records


def last_cell_monitor(page: Page) -> Locator:
    """The job monitor the welcome notebook's last cell shows (not the template gallery's)."""
    return page.locator(".jp-CodeCell").last.locator(".lepton-job-monitor")


def choose_dataset(datasets: Locator, ref: str) -> None:
    """Pick ``ref`` in the dataset browser's result list, as a click would."""
    option = datasets.page.locator("option", has_text=ref)
    results = datasets.locator("select").filter(has=option)
    results.select_option(label=results.locator("option", has_text=ref).text_content() or ref)


def button(widget: Locator, label: str) -> Locator:
    """The button labelled ``label`` inside ``widget`` (its icon is not part of the label)."""
    return widget.locator("button", has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))


def field(widget: Locator, label: str) -> Locator:
    """The input of the control labelled ``label`` inside ``widget``."""
    control = widget.locator(".widget-inline-hbox", has=widget.page.get_by_text(label, exact=True))
    return control.locator("input")
