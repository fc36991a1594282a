"""Driving JupyterLab in the browser: open a notebook, run it, save it, take screenshots.

Every wait is on a condition of the page (Playwright's auto-waiting locators,
``wait_for_function``); nothing sleeps a fixed time.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from playwright.sync_api import Locator, Page, ViewportSize

from tests.e2e.lab import wait_until

__all__ = [
    "WIDGET_CLASSES",
    "Screenshots",
    "code_cell_prompts",
    "open_notebook",
    "run_all_cells",
    "save_notebook",
    "widget_in_output",
]

#: The CSS class each Lepton Lab widget carries (``add_class`` in lepton_lab/widgets/),
#: by the widget class whose text repr would show if the frontend did not render it.
WIDGET_CLASSES = {
    "DatasetBrowser": "lepton-dataset-browser",
    "TrainWidget": "lepton-train-widget",
    "ModelGallery": "lepton-model-gallery",
    "TemplateGallery": "lepton-template-gallery",
    "JobMonitor": "lepton-job-monitor",
}

#: The tallest window a widget screenshot grows the page to, in pixels.
MAX_HEIGHT = 4000

# True once JupyterLab's layout fills the window (it lays out again after a resize).
_LAID_OUT = """() => {
    const bar = document.querySelector('#jp-main-statusbar');
    return bar !== null && Math.abs(bar.getBoundingClientRect().bottom - innerHeight) < 2;
}"""

# True once every code cell shows an execution count ("[12]:") and the kernel is idle.
_ALL_EXECUTED = """() => {
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
    const idle = document.querySelector('.jp-Notebook-ExecutionIndicator[data-status="idle"]');
    return idle !== null && prompts.length > 0
        && prompts.every(p => /^\\[\\d+\\]:$/.test(p.textContent.trim()));
}"""


def open_notebook(page: Page, url: str, kernel_idle: Callable[[], bool]) -> None:
    """Open a notebook and return once ``kernel_idle()``, the left sidebar collapsed (more
    room for the widgets in the screenshots)."""
    page.goto(url)
    page.locator(".jp-Notebook .jp-CodeCell").first.wait_for()
    wait_until(kernel_idle, 90, lambda: "the notebook's kernel to start")
    page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").click()
    page.locator("#jp-left-stack").wait_for(state="hidden")


def run_all_cells(page: Page, timeout: float = 120) -> None:
    """Run ▸ Run All Cells, as a person would; returns once every code cell ran."""
    page.locator("#jp-MainMenu").get_by_text("Run", exact=True).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    # The notebook was never run ("[ ]:" prompts): the condition cannot hold before this run.
    page.wait_for_function(_ALL_EXECUTED, timeout=timeout * 1000, polling=250)


def code_cell_prompts(page: Page) -> list[str]:
    """The prompt of every code cell, ``[3]:`` once it ran."""
    prompts = page.locator(".jp-CodeCell .jp-InputArea-prompt")
    return [text.strip() for text in prompts.all_text_contents()]


def save_notebook(page: Page) -> None:
    """File ▸ Save Notebook; returns once JupyterLab no longer marks the tab as changed."""
    page.locator("#jp-MainMenu").get_by_text("File", exact=True).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Save Notebook$")).click()
    page.locator(".lm-TabBar-tab.jp-mod-dirty").wait_for(state="detached", timeout=30_000)


def widget_in_output(page: Page, widget: str) -> Locator:
    """The rendered ``widget`` (a key of :data:`WIDGET_CLASSES`) in a cell's output."""
    return page.locator(f".jp-OutputArea-output .{WIDGET_CLASSES[widget]}")


@contextlib.contextmanager
def _room_for(widget: Locator) -> Iterator[None]:
    """A window tall enough to show all of ``widget``, scrolled to it.

    The notebook scrolls inside the page: a widget taller than the notebook's panel would
    come out cut in a screenshot, so the window grows for it (JupyterLab lays out again).
    """
    page = widget.page
    size = page.viewport_size or {"width": 1400, "height": 1000}
    box = widget.bounding_box() or {"height": 0}
    needed = min(int(box["height"]) + 400, MAX_HEIGHT)
    if needed > size["height"]:
        _resize(page, {"width": size["width"], "height": needed})
    try:
        widget.scroll_into_view_if_needed()
        yield
    finally:
        _resize(page, size)


def _resize(page: Page, size: ViewportSize) -> None:
    """Resize the window; returns once JupyterLab laid itself out for the new size (its
    status bar at the bottom edge again)."""
    page.set_viewport_size(size)
    page.wait_for_function(_LAID_OUT, timeout=10_000)


class Screenshots:
    """Screenshots of each step in the artifacts folder; with ``LEPTON_LAB_SCREENSHOTS``
    set to a folder (``docs/images``), the ones named for the docs are also written there.
    """

    def __init__(self, artifacts: Path) -> None:
        self.artifacts = artifacts
        docs = os.environ.get("LEPTON_LAB_SCREENSHOTS", "")
        self.docs = Path(docs) if docs else None
        self.taken: list[Path] = []

    def take(self, target: Page | Locator, name: str, *, docs: str = "") -> Path:
        """Screenshot ``target`` (a widget: cropped to it) as ``NAME.png``; also as
        ``DOCS.png`` in the docs folder when one is set and ``docs`` is given."""
        path = self.artifacts / f"{name}.png"
        if isinstance(target, Page):
            target.screenshot(path=path)
        else:
            with _room_for(target):
                target.screenshot(path=path, animations="disabled")
        self.taken.append(path)
        if self.docs is not None and docs:
            self.docs.mkdir(parents=True, exist_ok=True)
            (self.docs / f"{docs}.png").write_bytes(path.read_bytes())
        return path
