"""The train panel: ``ll.train_widget()``.

Pick a dataset from the catalog, the column to predict, the task and one model family or
several to compare; adjust the parameters in a form drawn from each family's schema; set
the split, cross-validation, seed, device and epochs; press Train.  Training runs in a
background thread (the notebook stays usable), with a progress bar and a live loss curve;
Stop ends it after the current epoch.  Then: the metrics (a leaderboard when comparing),
the plots, and Register model (under the name typed, by default ``team/dataset-family``).

State lives in traits; the handlers only call the datasets API and
:func:`lepton_lab.training.train`, and draw what comes back (:mod:`.train_render`,
:mod:`.live`).  A headless run leaves a :class:`~.live.StaticCopy` (docs/widgets.md).
"""

from __future__ import annotations

import contextlib
import functools
import html
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import ipywidgets as w
from traitlets import Bool, Dict, Enum, Float, Int, Tuple, Unicode

from lepton_lab.client.api import DatasetsAPI
from lepton_lab.client.recorder import lineage_recorder
from lepton_lab.errors import InvalidInput
from lepton_lab.training import Leaderboard, Throttle, TrainResult, get_family, list_families
from lepton_lab.training import train as run_training
from lepton_lab.training.tasks import TASKS
from lepton_lab.widgets import train_render as draw
from lepton_lab.widgets.controls import ipython_shell, shows_errors
from lepton_lab.widgets.layout import StaticHTML, responsive
from lepton_lab.widgets.live import (
    BackgroundRun,
    LiveView,
    ResultView,
    StaticCopy,
    done_message,
    epoch_budgets,
    run_arguments,
)

__all__ = ["NO_GALLERY", "TrainWidget"]

log = logging.getLogger(__name__)

#: What Register model says until the model gallery plugs a ``register`` callable in.
NO_GALLERY = "the model gallery is not available yet — keep the result: w.result"
#: Datasets listed by the picker (the search narrows them).
PICKER_SIZE = 50

Outcome = TrainResult | Leaderboard


