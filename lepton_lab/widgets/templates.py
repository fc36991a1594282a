"""The template gallery: ``ll.templates.browse()``.

Search the templates you may run; each shows as a card (title, ``name@version``,
description, tags, kernel, GPUs).  Open one and its parameter form appears, drawn from its
schema (:mod:`.forms`), with the GPUs to ask for and an optional seed; Run submits it as a
job and a :class:`~lepton_lab.widgets.jobs.JobMonitor` follows it below the form.

State lives in traits (``query``, ``selected``, ``status``); the handlers only call the
templates and jobs APIs and draw what comes back.  Checking parameters is the job
service's business: what it refuses is shown in red in the form, never raised.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as w
from traitlets import Unicode

from lepton_lab.client.templates import Templates
from lepton_lab.errors import InvalidInput
from lepton_lab.widgets import jobs_render as draw
from lepton_lab.widgets.controls import shows_errors
from lepton_lab.widgets.forms import ParameterForm
from lepton_lab.widgets.jobs import JobMonitor, close_all
from lepton_lab.widgets.layout import StaticHTML, responsive
from lepton_lab.widgets.train_render import status_html

if TYPE_CHECKING:
    from lepton_lab.client.api import DatasetsAPI
    from lepton_lab.client.backend import Backend
    from lepton_lab.client.handles import Job
    from lepton_lab.client.jobs import Jobs
    from lepton_lab.runs.info import TemplateInfo

__all__ = ["DATASET_CHOICES", "BrowsableTemplates", "TemplateGallery"]

#: Datasets offered by a dataset parameter's box (typing any other reference works too).
DATASET_CHOICES = 50


class TemplateGallery(StaticHTML, w.VBox):  # type: ignore[misc]
    """Find a template, fill in its parameters, run it as a job and follow the job.

    ``TemplateGallery(ll.templates, ll.jobs, query="report", datasets_api=ll.datasets)``;
    usually made by ``ll.templates.browse()``.  ``datasets_api`` (optional) fills the
    choices of dataset parameters with the datasets you can see.  The controls are public
    attributes: ``search_box``, ``search_button``, ``cards_box``, ``card_rows`` (one per
    template), ``card_buttons`` (by template name), and in the ``detail`` pane (shown in
    ``cards_box`` right under the open template's card) ``card_pane``, ``form``, ``gpus_box``,
    ``seed_box``, ``run_button``, ``form_error``, ``monitor_box``; ``status_line`` shows
    :attr:`status`.  After Run: :attr:`last_job` and :attr:`monitor`.
    """

    query = Unicode("", help="Words searched in template names, titles, descriptions and tags.")
    selected = Unicode("", help="The template whose form is shown ('dataset-report', 'team/name').")
    status = Unicode("", read_only=True, help="The last message: what was queued or what failed.")

    def __init__(
        self,
        templates_api: Templates,
        jobs_api: Jobs,
        *,
        query: str = "",
        datasets_api: DatasetsAPI | None = None,
        poll: float = 1.0,
        autostart: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.api, self.jobs, self.datasets = templates_api, jobs_api, datasets_api
        self.poll, self.autostart = poll, autostart
        self.templates: list[TemplateInfo] = []
        self.template: TemplateInfo | None = None
        """The template whose form is shown (its exact version)."""
        self.form: ParameterForm | None = None
        self.last_job: Job | None = None
        self.monitor: JobMonitor | None = None
        self.query = query
        self._build()
        responsive(self, "lepton-template-gallery")  # its CSS class: a hook for the browser test
        self._connect()
        self.reload()

    # -- building ------------------------------------------------------------------------

    def _build(self) -> None:
        """Create the controls; no API call and no handler yet."""
        self.search_box = w.Text(
            value=self.query, placeholder="search templates", continuous_update=False
        )
        self.search_button = w.Button(description="Search", icon="search")
        self.cards_box = w.VBox()
        self.card_buttons: dict[str, w.Button] = {}
        self.card_pane = w.HTML()
        self.form_box = w.VBox()
        self.gpus_box = w.BoundedIntText(value=0, min=0, max=64, description="GPUs")
        # "job seed", not "seed": many templates have a parameter called seed of their own.
        self.seed_box = w.Text(
            placeholder="random",
            description="job seed",
            tooltip="The job's random seed (recorded); empty for a random one",
        )
        self.run_button = w.Button(description="Run", icon="play", button_style="primary")
        self.form_error = w.HTML()
        self.monitor_box = w.VBox()
        self.detail = w.VBox(
            [
                self.card_pane,
                self.form_box,
                w.HBox([self.gpus_box, self.seed_box]),
                self.run_button,
                self.form_error,
                self.monitor_box,
            ]
        )
        self.detail.layout.display = "none"
        self.detail.add_class("lepton-template-form")
        self.card_rows: list[w.HBox] = []  # one per template listed, the detail not included
        self.status_line = w.HTML()
        self.children = [
            w.HBox([self.search_box, self.search_button]),
            self.cards_box,
            self.status_line,
        ]

    def _connect(self) -> None:
        """Wire controls to traits and traits to the API, in one place."""
        w.link((self.search_box, "value"), (self, "query"))
        self.search_button.on_click(lambda _: self.reload())
        self.run_button.on_click(lambda _: self.run())
        self.observe(lambda _: self.reload(), names="query")
        self.observe(lambda _: self._on_selected(), names="selected")

    def _select(self, name: str) -> Callable[[w.Button], None]:
        return lambda _: setattr(self, "selected", name)

    # -- the cards -----------------------------------------------------------------------

    @shows_errors
    def reload(self) -> None:
        """List the templates matching :attr:`query` as cards (one list call)."""
        self.templates = self.api.list(self.query)
        for row in self.card_rows:
            close_all(row)
        self.card_buttons = {}
        cards = []
        for info in self.templates:
            button = w.Button(description="Open", icon="folder-open")
            button.on_click(self._select(info.name))
            self.card_buttons[info.name] = button
            card = w.HTML(draw.template_card_html(info, selected=info.name == self.selected))
            cards.append(w.HBox([card, button]))
        self.card_rows = cards
        self._place_detail()

    def _redraw_cards(self) -> None:
        """Show which card is selected (no API call)."""
        for info, row in zip(self.templates, self.card_rows, strict=False):
            row.children[0].value = draw.template_card_html(
                info, selected=info.name == self.selected
            )
        self._place_detail()

    def _place_detail(self) -> None:
        """The form right under its template's card, not below every card of the list."""
        names = [info.name for info in self.templates]
        if not self.card_rows:
            self.cards_box.children = [w.HTML("<i>No templates match.</i>"), self.detail]
            return
        at = names.index(self.selected) + 1 if self.selected in names else len(names)
        rows = self.card_rows
        self.cards_box.children = [*rows[:at], self.detail, *rows[at:]]

    # -- the form ------------------------------------------------------------------------

    @shows_errors
    def _on_selected(self) -> None:
        """Show the selected template's card and parameter form."""
        self.detail.layout.display = "none"
        for child in self.form_box.children:
            close_all(child)  # the previous template's form
        self.form_box.children = []
        if self.monitor is not None:  # it followed the previous template's job
            close_all(self.monitor)
        self.monitor_box.children = []
        self.template, self.form, self.monitor = None, None, None
        self.form_error.value = ""
        self._redraw_cards()
        if not self.selected:
            return
        info = self.api.get(self.selected)
        needs_datasets = any(spec.kind == "dataset" for spec in info.parameters)
        self.form = ParameterForm(info.parameters, self._dataset_refs() if needs_datasets else ())
        self.template = info
        self.card_pane.value = draw.template_form_header_html(info)
        self.form_box.children = [self.form]
        self.gpus_box.value = info.gpus
        self.seed_box.value = ""
        self.detail.layout.display = ""

    def _dataset_refs(self) -> list[str]:
        """The datasets offered by dataset parameters: those you can see (none without an API)."""
        if self.datasets is None:
            return []
        return [d.ref for d in self.datasets.search("", limit=DATASET_CHOICES)]

    # -- running -------------------------------------------------------------------------

    @shows_errors
    def run(self) -> Job:
        """Submit the selected template with the form's values, as Run does.

        Returns the job, or None when it could not be submitted: the form says why in red.
        """
        if self.template is None or self.form is None:
            raise InvalidInput("open a template first")
        parameters = self.form.values()  # unreadable JSON is refused here, inline
        job = self.jobs.submit(
            self.template.ref, parameters, gpus=self.gpus_box.value, seed=self._seed()
        )
        self.last_job = job
        self._follow(job.id)
        self._say(f"Queued job {job.id} ({self.template.ref})")
        self.resend()  # the saved output keeps the job queued
        return job

    def _seed(self) -> int | None:
        """The seed typed, or None for a random one (chosen and recorded by the service)."""
        text = self.seed_box.value.strip()
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            raise InvalidInput(
                f"seed {text!r} is not a whole number; leave it empty for a random one"
            ) from None

    def _follow(self, job_id: str) -> None:
        """Show a monitor for the job just queued (in place of the previous one)."""
        if self.monitor is not None:
            close_all(self.monitor)
        self.monitor = JobMonitor(self.jobs, job_id, poll=self.poll, autostart=self.autostart)
        self.monitor_box.children = [self.monitor]

    def close(self) -> None:
        """Stop the job monitor's polling and close the widget and its parts."""
        for child in self.children:
            close_all(child)  # the job monitor among them (the form is in the cards' box)
        super().close()

    def _say(self, message: str, *, error: bool = False) -> None:
        """Show ``message`` (escaped: errors quote user input) in the form while one is
        open, else on the status line."""
        self.set_trait("status", message)
        shown = status_html(message, error=error)
        in_form = self.template is not None
        self.form_error.value = shown if in_form else ""
        self.status_line.value = "" if in_form else shown

    def __repr__(self) -> str:
        return f"<TemplateGallery {self.selected or '(none selected)'}>"


class BrowsableTemplates(Templates):
    """``ll.templates``, with :meth:`browse`: the gallery runs jobs with ``jobs`` and offers
    ``datasets`` (the client's) to dataset parameters."""

    def __init__(self, backend: Backend, jobs: Jobs, datasets: DatasetsAPI | None = None) -> None:
        super().__init__(backend)
        self._jobs = jobs
        self._datasets = datasets

    def browse(self, query: str = "") -> TemplateGallery:
        """The template gallery widget: cards, a parameter form per template, a Run button."""
        return TemplateGallery(self, self._jobs, query=query, datasets_api=self._datasets)
