"""The model gallery: ``ll.models.browse()``.

Search the models you may see, narrow them by team, task and tag, and open one: its card,
the table of its versions, a chart of its headline metric over versions, the lineage of
the version picked (dataset version -> job and template -> model version), the lines
that load it, and Promote, which points an alias (``production`` by default) at it.

State lives in traits (``query``, ``team``, ``task``, ``tag``, ``page``, ``selected``,
``version``, ``alias``, ``status``); the handlers only call the models API (and, for a
job's template, the jobs API) and draw what comes back (:mod:`.gallery_render`).  Who may
move which alias is the gallery service's business: what it refuses is shown in red
beside the Promote button, never raised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as w
from traitlets import Int, Unicode

from lepton_lab.client.backend import Backend
from lepton_lab.client.jobs import Jobs
from lepton_lab.client.models import Models
from lepton_lab.errors import InvalidInput, LeptonLabError
from lepton_lab.paging import MAX_LIMIT
from lepton_lab.widgets import gallery_render as draw
from lepton_lab.widgets.controls import ANY, PagedBrowser, shows_errors
from lepton_lab.widgets.jobs import close_all
from lepton_lab.widgets.layout import StaticHTML, responsive
from lepton_lab.widgets.train_render import figure_png, status_html

if TYPE_CHECKING:
    from collections.abc import Callable

    from lepton_lab.gallery.info import ModelInfo, ModelVersionInfo
    from lepton_lab.paging import Page

__all__ = ["ANY", "DEFAULT_ALIASES", "BrowsableModels", "ModelGallery"]

#: Aliases the alias box offers besides those the model already has (any slug may be typed).
DEFAULT_ALIASES = ("production", "staging")


class ModelGallery(StaticHTML, PagedBrowser, w.VBox):  # type: ignore[misc]
    """Find a model, read its card, versions, metrics and lineage, load it, promote it.

    ``ModelGallery(ll.models, query="churn", jobs_api=ll.jobs)``; usually made by
    ``ll.models.browse()``.  ``jobs_api`` (optional) names the template of the job that
    registered a version in its lineage.  The controls are public attributes:
    ``search_box``, ``search_button``, ``team_box``, ``task_box``, ``tag_box``,
    ``cards_box``, ``card_buttons`` (by model), ``previous_button``, ``page_label``,
    ``next_button``, and in the ``detail`` pane ``card_pane``, ``versions_pane``,
    ``chart``, ``version_box``, ``lineage_pane``, ``code_box``, ``alias_box``,
    ``promote_button``, ``message_line``; ``status_line`` shows :attr:`status` while no
    model is open.  ``results`` is the page shown, ``model`` and ``versions`` the model open.
    """

    query = Unicode("", help="Words searched in model names, teams and tasks; '' lists all.")
    task = Unicode(ANY, help="Only models for this task (binary, regression, …); '' for any.")
    version = Int(0, min=0, help="The version shown, loaded and promoted; 0 when none is.")
    alias = Unicode("production", help="The alias Promote points at the version shown.")
    status = Unicode("", read_only=True, help="The last message: what was done or what failed.")

    def __init__(
        self,
        models_api: Models,
        *,
        query: str = "",
        team: str | None = None,
        task: str | None = None,
        tag: str | None = None,
        jobs_api: Jobs | None = None,
        page_size: int = 20,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.api, self.jobs = models_api, jobs_api
        self.results: Page[ModelInfo] | None = None
        self.model: ModelInfo | None = None
        """The model open in the detail pane."""
        self.versions: list[ModelVersionInfo] = []
        """Its versions, newest first."""
        self.query, self.team, self.task, self.tag = query, team or ANY, task or ANY, tag or ANY
        self.page_size = page_size
        self._build()
        responsive(self, "lepton-model-gallery")  # its CSS class: a hook for the browser test
        self._connect()
        self.reload()

    # -- building ------------------------------------------------------------------------

    def _build(self) -> None:
        """Create the controls; no API call and no handler yet."""
        self._build_search("models", {"team": "all teams", "task": "all tasks", "tag": "all tags"})
        self.team_box, self.task_box, self.tag_box = self.filter_boxes.values()
        self.cards_box = w.VBox()
        self.card_buttons: dict[str, w.Button] = {}
        self.card_pane = w.HTML()
        self.versions_pane = w.HTML()
        # At the figure's own size: stretched to the output's width it dwarfs the card.
        self.chart = w.Image(format="png", layout=w.Layout(width="600px", max_width="100%"))
        self.version_box = w.Dropdown(options=[], description="version")
        self.version_box.layout.width = "36em"
        self.lineage_pane = w.HTML()
        self.code_box = w.Textarea(description="load code", rows=2)
        self.code_box.layout.width = "100%"
        self.alias_box = w.Combobox(
            value=self.alias, options=list(DEFAULT_ALIASES), description="alias"
        )
        self.promote_button = w.Button(description="Promote", icon="arrow-up")
        self.message_line = w.HTML()
        self.status_line = w.HTML()
        self.detail = w.VBox(
            [
                self.card_pane,
                w.HTML("<b>Versions</b>"),
                self.versions_pane,
                self.chart,
                self.version_box,
                self.lineage_pane,
                self.code_box,
                w.HBox([self.alias_box, self.promote_button]),
                self.message_line,
            ]
        )
        search = w.HBox([self.search_box, self.search_button])
        self._arrange([search, w.HBox(list(self.filter_boxes.values()))], self.cards_box)

    def _connect(self) -> None:
        """Wire controls to traits and traits to the API, in one place."""
        self._connect_search()
        w.link((self, "alias"), (self.alias_box, "value"))
        self.promote_button.on_click(lambda _: self.promote())
        self.observe(lambda _: self.reload(), names="query")

    def _select(self, ref: str) -> Callable[[w.Button], None]:
        """Open ``ref``; Open on the model already open fetches it again (new versions)."""
        return lambda _: self.reopen() if ref == self.selected else setattr(self, "selected", ref)

    # -- the result list -----------------------------------------------------------------

    @shows_errors
    def reload(self) -> None:
        """Fetch the filter choices for :attr:`query`, the first page of results and the
        model open again (the Search button)."""
        self._fill_filters()
        if self.page:
            self.page = 0  # the page observer fetches it
        else:
            self._fetch_page()
        if self.model is not None:
            self.reopen()

    def _fill_filters(self) -> None:
        """Teams, tasks and tags of the models matching the query (one search call)."""
        found = list(self.api.search(self.query, limit=MAX_LIMIT))
        for trait, label, values in [
            ("team", "all teams", {m.team for m in found}),
            ("task", "all tasks", {m.task for m in found if m.task}),
            ("tag", "all tags", {t for m in found for t in m.tags}),
        ]:
            box = self.filter_boxes[trait]
            current = getattr(self, trait)
            choices = sorted(values | ({current} - {ANY}))
            self._set_control(box, current, [(label, ANY), *[(v, v) for v in choices]])

    @shows_errors
    def refresh(self) -> None:
        """Fetch the current page of results: one search call, ``page_size`` models at most."""
        self._fetch_page()

    def _fetch_page(self) -> None:
        self.results = self.api.search(
            self.query,
            team=self.team or None,
            task=self.task or None,
            tag=self.tag or None,
            limit=self.page_size,
            offset=self.page * self.page_size,
        )
        for row in self.cards_box.children:
            close_all(row)
        self.card_buttons = {}
        rows = []
        for info in self.results:
            button = w.Button(description="Open", icon="folder-open")
            button.on_click(self._select(info.ref))
            self.card_buttons[info.ref] = button
            card = w.HTML(draw.result_card_html(info, selected=info.ref == self.selected))
            rows.append(w.HBox([card, button]))
        self.cards_box.children = rows or [w.HTML("<i>No models match.</i>")]
        self._show_page(self.results, "models")

    def _redraw_cards(self) -> None:
        """Show which card is selected (no API call)."""
        for info, row in zip(self.results or [], self.cards_box.children, strict=False):
            row.children[0].value = draw.result_card_html(info, selected=info.ref == self.selected)

    # -- the detail pane -----------------------------------------------------------------

    @shows_errors
    def _on_selected(self) -> None:
        """Show the selected model's card, versions and chart, then its latest version."""
        # Start from an empty pane, so that a failed call leaves nothing stale to promote,
        # and so that every selection changes ``version`` (its observer draws the rest).
        self.detail.layout.display = "none"
        self.model, self.versions = None, []
        self.version = 0
        self._redraw_cards()
        if not self.selected:
            return
        model = self._show_model()
        self.detail.layout.display = ""
        self.version = model.latest_version

    def _show_model(self) -> ModelInfo:
        """Fetch and draw the model and its versions (the version picked is kept)."""
        self.model = model = self.api.get(self.selected)
        self.versions = self.api.versions(self.selected)
        self.card_pane.value = draw.model_card_html(model)
        self.versions_pane.value = draw.versions_html(self.versions, self.version)
        options = [(draw.version_label(v), v.version) for v in self.versions]
        self._set_control(self.version_box, self.version, options)
        known = sorted(set(model.aliases) - set(DEFAULT_ALIASES))
        self.alias_box.options = [*DEFAULT_ALIASES, *known]
        self._draw_chart()
        return model

    @shows_errors
    def reopen(self) -> None:
        """Fetch the model open again, with the versions registered since it was opened.

        The newest version stays shown when it was; an older one picked stays picked.
        """
        if not self.selected:
            return
        was_newest = self.model is None or self.version == self.model.latest_version
        model = self._show_model()
        if was_newest and self.version != model.latest_version:
            self.version = model.latest_version  # its observer draws the rest
        else:
            self._on_version()

    def _draw_chart(self) -> None:
        """The headline metric over versions, as a PNG; hidden while nothing was measured."""
        measured = any(v.metrics for v in self.versions)
        self.chart.value = figure_png(self.api.plot_compare(self.selected)) if measured else b""
        self.chart.layout.display = "" if measured else "none"

    @shows_errors
    def _on_version(self) -> None:
        """Show the lineage and load code of ``selected@version``."""
        self._set_control(self.version_box, self.version)
        self.lineage_pane.value = self.code_box.value = ""
        self.versions_pane.value = draw.versions_html(self.versions, self.version)
        shown = self.shown_version
        if shown is None or self.model is None:
            return
        newest = self.versions[0]  # newest first
        card = draw.card_for_version(self.model.card, newest, shown)
        self.card_pane.value = draw.model_card_html(self.model, card, shown)
        self.lineage_pane.value = draw.lineage_html(shown, self._template_of(shown.job_id))
        self.code_box.value = draw.load_code(shown.ref)
        self.resend()  # the saved output keeps the version shown

    def _template_of(self, job_id: str) -> str:
        """The template of the job that registered a version, when the jobs API can tell."""
        if not job_id or self.jobs is None:
            return ""
        try:
            job = self.jobs.get(job_id)
        except LeptonLabError:  # a job you may not see: its id alone is drawn
            return ""
        return f"{job.template}@{job.template_version}" if job.template_version else job.template

    @property
    def shown_version(self) -> ModelVersionInfo | None:
        """The version picked, as fetched with the model; None when none is."""
        return next((v for v in self.versions if v.version == self.version), None)

    @property
    def ref(self) -> str:
        """``team/name@N`` of the version shown, or ``""`` when none is."""
        return f"{self.selected}@{self.version}" if self.selected and self.version else ""

    # -- promoting -----------------------------------------------------------------------

    @shows_errors
    def promote(self, alias: str | None = None) -> ModelInfo:
        """Point ``alias`` (default: the alias box) at the version shown, as Promote does.

        Returns the model as it now is, or None when the gallery refused (the message beside
        the button says why: moving ``production`` needs the editor role).
        """
        alias = (self.alias if alias is None else alias).strip()
        if not self.ref:
            raise InvalidInput("open a model and pick a version first")
        ref = self.ref
        info = self.api.promote(ref, alias)
        self._show_model()
        self._on_version()
        self._fetch_page()  # the alias badges of the result list
        self._say(f"{alias} now points at {ref}")
        return info

    def _say(self, message: str, *, error: bool = False) -> None:
        """Show ``message`` (escaped: errors quote user input) beside Promote while a model
        is open, else on the status line."""
        self.set_trait("status", message)
        shown = status_html(message, error=error)
        in_detail = self.model is not None  # else the pane is hidden: say it below
        self.message_line.value = shown if in_detail else ""
        self.status_line.value = "" if in_detail else shown

    def close(self) -> None:
        """Close the widget and every part of it (cards and chart included)."""
        for child in self.children:
            close_all(child)
        super().close()

    def __repr__(self) -> str:
        return f"<ModelGallery {self.ref or self.selected or '(none selected)'}>"


class BrowsableModels(Models):
    """``ll.models``, with :meth:`browse`: the gallery names a version's template with
    ``jobs`` (the client's), when given."""

    def __init__(self, backend: Backend, jobs: Jobs | None = None) -> None:
        super().__init__(backend)
        self._jobs = jobs

    def browse(self, query: str = "") -> ModelGallery:
        """The model gallery widget: search, cards, versions, metrics, lineage, promote."""
        return ModelGallery(self, query=query, jobs_api=self._jobs)
