"""The shared dataset browser: ``ll.datasets.browse()``.

Search, filter and page through the datasets you may see, then open one: its card, a
version picker, the column profile with small histograms, a preview of the first rows, the
line of code that loads it, and a button that loads it into the kernel.

The widget holds state in traits (``query``, ``team``, ``tag``, ``page``, ``selected``,
``version`` ...) and its handlers only call the datasets API and render what comes back:
visibility, search and paging are the catalog's business.  Only one page of results is
fetched at a time, so the browser stays quick over thousands of datasets.
"""

from __future__ import annotations

import html
import keyword
from typing import TYPE_CHECKING, Any

import ipywidgets as w
from traitlets import Int, Unicode

from lepton_lab.client.datasets import Datasets
from lepton_lab.errors import InvalidInput
from lepton_lab.widgets import render
from lepton_lab.widgets.controls import ANY, PagedBrowser, ipython_shell, shows_errors
from lepton_lab.widgets.layout import StaticHTML, responsive

if TYPE_CHECKING:
    import pandas as pd

    from lepton_lab.catalog.info import DatasetInfo
    from lepton_lab.paging import Page

__all__ = ["BrowsableDatasets", "DatasetBrowser"]

#: Rows of preview shown under a dataset.
PREVIEW_ROWS = 20


