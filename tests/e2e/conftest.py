"""Fixtures of the browser test: a seeded workspace served by JupyterLab, with a job runner,
and the welcome notebook run in headless Chromium (Debian's package, driven by Playwright).

The test takes about a minute and needs Chromium, so the regular suite (``pytest``,
``make test``) leaves it out: it runs only when ``tests/e2e`` is named on the command line
(``make test-e2e``).  Screenshots, the server's and runner's logs, the browser console and
the executed notebook go to ``$LEPTON_LAB_E2E_ARTIFACTS`` (default ``tests/e2e/artifacts``).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    ViewportSize,
    expect,
    sync_playwright,
)

from lepton_lab.demo import notebooks_folder
from lepton_lab.demo.welcome import WELCOME
from tests.e2e.lab import Lab, lab_environment, seed_workspace, start, start_lab, stop
from tests.e2e.notebook import Screenshots, open_notebook, run_all_cells, save_notebook

HERE = Path(__file__).parent
#: Where Chromium is (Debian's ``chromium`` package; ``make test-e2e`` installs it).
CHROMIUM = os.environ.get("LEPTON_LAB_CHROMIUM", "/usr/bin/chromium")
#: A viewport wide enough for the widgets' rows of controls.
VIEWPORT: ViewportSize = {"width": 1400, "height": 1000}


def _asked_for(config: pytest.Config) -> bool:
    """Whether the command line names this folder, or something in it."""
    root = config.invocation_params.dir
    for arg in config.args:
        path = (root / arg.split("::")[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the browser test unless ``tests/e2e`` was asked for by path."""
    if _asked_for(config):
        return
    dropped = [item for item in items if HERE in item.path.parents]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if HERE not in item.path.parents]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item, for the screenshot taken on failure."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@dataclass(frozen=True)
class Session:
    """What a test works with: the lab, the page showing the run notebook, screenshots."""

    lab: Lab
    page: Page
    shots: Screenshots
    seeded_job: str
    """The job queued before the notebook ran (the one its last cell monitors)."""


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """The folder the screenshots and logs go to (kept after the run)."""
    folder = Path(os.environ.get("LEPTON_LAB_E2E_ARTIFACTS", HERE / "artifacts")).absolute()
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("failed-*.png"):  # an earlier run's failures
        stale.unlink()
    return folder


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[tuple[Lab, str]]:
    """JupyterLab on a seeded workspace, and a job runner on it; the seeded job's id."""
    scratch = tmp_path_factory.mktemp("e2e")
    home = scratch / "home"
    seeded_job = seed_workspace(home)
    env = lab_environment(home, scratch, token=uuid.uuid4().hex)
    runner = start(
        ["--home", str(home), "runner", "--concurrency", "1"], env, artifacts / "runner.log"
    )
    try:
        server, process = start_lab(home, env, artifacts / "lab.log")
        try:
            yield server, seeded_job
        finally:
            stop(process)
    finally:
        stop(runner)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test-e2e` installs Debian's package")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def session(lab: tuple[Lab, str], browser: Browser, artifacts: Path) -> Iterator[Session]:
    """The welcome notebook opened in JupyterLab, run (Run All Cells) and saved."""
    server, seeded_job = lab
    page = browser.new_page(viewport=VIEWPORT)
    # Generous waits: on a busy 2-core machine a kernel call can take seconds.
    page.set_default_timeout(60_000)
    expect.set_options(timeout=30_000)
    console: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        console.append(f"{message.type}: {message.text}")

    page.on("console", keep)
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    try:
        open_notebook(page, server.notebook_url(WELCOME), lambda: server.kernel_idle(WELCOME))
        run_all_cells(page)
        save_notebook(page)
        shutil.copy(notebooks_folder(server.home) / WELCOME, artifacts / "welcome-executed.ipynb")
        yield Session(server, page, Screenshots(artifacts), seeded_job)
    finally:
        page.screenshot(path=artifacts / "last-page.png")
        (artifacts / "browser-console.log").write_text("\n".join(console) + "\n")
        page.close()


@pytest.fixture(autouse=True)
def jp_asyncio_loop() -> None:
    """Replaces pytest-jupyter's fixture (loaded for the server tests), which closes the
    current event loop after each test: here that is Playwright's, running until the end."""


@pytest.fixture(autouse=True)
def jp_server_cleanup() -> None:
    """Replaces pytest-jupyter's fixture: JupyterLab runs in a process of its own here."""


@pytest.fixture(autouse=True)
def _screenshot_on_failure(request: pytest.FixtureRequest, artifacts: Path) -> Iterator[None]:
    """A test that failed leaves a screenshot of the page as it was."""
    yield
    reports = request.node.stash.get(_REPORTS, {})
    if "session" in request.fixturenames and reports.get("call") and reports["call"].failed:
        page: Page = request.getfixturevalue("session").page
        page.screenshot(path=artifacts / f"failed-{request.node.name}.png")