class TrainWidget(StaticHTML, w.VBox):  # type: ignore[misc]
    """Train models on a shared dataset from one cell; usually made by ``ll.train_widget()``.

    ``TrainWidget(ll.datasets, "finance/credit", target="default", model=["knn", "mlp"])``.
    Set the traits from code or use the controls; both stay in step.  ``register`` is
    called by Register model as ``register(result, model_name)`` with the chosen
    :class:`TrainResult` (``ll.models.register`` fits); ``record`` is the lineage hook
    (default: links through ``datasets``).  The controls are public attributes
    (``search_box``, ``dataset_box``, ``target_box``, ``models_box``, ``forms``,
    ``train_button``, ``stop_button``, ``model_name_box``, ``register_button``, ``live``,
    ``metrics_pane``, ``plots_box``, ``status_line`` …).  After a run: :attr:`result`.
    """

    dataset = Unicode("", help="The dataset: 'team/name' (latest version) or 'team/name@N'.")
    query = Unicode("", help="Words searching the catalog; the dataset picker lists matches.")
    target = Unicode("", help="The column to predict; the choices are the dataset's columns.")
    task = Enum(("auto", *TASKS), "auto", help="auto, binary, multiclass or regression.")
    models = Tuple(
        ("hist_gradient_boosting",),
        help="Model families to train: one gives a result, several a leaderboard.",
    )
    params = Dict(help="Parameter values per family, {family: {name: value}}; the form's.")
    split = Float(0.2, min=0.05, max=0.5, help="Share of the rows held out to test on.")
    cv = Int(0, min=0, max=20, help="0: no cross-validation; k: k-fold scores on training rows.")
    seed = Int(0, min=0, help="Seeds the split, the folds, the estimators and torch.")
    device = Unicode("auto", help="auto, cpu, cuda or cuda:N (torch families only).")
    epochs = Int(0, min=0, help="Torch families' epoch budget; 0 keeps their epochs parameter.")
    static_copy = Bool(
        None,
        allow_none=True,
        help="Leave a static HTML summary and PNG plot in the output when a run ends. "
        "None: only while no frontend has shown the widget (headless runs).",
    )
    model_name = Unicode(
        "",
        help="The gallery name Register model uses, 'team/name'. Filled in as "
        "'team/<dataset>-<family>' from the result to register until you type one.",
    )
    running = Bool(False, read_only=True, help="Whether a run is going.")
    status = Unicode("", read_only=True, help="The last message: what happened or went wrong.")

    def __init__(
        self,
        datasets: DatasetsAPI,
        dataset: str | None = None,
        *,
        target: str | None = None,
        model: str | Sequence[str] | None = None,
        params: Mapping[str, Any] | None = None,
        register: Callable[[TrainResult, str], Any] | None = None,
        record: Callable[[str, str, str], None] | None = None,
        **traits: Any,
    ) -> None:
        if model is not None:
            traits["models"] = (model,) if isinstance(model, str) else tuple(model)
        traits.setdefault("_view_count", 0)  # the frontend counts its views of the widget
        super().__init__(**traits)
        self.api = datasets
        self.register = register
        self.record = record if record is not None else lineage_recorder(datasets)
        self.result: Outcome | None = None
        self.live = LiveView()
        self._static = StaticCopy()
        self._run: BackgroundRun | None = None
        self._quiet_controls = False
        self._shown_in: int | None = None
        self._suggested_name = ""  # the model name last filled in (not typed)
        self.dataset, self.target = dataset or "", target or ""
        self.params = draw.per_family(self.models, params)
        self._build()
        responsive(self, "lepton-train-widget")  # its CSS class: a hook for the browser test
        self._connect()
        self.search()
        self._on_models()
        self._on_dataset()

    # -- building ------------------------------------------------------------------------

    def _build(self) -> None:
        """Create the controls; no API call and no handler yet."""
        self.search_box = w.Text(placeholder="search datasets", continuous_update=False)
        self.search_box.description = "dataset"
        self.dataset_box = w.Dropdown(options=[])
        self.dataset_info = w.HTML()
        self.target_box = w.Dropdown(options=[], description="target")
        self.task_box = w.Dropdown(options=["auto", *TASKS], description="task")
        families = [(f"{f.name} ({', '.join(sorted(f.tasks))})", f.name) for f in list_families()]
        self.models_box = w.SelectMultiple(options=families, rows=6, description="models")
        self.models_box.layout.width = "auto"  # as wide as the longest family and its tasks
        self.params_tabs = draw.FormTabs(self._param_changed)
        self.forms = self.params_tabs.forms
        self.split_box = w.FloatSlider(min=0.05, max=0.5, step=0.05, description="test share")
        self.cv_box = w.BoundedIntText(min=0, max=20, description="CV folds")
        self.seed_box = w.BoundedIntText(min=0, max=2**31 - 1, description="seed")
        self.device_box = w.Combobox(options=["auto", "cpu", "cuda"], description="device")
        self.epochs_box = w.BoundedIntText(min=0, max=10_000, description="epochs")
        self.train_button = w.Button(description="Train", icon="play", button_style="primary")
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True)
        self.results = ResultView()
        self.metrics_pane, self.plots_box = self.results.metrics_pane, self.results.plots_box
        self.register_box = self.results.register_box
        self.register_button = self.results.register_button
        self.model_name_box = w.Text(placeholder="team/model-name", description="name")
        self.status_line = w.HTML()
        register_row = [self.register_box, self.model_name_box, self.register_button]
        self.children = [
            w.HBox([self.search_box, self.dataset_box, self.dataset_info]),
            w.HBox([self.target_box, self.task_box]),
            w.HBox([self.models_box, self.params_tabs]),
            w.HBox([self.split_box, self.cv_box, self.seed_box]),
            w.HBox([self.device_box, self.epochs_box]),
            w.HBox([self.train_button, self.stop_button, *register_row]),
            # Right under the buttons: what Register (or Train) refused is seen where it
            # was clicked, not below the metrics and plots.
            self.status_line,
            self.live.widget,
            self.metrics_pane,
            self.plots_box,
        ]

    def _connect(self) -> None:
        """Wire controls to traits and traits to the API, in one place."""
        for trait, box in [
            ("query", self.search_box),
            ("task", self.task_box),
            ("split", self.split_box),
            ("cv", self.cv_box),
            ("seed", self.seed_box),
            ("device", self.device_box),
            ("epochs", self.epochs_box),
            ("model_name", self.model_name_box),
        ]:
            w.link((self, trait), (box, "value"))  # the trait first: it sets the control
        self.dataset_box.observe(self._control_changed("dataset"), names="value")
        self.target_box.observe(self._control_changed("target"), names="value")
        self.models_box.observe(self._control_changed("models"), names="value")
        self.train_button.on_click(lambda _: self._start())
        self.stop_button.on_click(lambda _: self.stop())
        self.register_button.on_click(lambda _: self.register_model())
        self.register_box.observe(lambda _: self._suggest_name(), names="value")
        self.observe(lambda _: self._on_query(), names="query")
        self.observe(lambda _: self._on_dataset(), names="dataset")
        self.observe(lambda _: self._show(self.target_box, self.target), names="target")
        self.observe(lambda _: self._on_models(), names="models")
        self.observe(lambda _: self.params_tabs.show(self.params), names="params")
        self.observe(self._on_views, names="_view_count")

    def _control_changed(self, trait: str) -> Callable[[dict[str, Any]], None]:
        """An observer copying a control's value to ``trait`` (no choice: the default)."""

        def copy(change: dict[str, Any]) -> None:
            if not self._quiet_controls:
                new = change["new"]
                setattr(self, trait, new if new is not None else self.trait_defaults(trait))

        return copy

    @contextlib.contextmanager
    def _quiet(self) -> Iterator[None]:
        """Controls changed from the traits inside this block do not echo back."""
        self._quiet_controls = True
        try:
            yield
        finally:
            self._quiet_controls = False

    def _show(self, box: w.DOMWidget, value: Any, options: list[Any] | None = None) -> None:
        """Show ``value`` (and new ``options``) in a dropdown, without echoing back."""
        with self._quiet():
            if options is not None:
                box.options = options
            known = [v for _, v in box.options]
            box.value = value if value in known else None

    # -- the dataset and target ----------------------------------------------------------

    @shows_errors
    def search(self) -> list[str]:
        """List the datasets matching :attr:`query` in the picker (one search call); returns
        the matches, best first."""
        page = self.api.search(self.query, limit=PICKER_SIZE)
        options = [(f"{info.ref} · {info.rows:,} rows", info.ref) for info in page]
        matches = [ref for _, ref in options]
        if self.dataset and self.dataset not in matches:
            options.insert(0, (self.dataset, self.dataset))  # a pinned or unlisted choice
        self._show(self.dataset_box, self.dataset, options)
        return matches

    def _on_query(self) -> None:
        """Words typed pick the best match, unless the dataset chosen is among the matches."""
        matches = self.search()
        chosen = self.dataset.partition("@")[0]  # a pinned version of a match stays
        if self.query.strip() and matches and chosen not in matches:
            self.dataset = matches[0]  # its observer fills the targets

    @shows_errors
    def _on_dataset(self) -> None:
        """Fill the target choices from the dataset's schema (no data is read)."""
        self.dataset_info.value = ""
        self._show(self.target_box, "", [("(choose the column to predict)", "")])
        if self.dataset not in [ref for _, ref in self.dataset_box.options]:
            self.search()  # set from code: list it
        else:
            self._show(self.dataset_box, self.dataset)  # set from code or a search: show it
        if not self.dataset:
            return
        version = self.api.version(self.dataset)
        columns = [c["name"] for c in version.columns]
        self.dataset_info.value = (
            f"<small>{html.escape(version.ref)} · {version.rows:,} rows · "
            f"{len(columns)} columns</small>"
        )
        options = [(f"{c['name']} · {c['type']}", c["name"]) for c in version.columns]
        self._show(self.target_box, self.target, [("(choose the column to predict)", ""), *options])
        if self.target and self.target not in columns:
            missing, self.target = self.target, ""
            self._say(f"{version.ref} has no column {missing!r}: choose the column to predict")

    # -- the families and their parameters -----------------------------------------------

    @shows_errors
    def _on_models(self) -> None:
        """One parameter form per chosen family, drawn from its schema."""
        with self._quiet():
            known = [v for _, v in self.models_box.options]
            self.models_box.value = tuple(m for m in self.models if m in known)
        schemas = [get_family(name).to_dict() for name in self.models]  # unknown: says which
        shown = self.params_tabs.choose(schemas, self.params)
        # The form's defaults for what was not given; what was given stays, even a value
        # no control can hold (validation then says what is wrong with it).
        self.params = {**self.params, **{f: shown[f] | self.params.get(f, {}) for f in shown}}

    def _param_changed(self, family: str, name: str, value: Any) -> None:
        self.params = {**self.params, family: {**self.params.get(family, {}), name: value}}

    # -- training ------------------------------------------------------------------------

    def train(self) -> bool:
        """Start a run with the current settings, as the Train button does; returns at once.

        False when it could not start (the status line says why).
        """
        return bool(self._start())

    @shows_errors
    def _start(self) -> bool:
        if self.running:
            raise InvalidInput("a run is going: wait for it to end or press Stop")
        arguments = run_arguments(
            self.dataset,
            self.target,
            self.models,
            self.params,
            task=self.task,
            split=self.split,
            cv=self.cv or None,
            seed=self.seed,
            device=self.device,
            epochs=self.epochs or None,
        )
        self.result = None
        self.results.clear()
        self._static.clear()
        self.live.reset(self.models, epoch_budgets(arguments))
        self._set_running(True)
        self._run = BackgroundRun(functools.partial(self._work, arguments), self._finished)
        self._run.start()
        self._say(f"Training {', '.join(self.models)} on {self.dataset} → {self.target}…")
        return True

    def _work(self, arguments: dict[str, Any], stop_event: threading.Event) -> Outcome:
        """The run itself (in the background thread)."""
        return run_training(
            self.api,
            callbacks=(Throttle(self.live, per_second=4),),
            stop_event=stop_event,
            record=self.record,
            **arguments,
        )

    def stop(self) -> None:
        """Ask the run to stop, as the Stop button does (the models done are kept)."""
        if self._run is None or not self.running:
            self._say("nothing is running")
            return
        self._run.stop()
        self.stop_button.disabled = True
        self._say(
            "Stopping: a torch model stops after its current epoch, a scikit-learn fit "
            "when it ends; models not started are skipped"
        )

    def wait(self, timeout: float | None = None) -> Outcome | None:
        """Block until the run ends (an interrupt stops it); returns :attr:`result`.

        In a notebook, the static copy of a headless run is (re)sent from here, so that it
        lands in the cell that waited even when no earlier output reserved its place.
        """
        if self._run is not None and not self._run.join(timeout):
            return None
        self._static.flush()
        return self.result

    def autorun(self, *, wait: bool = True) -> Outcome | None:
        """Train now, as a template cell does: start, show the widget (in IPython), wait."""
        if not self.train() and self._headless():
            self._static.summarise(None, self.status)  # it could not start
        if ipython_shell() is not None:
            from IPython.display import display

            display(self)  # type: ignore[no-untyped-call]
        return self.wait() if wait else None

    def _finished(self, run: BackgroundRun) -> None:
        """Show how the run ended (called in the training thread)."""
        error = ""
        try:
            if run.error is not None:
                error = f"{type(run.error).__name__}: {run.error}"
            else:
                self.result = run.outcome
                self.results.show(run.outcome)
                self._suggest_name()
                self._say(done_message(run.outcome))
        except Exception as exc:  # drawing failed: say so rather than stay "running"
            log.exception("train widget: showing the result failed")
            error = f"{type(exc).__name__}: {exc}"
        finally:
            if error:
                self._say(error, error=True)
            if self._headless():
                self._static.summarise(self.result, error)
            self._set_running(False)
            self.resend()  # the saved output keeps how the run ended

    @shows_errors
    def register_model(self) -> Any:
        """Register the chosen result as :attr:`model_name` (Register model); returns what
        ``register`` gave (a ``ModelVersionInfo`` from ``ll.models.register``), or None when
        nothing was registered (the status line says why)."""
        if self.result is None:
            raise InvalidInput("train a model first")
        chosen = self.results.chosen(self.result)
        if self.register is None:
            self._say(NO_GALLERY)
            return None
        if not self.model_name.strip():
            raise InvalidInput("type the model's name, 'team/name', beside Register model")
        registered = self.register(chosen, self.model_name.strip())
        ref = getattr(registered, "ref", registered) or self.model_name
        fresh = getattr(registered, "created", True)  # False: these bytes were registered
        self._say(f"Registered {ref}" if fresh else f"Already registered as {ref}")
        return registered

    def _suggest_name(self) -> None:
        """Fill in ``team/<dataset>-<family>`` for the chosen result, unless one was typed."""
        if self.result is None or self.model_name not in ("", self._suggested_name):
            return
        self._suggested_name = _default_name(self.results.chosen(self.result), self.dataset)
        self.model_name = self._suggested_name

    # -- state and display ---------------------------------------------------------------

    def _set_running(self, running: bool) -> None:
        self.set_trait("running", running)
        self.train_button.disabled = running
        self.stop_button.disabled = not running

    def _say(self, message: str, *, error: bool = False) -> None:
        """Show ``message`` on the status line (escaped: errors quote user input)."""
        self.set_trait("status", message)
        self.status_line.value = draw.status_html(message, error=error)

    def _headless(self) -> bool:
        """Whether to leave a static copy: in IPython, while no frontend reported a view.

        ipywidgets frontends (JupyterLab, Notebook 7, VS Code) count their views in
        ``_view_count``; papermill and nbconvert draw none, so it stays 0.
        """
        if ipython_shell() is None:
            return False  # a script or a test: no output to leave it in
        if self.static_copy is not None:
            return bool(self.static_copy)
        return not self._view_count

    def _on_views(self, change: dict[str, Any]) -> None:
        if change["new"] and self.static_copy is None:
            self._static.clear()  # a live view shows the result: no second copy

    def _ipython_display_(self) -> None:
        """The widget, then the static copy's outputs when a headless run may fill them.

        Shown once per cell: ``ll.train_widget(..., autorun=True)`` shows itself before
        it waits, and the cell then displays the same widget it returns.
        """

        count = getattr(ipython_shell(), "execution_count", None)
        if count is not None and count == self._shown_in:
            return
        self._shown_in = count
        super()._ipython_display_()  # with a display id: resend() keeps its HTML current
        if self._headless() and (self.running or self._static.has_content):
            self._static.show(placeholder=draw.summary_html(None))  # "Training…" till the end

    def static_html(self) -> str:
        """The panel's state as HTML; nothing while the static copy shows the result."""
        return "" if self._static.has_content else super().static_html()

    def __repr__(self) -> str:
        return f"<TrainWidget {self.dataset or '(no dataset)'} → {self.target or '?'}>"


def _default_name(result: TrainResult, dataset: str) -> str:
    """``team/<dataset>-<family>`` for a result trained on ``team/<dataset>@N``."""
    source = str((result.spec.get("dataset") or {}).get("ref") or dataset)
    team, _, name = source.partition("@")[0].partition("/")
    return f"{team}/{name}-{result.family}" if team and name else ""
