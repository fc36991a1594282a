"""The JupyterLab extension (labextension/) in a real JupyterLab, in headless Chromium.

JupyterLab and a job runner on the seeded workspace come from ``conftest.py``'s ``lab``
fixture; one page is shared by the tests below, in order: the sidebar lists the demo's
datasets, models, templates and jobs; a dataset opens and its load line lands in a
notebook; a template runs from its form and its job is followed to success, in the Jobs
panel too; a dataset's card renders as markdown (sanitized) and is edited in place;
"Run as job…" from the file browser on a plain notebook, whose output notebook opens; a
promote; the dark theme in an 800 px window; the sidebar past its first page ("Load more",
the team filter).  Screenshots go to the artifacts folder, and to
``$LEPTON_LAB_SCREENSHOTS`` (``docs/images``) for the docs.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from lepton_lab.demo import notebooks_folder
from tests.e2e.lab import MODEL, Lab, client_for
from tests.e2e.notebook import Screenshots

pytestmark = pytest.mark.timeout(300)

#: Seconds a short job may take from Run to succeeded on a busy 2-core machine.
JOB_TIMEOUT = 120
#: A notebook without a parameters cell, run as it is.
PLAIN = "plain.ipynb"
#: The sidebar's page of datasets (``PAGE_SIZE`` in labextension/src/sidebar.ts).
PAGE = 200
#: A card that tries to run script: JupyterLab's sanitizer must leave none of it.
HOSTILE_CARD = (
    "# Irises\n\n**Measured** by hand, in centimetres.\n\n"
    '<img src="x" onerror="window.__leptonXss = 1">'
    "<script>window.__leptonXss = 2</script>\n\n"
    "[a link](javascript:window.__leptonXss=3)"
)


@pytest.fixture(scope="module")
def page(lab: tuple[Lab, str], browser: Browser, artifacts: object) -> Iterator[Page]:
    """JupyterLab opened on its file browser, its Lepton Lab sidebar shown."""
    server, _ = lab
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.set_default_timeout(60_000)
    expect.set_options(timeout=30_000)
    page.goto(f"{server.url}/lab?token={server.token}&reset")
    page.locator("#jp-main-dock-panel").wait_for()
    try:
        yield page
    finally:
        page.close()


@pytest.fixture(scope="module")
def shots(artifacts: object) -> Screenshots:
    assert isinstance(artifacts, Path)
    return Screenshots(artifacts)


def sidebar(page: Page) -> Locator:
    """The Lepton Lab sidebar, opened from its tab if it is not shown."""
    panel = page.locator("#lepton-lab-sidebar")
    if not panel.is_visible():
        page.locator(".jp-SideBar .lm-TabBar-tab[data-id='lepton-lab-sidebar']").click()
    expect(panel).to_be_visible()
    return panel


def section(page: Page, name: str) -> Locator:
    """A section's list (datasets, models, templates, jobs)."""
    return sidebar(page).locator(f"ul[data-section='{name}']")


def item(page: Page, name: str, key: str) -> Locator:
    return section(page, name).locator(f"li[data-key='{key}']")


def current_tab(page: Page) -> Locator:
    """The main area's visible tab content."""
    return page.locator("#jp-main-dock-panel .lm-DockPanel-widget:visible").filter(
        has=page.locator(".jp-LeptonLab-view")
    )


def palette(page: Page, label: str) -> None:
    """Run a command from the command palette."""
    page.keyboard.press("Control+Shift+C")
    search = page.locator(".jp-ModalCommandPalette input, #command-palette input").first
    search.fill(label)
    page.locator(".lm-CommandPalette-item", has_text=label).first.click()


def test_sidebar_lists_datasets_models_templates_and_jobs(
    page: Page, lab: tuple[Lab, str], shots: Screenshots
) -> None:
    _, seeded_job = lab
    expect(item(page, "datasets", "agri/wine")).to_be_visible()
    expect(item(page, "models", MODEL)).to_be_visible()
    expect(item(page, "templates", "dataset-report")).to_be_visible()
    expect(item(page, "jobs", seeded_job)).to_have_count(1)
    # Search and the team filter narrow every section.
    search = sidebar(page).get_by_label("Search datasets, models, templates and jobs")
    search.fill("wine")
    expect(section(page, "datasets").locator("li")).to_have_count(1)
    search.fill("")
    sidebar(page).get_by_label("Team").select_option("medical")
    expect(item(page, "datasets", "agri/wine")).to_have_count(0)
    expect(item(page, "models", MODEL)).to_be_visible()
    sidebar(page).get_by_label("Team").select_option("")
    # Arrow keys move the selection in a list.
    datasets = section(page, "datasets")
    datasets.focus()
    first, second = datasets.locator("li").nth(0), datasets.locator("li").nth(1)
    expect(first).to_have_attribute("aria-selected", "true")
    page.keyboard.press("ArrowDown")
    expect(second).to_have_attribute("aria-selected", "true")
    expect(first).to_have_attribute("aria-selected", "false")
    shots.take(page, "lab-01-sidebar", docs="lab-sidebar")


