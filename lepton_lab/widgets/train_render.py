"""What the train widget draws: the parameter form, the loss curve, result tables and plots.

The form is drawn from a model family's schema (:meth:`Family.to_dict`), one control per
parameter, so an add-on family gets a form without any widget code.  The rest are pure
functions from training values to HTML or PNG bytes, testable without a widget.  Every
piece of user text (dataset names, column names, family names, error messages) goes
through :func:`html.escape`: a column may be named by anyone.
"""

from __future__ import annotations

import functools
import html
import io
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as w

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lepton_lab.training import Leaderboard, TrainResult

__all__ = [
    "FormTabs",
    "ParamForm",
    "ParamInput",
    "figure_png",
    "leaderboard_html",
    "loss_svg",
    "metrics_html",
    "per_family",
    "result_plots",
    "slider_step",
    "status_html",
    "summary_html",
]

#: Integer ranges wider than this get a number box: a slider cannot hit 300 of 1..100,000.
_SLIDER_SPAN = 1000
#: Float ranges wider than this (without ``log``) get a number box, for the same reason.
_FLOAT_SLIDER_SPAN = 10.0
#: Points drawn per line of the loss curve at most (every k-th epoch beyond, and the last).
_CURVE_POINTS = 300
_COLORS = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2")
_CURVE_WIDTH, _CURVE_HEIGHT, _PAD = 420, 140, 28

ParamChanged = Callable[[str, Any], None]


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _number(value: Any) -> str:
    """A metric shown compactly (``0.9561``), ``—`` for none."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return _esc(value)


# -- the parameter form ----------------------------------------------------------------------


def slider_step(low: float, high: float) -> float:
    """A round step (0.001, 0.01, ...) giving a slider 100 to 1000 positions.

    A step of a thousandth of the range puts 0.1 between positions on a 0-0.9 slider,
    which the browser then snaps to 0.0999: round steps keep round defaults exact.
    """
    return float(10 ** math.floor(math.log10((high - low) / 100))) if high > low else 0.1


def _control(spec: dict[str, Any]) -> w.DOMWidget:
    """The control suiting one schema entry (its value set to the default, when not None)."""
    kind, low, high, name = spec["type"], spec["low"], spec["high"], spec["name"]
    common = {"description": name, "tooltip": spec["help"] or None}
    if kind == "bool":
        return w.Checkbox(value=bool(spec["default"]), indent=False, **common)
    if kind == "str":
        return w.Dropdown(options=list(spec["choices"]), **common)
    bounded = low is not None and high is not None
    if kind == "int":
        if bounded and not spec["log"] and high - low <= _SLIDER_SPAN:
            return w.IntSlider(min=int(low), max=int(high), **common)
        if bounded:
            return w.BoundedIntText(min=int(low), max=int(high), **common)
        return w.IntText(**common)
    if bounded and spec["log"] and low > 0:
        exponents = {"min": math.log10(low), "max": math.log10(high)}
        return w.FloatLogSlider(base=10, step=0.01, readout_format=".3g", **exponents, **common)
    if bounded and high - low <= _FLOAT_SLIDER_SPAN:
        step = slider_step(low, high)
        return w.FloatSlider(min=low, max=high, step=step, readout_format=".4g", **common)
    if bounded:
        return w.BoundedFloatText(min=low, max=high, **common)
    return w.FloatText(**common)


class ParamInput:
    """One parameter: its control, a "none" checkbox when None is allowed, and its help.

    ``on_change(name, value)`` is called when the user changes it; :meth:`show` sets it
    from code without calling back.
    """

    def __init__(self, spec: dict[str, Any], on_change: ParamChanged) -> None:
        self.spec = spec
        self.control = _control(spec)
        self.control.style.description_width = "11em"
        self.none_box = w.Checkbox(description="none", indent=False) if spec["nullable"] else None
        note = spec["help"] or ""
        self.help = w.HTML(f"<small>{_esc(note)}</small>")
        parts = [self.control, *([self.none_box] if self.none_box else []), self.help]
        self.widget = w.HBox(parts)
        self._on_change = on_change
        self._quiet = False
        self.show(spec["default"])
        self.control.observe(self._changed, names="value")
        if self.none_box is not None:
            self.none_box.observe(self._changed, names="value")

    @property
    def name(self) -> str:
        """The parameter's name."""
        return str(self.spec["name"])

    @property
    def value(self) -> Any:
        """What the control shows: None when "none" is ticked."""
        if self.none_box is not None and self.none_box.value:
            return None
        return self.control.value

    def show(self, value: Any) -> None:
        """Show ``value`` (None ticks "none"); a value the control cannot hold is left out.

        Sliders clamp to their range: the widget keeps the value given in its ``params``
        trait, so that validation, not the slider, says what was wrong with it.
        """
        self._quiet = True
        try:
            if self.none_box is not None:
                self.none_box.value = value is None
                self.control.disabled = value is None
            if value is not None:
                self.control.value = value
        except Exception:  # a bad value is reported by validation instead
            pass
        finally:
            self._quiet = False

    def _changed(self, _change: dict[str, Any]) -> None:
        if self.none_box is not None:
            self.control.disabled = bool(self.none_box.value)
        if not self._quiet:
            self._on_change(self.name, self.value)