class DatasetBrowser(StaticHTML, PagedBrowser, w.VBox):  # type: ignore[misc]
    """Browse the shared datasets: search, filter, page, inspect one, load it.

    ``DatasetBrowser(ll.datasets, query="credit", team="finance")``; usually built by
    ``ll.datasets.browse()``.  Set the traits from code or use the controls; both stay in step.

    The controls are public attributes, for tests and for rearranging: ``search_box``,
    ``search_button``, ``team_box``, ``tag_box``, ``results_box``, ``previous_button``,
    ``page_label``, ``next_button``, and in the ``detail`` pane ``card_pane``,
    ``version_box``, ``profile_pane``, ``preview_pane``, ``code_box``, ``variable_box``,
    ``load_button``; ``status_line`` shows :attr:`status`.  ``results`` is the page shown.
    """

    query = Unicode(ANY, help="Words searched in names, cards, tags and columns; '' lists all.")
    version = Int(0, min=0, help="The version of the selected dataset shown; 0 when none is.")
    status = Unicode("", read_only=True, help="The last message: what was loaded or what failed.")

    loaded: pd.DataFrame | None
    """The last data loaded with no IPython shell to put it in (else None)."""

    def __init__(
        self,
        datasets: Datasets,
        query: str = "",
        team: str | None = None,
        tag: str | None = None,
        page_size: int = 20,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.api = datasets
        self.loaded = None
        self.results: Page[DatasetInfo] | None = None
        self.query, self.team, self.tag, self.page_size = query, team or ANY, tag or ANY, page_size
        self._build()
        responsive(self, "lepton-dataset-browser")  # its CSS class: a hook for the browser test
        self._connect()
        self.reload()

    # -- building ------------------------------------------------------------------------

    def _build(self) -> None:
        """Create the controls; no API call and no handler yet."""
        self._build_search("datasets", {"team": "all teams", "tag": "all tags"})
        self.team_box, self.tag_box = self.filter_boxes["team"], self.filter_boxes["tag"]
        self.results_box = w.Select(options=[], rows=min(self.page_size, 15))
        self.results_box.layout.width = "100%"
        self.card_pane = w.HTML()
        self.version_box = w.Dropdown(options=[], description="version")
        self.profile_pane = w.HTML()
        self.preview_pane = w.HTML()
        self.code_box = w.Text(description="load code")
        self.code_box.layout.width = "100%"
        self.variable_box = w.Text(description="variable")
        self.load_button = w.Button(description="Load into kernel", icon="download")
        self.status_line = w.HTML()
        tabs = w.Tab(children=[self.profile_pane, self.preview_pane], titles=("Profile", "Preview"))
        self.detail = w.VBox(
            [
                self.card_pane,
                self.version_box,
                tabs,
                self.code_box,
                w.HBox([self.variable_box, self.load_button]),
            ]
        )
        search = w.HBox([self.search_box, self.search_button, self.team_box, self.tag_box])
        self._arrange([search], self.results_box)

    def _connect(self) -> None:
        """Wire controls to traits and traits to the API, in one place."""
        self._connect_search()
        self.load_button.on_click(lambda _: self.load_into_kernel())
        self.results_box.observe(self._control_changed("selected"), names="value")
        self.observe(self._on_filter, names="query")
        self.observe(self._on_page_size, names="page_size")

    # -- the result list -----------------------------------------------------------------

    @shows_errors
    def reload(self) -> None:
        """Fetch the team and tag choices and the current page of results again."""
        self.refresh()
        self._set_control(self.team_box, self.team, [("all teams", ANY), *self._team_choices()])
        tags = [(f"{tag} ({count})", tag) for tag, count in self.api.tags()]
        if self.tag and self.tag not in {t for _, t in tags}:
            tags.append((self.tag, self.tag))
        self._set_control(self.tag_box, self.tag, [("all tags", ANY), *tags])

    def _team_choices(self) -> list[tuple[str, str]]:
        """Teams owning datasets the user can see (and the current filter)."""
        teams = {team for team, _count in self.api.teams()} | ({self.team} - {ANY})
        return [(team, team) for team in sorted(teams)]

    @shows_errors
    def refresh(self) -> None:
        """Fetch the current page of results: one search call, ``page_size`` datasets at most."""
        self.results = self.api.search(
            self.query,
            team=self.team or None,
            tag=self.tag or None,
            limit=self.page_size,
            offset=self.page * self.page_size,
        )
        options = [(render.result_label(info), info.ref) for info in self.results]
        self._set_control(self.results_box, self.selected, options)
        self._show_page(self.results, "datasets")

    def _on_page_size(self, _change: dict[str, Any]) -> None:
        """The list box shows a page of the new size (15 rows at the most, then it scrolls)."""
        self.results_box.rows = min(self.page_size, 15)

    # -- the detail pane -----------------------------------------------------------------

    @shows_errors
    def _on_selected(self) -> None:
        """Show the selected dataset's card and versions, then its latest version."""
        # Start from an empty pane, so that a failed call below leaves nothing stale (and no
        # stale ``ref`` for the load button), and so that every selection changes ``version``.
        self.detail.layout.display = "none"
        self.version = 0
        self._set_control(self.results_box, self.selected)
        if not self.selected:
            return
        info = self.api.get(self.selected)
        versions = self.api.versions(self.selected)
        self.card_pane.value = render.card_html(info)
        self._set_control(
            self.version_box, None, [(render.version_label(v), v.version) for v in versions]
        )
        self.variable_box.value = render.default_variable(info.name)
        self.detail.layout.display = ""
        self.version = info.latest_version

    @shows_errors
    def _on_version(self) -> None:
        """Show the profile, preview and load code of ``selected@version``."""
        self._set_control(self.version_box, self.version)
        self.profile_pane.value = self.preview_pane.value = self.code_box.value = ""
        if not self.selected or not self.version:
            return
        ref = self.ref
        self.profile_pane.value = render.profile_html(self.api.profile(ref))
        self.preview_pane.value = render.preview_html(self.api.preview(ref, PREVIEW_ROWS))
        self.code_box.value = f'df = ll.datasets.load("{ref}")'
        self.resend()  # the saved output keeps the version shown

    @property
    def ref(self) -> str:
        """``team/name@N`` of the version shown, or ``""`` when none is."""
        return f"{self.selected}@{self.version}" if self.selected and self.version else ""

    # -- loading -------------------------------------------------------------------------

    @shows_errors
    def load_into_kernel(self, variable: str | None = None) -> pd.DataFrame | None:
        """Load the version shown into the kernel as ``variable`` (default: the variable box).

        Outside IPython there is no namespace to fill: the data is kept as :attr:`loaded`.
        Returns the DataFrame, or None when nothing was loaded (the status line says why).
        """
        name = (self.variable_box.value if variable is None else variable).strip()
        if not name.isidentifier() or keyword.iskeyword(name):
            raise InvalidInput(
                f"{name!r} is not a Python variable name: use letters, digits and _, "
                "not starting with a digit"
            )
        if not self.ref:
            raise InvalidInput("select a dataset first")
        frame = self.api.load(self.ref)
        size = f"{len(frame):,} rows, {len(frame.columns)} columns"
        shell = ipython_shell()
        if shell is None:
            self.loaded = frame
            self._say(f"Loaded {self.ref} ({size}); no IPython kernel here: kept as .loaded")
        else:
            shell.user_ns[name] = frame
            self._say(f"Loaded {self.ref} into {name} ({size})")
        return frame

    def _say(self, message: str, *, error: bool = False) -> None:
        """Show ``message`` on the status line (escaped: API errors quote user input)."""
        self.set_trait("status", message)
        color = "var(--jp-error-color1, #d32f2f)" if error else "inherit"
        text = html.escape(message)
        self.status_line.value = f'<span style="color: {color}">{text}</span>' if message else ""


class BrowsableDatasets(Datasets):
    """``ll.datasets``, with :meth:`browse`."""

    def browse(
        self,
        query: str = "",
        *,
        team: str | None = None,
        tag: str | None = None,
        page_size: int = 20,
    ) -> DatasetBrowser:
        """The shared dataset browser widget: search, filter, inspect, load."""
        return DatasetBrowser(self, query=query, team=team, tag=tag, page_size=page_size)