def test_a_dataset_opens_and_its_load_line_lands_in_a_notebook(
    page: Page, shots: Screenshots
) -> None:
    item(page, "datasets", "agri/wine").click()
    view = page.locator(".jp-LeptonLab-datasetView:visible")
    expect(view.locator("h2")).to_have_text("agri/wine")
    expect(view.get_by_role("table", name="Column profile")).to_contain_text("alcohol")
    expect(view.locator(".jp-LeptonLab-histogram").first).to_be_visible()
    expect(view.locator("pre.jp-LeptonLab-code")).to_contain_text('ll.datasets.load("agri/wine@1")')
    shots.take(page, "lab-02-dataset", docs="lab-dataset")
    view.get_by_role("button", name="Insert the load line into the active notebook").click()
    notebook = page.locator(".jp-NotebookPanel:visible")
    expect(notebook.locator(".jp-Cell").last).to_contain_text('ll.datasets.load("agri/wine@1")')


def test_a_dataset_card_is_markdown_and_is_edited_in_place(
    page: Page, lab: tuple[Lab, str], shots: Screenshots
) -> None:
    item(page, "datasets", "agri/iris").click()
    view = page.locator(".jp-LeptonLab-datasetView:visible")
    expect(view.locator("h2")).to_have_text("agri/iris")
    card = view.locator(".jp-LeptonLab-card")
    # The demo's description is markdown, rendered as a notebook renders it.
    expect(card.locator(".jp-RenderedMarkdown strong").first).to_have_text("Source")
    card.get_by_role("button", name="Edit the card").click()
    editor = card.get_by_role("form", name="Edit the card")
    description = editor.get_by_label("description")
    expect(description).to_be_focused()
    description.fill(HOSTILE_CARD)
    tags = editor.get_by_label("tags")
    tags.fill("flowers, Bad Tag!")
    editor.get_by_role("button", name="Save card").click()
    # The server's refusal stands beside the field it names; nothing was saved.
    expect(editor.locator("[data-field='tags'] [role='alert']")).to_contain_text("not allowed")
    expect(tags).to_have_attribute("aria-invalid", "true")
    shots.take(page, "lab-02b-dataset-card", docs="lab-dataset-card")
    tags.fill("flowers, tabular")
    tags.press("Control+Enter")
    expect(view.locator(".jp-LeptonLab-message")).to_have_text("Card saved.")
    # The tab loaded again: the new card, sanitized as a notebook's markdown cell.
    markdown = view.locator(".jp-LeptonLab-card .jp-RenderedMarkdown")
    expect(markdown.locator("h1")).to_contain_text("Irises")  # and its ¶ anchor
    expect(markdown.locator("strong")).to_have_text("Measured")
    expect(markdown.locator("script, [onerror]")).to_have_count(0)
    expect(markdown.locator("a[href^='javascript']")).to_have_count(0)
    assert page.evaluate("() => window.__leptonXss") is None
    expect(view.locator(".jp-LeptonLab-card .jp-LeptonLab-badge")).to_have_text(
        ["flowers", "tabular"]
    )
    # The sidebar refreshed: its search finds the new words.
    search = sidebar(page).get_by_label("Search datasets, models, templates and jobs")
    search.fill("measured")
    expect(section(page, "datasets").locator("li")).to_have_count(1)
    expect(item(page, "datasets", "agri/iris")).to_be_visible()
    search.fill("")
    server, _ = lab
    workspace, client = client_for(server.home)
    try:
        saved = client.datasets.get("agri/iris")
    finally:
        workspace.close()
    assert saved.description == HOSTILE_CARD
    assert saved.tags == ["flowers", "tabular"]
    # Escape leaves the editor without saving.
    view.get_by_role("button", name="Edit the card").click()
    view.get_by_label("description").fill("not saved")
    page.keyboard.press("Escape")
    expect(view.get_by_role("button", name="Edit the card")).to_be_focused()
    expect(view.locator(".jp-LeptonLab-card h1")).to_contain_text("Irises")