class ParamForm(w.VBox):  # type: ignore[misc]
    """The form of one family: a :class:`ParamInput` per parameter of its schema."""

    def __init__(self, schema: dict[str, Any], on_change: ParamChanged) -> None:
        self.schema = schema
        self.inputs = {spec["name"]: ParamInput(spec, on_change) for spec in schema["params"]}
        about = f"<small>{_esc(schema['description'])} ({_esc(schema['kind'])})</small>"
        rows = [p.widget for p in self.inputs.values()] or [w.HTML("<i>No parameters.</i>")]
        super().__init__([w.HTML(about), *rows])

    def values(self) -> dict[str, Any]:
        """Every parameter's value as shown."""
        return {name: p.value for name, p in self.inputs.items()}

    def show(self, values: dict[str, Any]) -> None:
        """Show these values (parameters not named keep theirs)."""
        for name, value in values.items():
            if name in self.inputs:
                self.inputs[name].show(value)


class FormTabs(w.Tab):  # type: ignore[misc]
    """One :class:`ParamForm` per chosen family, as tabs; forms are kept when unchosen.

    ``on_change(family, name, value)`` is called when the user changes a parameter.
    """

    def __init__(self, on_change: Callable[[str, str, Any], None]) -> None:
        super().__init__()
        self.forms: dict[str, ParamForm] = {}
        self._on_change = on_change

    def choose(
        self, schemas: Sequence[dict[str, Any]], params: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Show the forms of these families with ``params`` (``{family: {name: value}}``);
        returns every shown family's values, defaults filled in."""
        for schema in schemas:
            name = schema["name"]
            if name not in self.forms:
                changed = functools.partial(self._on_change, name)
                self.forms[name] = ParamForm(schema, changed)
        names = [schema["name"] for schema in schemas]
        self.children = [self.forms[name] for name in names]
        self.titles = tuple(names)
        self.show(params)
        return {name: self.forms[name].values() for name in names}

    def show(self, params: Mapping[str, Any]) -> None:
        """Show ``{family: {name: value}}`` in the forms there are."""
        for family, form in self.forms.items():
            form.show(params.get(family, {}))


def per_family(models: Sequence[str], params: Mapping[str, Any] | None) -> dict[str, Any]:
    """``params`` as ``{family: {name: value}}``: a single family's may be given flat."""
    given = dict(params or {})
    if len(models) == 1 and not (given and given.keys() <= set(models)):
        return {models[0]: given}
    return {name: dict(values) for name, values in given.items()}


# -- status, curve and results ---------------------------------------------------------------


def status_html(message: str, *, error: bool = False) -> str:
    """The status line: the message escaped, in the theme's error colour for errors."""
    if not message:
        return ""
    color = "var(--jp-error-color1, #d32f2f)" if error else "inherit"
    return f'<span style="color: {color}">{_esc(message)}</span>'


Points = Sequence[tuple[int, float | None, float | None]]


def loss_svg(series: Mapping[str, Points]) -> str:
    """A small inline chart of each model's loss per epoch: training solid, validation dashed.

    SVG rather than matplotlib: it is redrawn on every epoch, and a string of polylines
    costs microseconds to build and a few hundred bytes to send.
    """
    series = {model: _thin(points) for model, points in series.items()}
    values = [v for points in series.values() for _, *pair in points for v in pair if v is not None]
    last = max((epoch for points in series.values() for epoch, _, _ in points), default=0)
    if not values or last == 0:
        return ""
    top, bottom = max(values), min(values)
    span, width, height = (top - bottom) or 1.0, _CURVE_WIDTH - 2 * _PAD, _CURVE_HEIGHT - 2 * _PAD

    def xy(epoch: int, value: float) -> str:
        x = _PAD + width * ((epoch - 1) / max(last - 1, 1))
        return f"{x:.1f},{_PAD + height * (top - value) / span:.1f}"

    lines, legend = [], []
    for i, (model, points) in enumerate(series.items()):
        color = _COLORS[i % len(_COLORS)]
        for column, dash in ((1, ""), (2, ' stroke-dasharray="4 3"')):
            coords = " ".join(xy(p[0], v) for p in points if (v := p[column]) is not None)
            if coords:
                lines.append(
                    f'<polyline points="{coords}" fill="none" stroke="{color}" '
                    f'stroke-width="1.5"{dash}/>'
                )
        legend.append(f'<tspan fill="{color}">{_esc(model)} </tspan>')
    axis = (
        f'<text x="2" y="{_PAD - 6}" font-size="10">loss {top:.4g}</text>'
        f'<text x="2" y="{_CURVE_HEIGHT - 8}" font-size="10">{bottom:.4g}</text>'
        f'<text x="{_CURVE_WIDTH - _PAD}" y="{_CURVE_HEIGHT - 8}" font-size="10" '
        f'text-anchor="end">epoch {last}</text>'
        f'<text x="{_CURVE_WIDTH / 2:.0f}" y="12" font-size="10" text-anchor="middle">'
        f"{''.join(legend)}(dashed: validation)</text>"
    )
    return (
        f'<svg class="ll-loss" width="{_CURVE_WIDTH}" height="{_CURVE_HEIGHT}" '
        f'viewBox="0 0 {_CURVE_WIDTH} {_CURVE_HEIGHT}" role="img">{axis}{"".join(lines)}</svg>'
    )


def _thin(points: Points) -> Points:
    if len(points) <= _CURVE_POINTS:
        return points
    step = -(-len(points) // _CURVE_POINTS)
    return [*points[:-1:step], points[-1]]


def metrics_html(metrics: dict[str, float | None]) -> str:
    """A two-column table of test metrics."""
    rows = "".join(
        f"<tr><td>{_esc(name)}</td><td>{_number(value)}</td></tr>"
        for name, value in metrics.items()
    )
    return (
        '<table class="ll-metrics"><thead><tr><th>metric</th><th>value</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def leaderboard_html(board: Leaderboard) -> str:
    """One row per model, best first, with every metric and the fit time."""
    frame = board.to_frame()
    head = "".join(f"<th>{_esc(c)}</th>" for c in ["rank", *frame.columns])
    body = "".join(
        f"<tr><td>{rank}</td>" + "".join(f"<td>{_number(v)}</td>" for v in row) + "</tr>"
        for rank, row in zip(frame.index, frame.itertuples(index=False), strict=True)
    )
    title = f"<p>Ranked by <b>{_esc(board.metric)}</b>" + (
        " (stopped by request: some models were skipped)</p>" if board.stopped else "</p>"
    )
    table = f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
    # Every metric is a column: a wide board scrolls sideways instead of being cut off.
    board_html = f'<table class="ll-leaderboard">{table}</table>'
    return f'{title}<div style="overflow-x: auto">{board_html}</div>'


def _facts(result: TrainResult) -> str:
    """One line: what the model learnt from, how, and how long it took."""
    spec = result.spec
    params = ", ".join(f"{k}={v!r}" for k, v in result.params.items()) or "none"
    stopped = " · <b>stopped early by request</b>" if result.stopped else ""
    return (
        f"<p><b>{_esc(result.family)}</b> on <code>{_esc(spec['dataset']['ref'])}</code> → "
        f"<code>{_esc(spec['target'])}</code> ({_esc(result.task)}) · "
        f"{spec['rows']['train']:,} training rows, {spec['rows']['test']:,} test rows · "
        f"seed {_esc(spec['seed'])} · device {_esc(spec['device'])} · "
        f"{result.timings['total']:.2f} s{stopped}<br><small>parameters: {_esc(params)}</small></p>"
    )


def summary_html(outcome: TrainResult | Leaderboard | None, error: str = "") -> str:
    """The static summary left in the output: a run's facts and metrics, or its error."""
    from lepton_lab.training import Leaderboard

    head = '<div class="ll-train-summary"><h4>Lepton Lab training</h4>'
    if error:
        return f"{head}{status_html(error, error=True)}</div>"
    if outcome is None:
        return f"{head}<p><i>Training…</i></p></div>"
    if isinstance(outcome, Leaderboard):
        body = leaderboard_html(outcome) + _facts(outcome.best)
    else:
        body = _facts(outcome) + metrics_html(outcome.metrics)
    return f"{head}{body}</div>"


def figure_png(figure: Figure) -> bytes:
    """A matplotlib figure as PNG bytes (no pyplot, so safe in a background thread)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def result_plots(result: TrainResult) -> dict[str, bytes]:
    """The plots that suit the result, as PNG: confusion and ROC, or residuals; history."""
    if result.task == "regression":
        kinds = ["residuals"]
    else:
        kinds = ["confusion", *(["roc"] if result.curves.get("roc") else [])]
    kinds += ["history"] if result.history else []
    return {kind: figure_png(result.plot(kind)) for kind in kinds}