def test_a_template_runs_from_its_form_and_is_followed_in_the_jobs_panel(
    page: Page, lab: tuple[Lab, str], shots: Screenshots
) -> None:
    item(page, "templates", "dataset-report").click()
    view = page.locator(".jp-LeptonLab-templateView:visible")
    field = view.locator("[data-parameter='max_columns'] input")
    field.fill("four")
    view.get_by_role("button", name="Run", exact=True).click()
    expect(view.locator("[data-parameter='max_columns'] [role='alert']")).to_have_text(
        "a whole number"
    )
    field.fill("4")
    shots.take(page, "lab-03-template", docs="lab-template")
    view.get_by_role("button", name="Run", exact=True).click()
    job = page.locator(".jp-LeptonLab-jobView:visible")
    expect(job.locator("[data-status='succeeded']")).to_be_visible(timeout=JOB_TIMEOUT * 1000)
    expect(job.locator(".jp-LeptonLab-records")).to_contain_text("rows")
    shots.take(page, "lab-04-job", docs="lab-job")

    job_id = job.get_attribute("data-job") or ""
    server, _ = lab
    workspace, client = client_for(server.home)
    try:  # a schedule of alice's team shows beside the jobs
        schedule = client.schedules.create(
            "dataset-report", {"dataset": "agri/wine"}, cron="0 6 * * 1-5",
            timezone="Europe/Berlin", name="e2e-morning", team="medical",
        )  # fmt: skip
    finally:
        workspace.close()
    palette(page, "Jobs Panel")
    panel = page.locator(".jp-LeptonLab-jobsPanel:visible")
    row = panel.locator(f"tr[data-job='{job_id}']")
    expect(row).to_have_attribute("data-status", "succeeded")
    scheduled = panel.locator(f"tr[data-schedule='{schedule.id}']")
    expect(scheduled).to_contain_text("medical/e2e-morning")
    expect(scheduled).to_contain_text("0 6 * * 1-5 (Europe/Berlin)")
    panel.get_by_role("button", name=re.compile("^status")).click()  # sortable
    expect(panel.locator("th[aria-sort='ascending']")).to_have_count(1)
    shots.take(page, "lab-05-jobs-panel", docs="lab-jobs-panel")

    workspace, client = client_for(server.home)
    try:
        done = client.jobs.get(job_id)
    finally:
        workspace.close()
    assert done.status == "succeeded"
    assert done.parameters["max_columns"] == 4


def test_run_as_job_on_a_plain_notebook_from_the_file_browser_and_open_its_output(
    page: Page, lab: tuple[Lab, str], shots: Screenshots
) -> None:
    server, _ = lab
    notebook = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    notebook.cells = [nbformat.v4.new_code_cell('print("hello from a plain notebook")')]  # type: ignore[no-untyped-call]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, notebooks_folder(server.home) / PLAIN)  # type: ignore[no-untyped-call]

    page.locator(".jp-SideBar .lm-TabBar-tab[data-id='filebrowser']").click()
    page.locator(
        ".jp-FileBrowser .jp-ToolbarButtonComponent[data-command='filebrowser:refresh']"
    ).click()
    entry = page.locator(f".jp-DirListing-item[title^='Name: {PLAIN}']").first
    entry.click(button="right")
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run as Job…$")).click()
    view = page.locator(".jp-LeptonLab-runView:visible")
    expect(view).to_contain_text("no cell tagged")
    view.get_by_role("button", name="Run", exact=True).click()
    job = page.locator(".jp-LeptonLab-jobView:visible")
    expect(job.locator("[data-status='succeeded']")).to_be_visible(timeout=JOB_TIMEOUT * 1000)
    expect(job.locator(".jp-LeptonLab-logs")).to_contain_text("hello from a plain notebook")
    job.get_by_role("button", name="Open output notebook").click()
    output = page.locator(".jp-NotebookPanel:visible")
    expect(output.locator(".jp-OutputArea-output").first).to_contain_text(
        "hello from a plain notebook"
    )
    assert list((notebooks_folder(server.home) / "lepton-jobs").glob("plain-*.ipynb"))
    shots.take(page, "lab-06-output-notebook")


def test_a_model_version_is_promoted(page: Page, lab: tuple[Lab, str], shots: Screenshots) -> None:
    item(page, "models", MODEL).click()
    view = page.locator(".jp-LeptonLab-modelView:visible")
    expect(view.locator("[data-alias='production']")).to_have_text("production → @1")
    expect(view.locator(".jp-LeptonLab-line").first).to_be_visible()  # metrics over versions
    expect(view.locator(".jp-LeptonLab-lineage li[data-kind='dataset']").first).to_be_visible()
    view.get_by_label("Version to promote").select_option("2")
    view.get_by_label("Alias").select_option("production")
    view.get_by_role("button", name="Promote", exact=True).click()
    expect(view.locator("[data-alias='production']")).to_have_text("production → @2")
    shots.take(page, "lab-07-model", docs="lab-model")
    # Each lineage node is a link: the dataset version it was trained or tested on opens.
    view.locator(".jp-LeptonLab-lineage li[data-kind='dataset'] button").first.click()
    dataset = page.locator(".jp-LeptonLab-datasetView:visible")
    expect(dataset.locator("h2")).to_have_text("medical/breast-cancer")
    expect(dataset.locator("pre.jp-LeptonLab-code")).to_contain_text("medical/breast-cancer@1")
    server, _ = lab
    workspace, client = client_for(server.home)
    try:
        assert client.models.get(MODEL).aliases["production"] == 2
    finally:
        workspace.close()


def test_dark_theme_in_an_800px_window(page: Page, shots: Screenshots) -> None:
    page.set_viewport_size({"width": 800, "height": 800})
    palette(page, "Use Theme: JupyterLab Dark")
    expect(page.locator("body[data-jp-theme-light='false']")).to_have_count(1)
    panel = sidebar(page)
    item(page, "datasets", "agri/wine").click()
    view = page.locator(".jp-LeptonLab-datasetView:visible")
    expect(view.locator("h2")).to_have_text("agri/wine")
    # Nothing in the sidebar is wider than it (the file browser's width at 800 px).
    overflow = panel.evaluate("node => node.scrollWidth - node.clientWidth")
    assert overflow <= 1, overflow
    shots.take(page, "lab-08-dark-800px", docs="lab-dark-800px")
    palette(page, "Use Theme: JupyterLab Light")
    expect(page.locator("body[data-jp-theme-light='true']")).to_have_count(1)


def test_the_sidebar_loads_more_than_a_page(
    page: Page, lab: tuple[Lab, str], shots: Screenshots
) -> None:
    """Past the first page: "Load more" from the keyboard, the team filter on the server.
    (Last of the page's tests: the new datasets push the demo's past the first page.)"""
    server, _ = lab
    workspace, client = client_for(server.home)
    try:
        client.teams.create("bulk", title="Many datasets")
        frame = pd.DataFrame({"x": [1, 2]})
        for i in range(PAGE + 5):
            client.datasets.register(frame, f"bulk/page-{i:03d}")
        total = client.datasets.search(limit=1).total
    finally:
        workspace.close()
    sidebar(page).get_by_role("button", name="Refresh").click()
    datasets = section(page, "datasets")
    more = sidebar(page).locator("button.jp-LeptonLab-more[data-section='datasets']")
    expect(more).to_have_attribute("aria-label", f"Load more datasets ({PAGE} of {total} loaded)")
    expect(datasets.locator("li")).to_have_count(PAGE)
    # The newest come first: the demo's older datasets are not loaded yet…
    expect(item(page, "datasets", "agri/wine")).to_have_count(0)
    # …but the team filter is the server's too, so agri's show.
    team = sidebar(page).get_by_label("Team")
    team.select_option("agri")
    expect(item(page, "datasets", "agri/wine")).to_be_visible()
    expect(more).to_be_hidden()
    team.select_option("")
    expect(more).to_be_visible()
    # From the keyboard: Tab from the list reaches the button, Enter loads the next page.
    datasets.focus()
    page.keyboard.press("Tab")
    expect(more).to_be_focused()
    page.keyboard.press("Enter")
    expect(datasets.locator("li")).to_have_count(total)
    expect(more).to_be_hidden()
    expect(datasets).to_be_focused()
    selected = datasets.locator("li[aria-selected='true']")
    expect(selected).to_have_count(1)
    # The selection is on the first item of the new page (newest first: page-204 to
    # page-005 made the first page); the search covers every page.
    expect(selected).to_have_attribute("data-key", "bulk/page-004")
    search = sidebar(page).get_by_label("Search datasets, models, templates and jobs")
    search.fill("wine")
    expect(datasets.locator("li")).to_have_count(1)
    search.fill("")
    shots.take(page, "lab-09-load-more")


def test_notebook_7_shows_run_as_job_in_the_notebook_toolbar(
    browser: Browser, lab: tuple[Lab, str]
) -> None:
    server, _ = lab
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    try:
        page.goto(f"{server.url}/notebooks/{PLAIN}?token={server.token}")
        button = page.locator(".jp-LeptonLab-runAsJob")
        expect(button).to_be_visible(timeout=60_000)
        button.click()
        expect(page.locator(".jp-LeptonLab-runView")).to_contain_text("no cell tagged")
    finally:
        page.close()


def test_the_extension_is_installed_and_enabled() -> None:
    """`make install` links the built extension into the environment: JupyterLab lists it."""
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter"), "labextension", "list"],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(
        (ln for ln in (listed.stdout + listed.stderr).splitlines() if "lepton-lab" in ln), ""
    )
    assert "enabled" in line and "OK" in line, listed.stdout + listed.stderr
