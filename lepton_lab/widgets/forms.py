"""A template's parameter form, drawn from its schema (``ParameterSpec`` of each parameter).

One control per parameter, chosen by its type::

    choices          Dropdown of the choices
    kind "dataset"   Combobox prefilled with the default, offering the datasets you can see
    bool             Checkbox
    int / float      IntText / FloatText
    str              Text
    list, dict, any  Textarea holding JSON

Required parameters are marked ``*``; each shows its help.  A parameter that allows None
gets a "None" box.  The form only collects values: a field left empty (a required text, a
dataset, a JSON box) is left out, so that the notebook's default applies or the service
says what is missing.  Checking the values against the schema is the job service's
business; the form only refuses JSON it cannot read, since it cannot send that at all.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

import ipywidgets as w

from lepton_lab.errors import InvalidInput
from lepton_lab.runs.info import ParameterSpec
from lepton_lab.widgets.train_render import status_html

__all__ = ["JSON_TYPES", "ParameterField", "ParameterForm", "control_for"]

#: Types typed as JSON in a text area.
JSON_TYPES = ("list", "dict", "any")
_LABEL_WIDTH = "12em"


class _Omitted:
    """The value of a field left empty: the parameter is not sent."""

    def __repr__(self) -> str:
        return "<omitted>"


OMITTED = _Omitted()


def _choice_label(choice: Any) -> str:
    return choice if isinstance(choice, str) else json.dumps(choice)


def _has_literal_default(spec: ParameterSpec) -> bool:
    """Whether the default is a value the form can show (not an expression such as np.pi)."""
    return spec.default is not None or spec.default_source.strip() == "None"


def control_for(spec: ParameterSpec, dataset_refs: Sequence[str] = ()) -> w.DOMWidget:
    """The control for one parameter, showing its default (when it has one)."""
    label = f"{spec.name} *" if spec.required else spec.name
    common: dict[str, Any] = {"description": label, "tooltip": spec.help or None}
    default = spec.default
    if spec.choices is not None:
        options = [(_choice_label(c), c) for c in spec.choices]
        value = default if default in spec.choices else None
        return w.Dropdown(options=options, value=value, **common)
    if spec.kind == "dataset":
        refs = list(
            dict.fromkeys([*([default] if isinstance(default, str) else []), *dataset_refs])
        )
        return w.Combobox(
            options=refs,
            value=default if isinstance(default, str) else "",
            placeholder="team/name or team/name@version",
            ensure_option=False,
            **common,
        )
    if spec.type == "bool":
        return w.Checkbox(value=bool(default), indent=False, **common)
    if spec.type == "int":
        return w.IntText(value=default if isinstance(default, int) else 0, **common)
    if spec.type == "float":
        return w.FloatText(value=default if isinstance(default, int | float) else 0.0, **common)
    if spec.type == "str":
        return w.Text(value=default if isinstance(default, str) else "", **common)
    shown = json.dumps(default) if default is not None else ""
    hint = f"JSON ({spec.type}); empty keeps the notebook's {spec.default_source or 'default'}"
    return w.Textarea(value=shown, placeholder=hint, rows=2, **common)


class ParameterField:
    """One parameter: its control, a "None" box when None is allowed, help and an error line."""

    def __init__(self, spec: ParameterSpec, dataset_refs: Sequence[str] = ()) -> None:
        self.spec = spec
        self.control = control_for(spec, dataset_refs)
        self.control.style.description_width = _LABEL_WIDTH
        self.none_box: w.Checkbox | None = None
        if spec.optional and not spec.required:
            ticked = spec.default is None and _has_literal_default(spec)
            self.none_box = w.Checkbox(value=ticked, description="None", indent=False)
            self.none_box.layout.width = "6em"
            self.control.disabled = ticked
            self.none_box.observe(self._on_none, names="value")
        kind = "dataset" if spec.kind == "dataset" else spec.type
        notes = ["<b>required</b>"] * spec.required + [html.escape(kind)]
        notes += [html.escape(spec.help)] if spec.help else []
        self.help = w.HTML(f"<small>{' · '.join(notes)}</small>")
        self.error = w.HTML()
        parts = [self.control, *([self.none_box] if self.none_box else []), self.help]
        self.widget = w.VBox([w.HBox(parts), self.error])

    @property
    def name(self) -> str:
        """The parameter's name."""
        return self.spec.name

    def read(self) -> Any:
        """The value to send, :data:`OMITTED` for an empty field; bad JSON raises InvalidInput."""
        self.error.value = ""
        if self.none_box is not None and self.none_box.value:
            return None
        value = self.control.value
        if isinstance(self.control, w.Dropdown):
            return OMITTED if value is None else value
        if isinstance(self.control, w.Textarea):
            return self._parse_json(value)
        # An empty dataset keeps the default; an empty required text is reported missing.
        if value == "" and (self.spec.kind == "dataset" or self.spec.required):
            return OMITTED
        return value

    def _parse_json(self, text: str) -> Any:
        if not text.strip():
            return OMITTED
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            message = (
                f"parameter {self.name}: not valid JSON ({exc.msg} at line {exc.lineno} "
                f'column {exc.colno}); write it as JSON, e.g. [1, 2] or {{"a": 1}}'
            )
            self.error.value = status_html(message, error=True)
            raise InvalidInput(message) from None

    def _on_none(self, change: dict[str, Any]) -> None:
        self.control.disabled = bool(change["new"])


class ParameterForm(w.VBox):  # type: ignore[misc]
    """The form of one template: a :class:`ParameterField` per parameter of its schema.

    ``dataset_refs`` are offered by the dataset fields (the datasets the user can see).
    """

    def __init__(
        self, parameters: Sequence[ParameterSpec], dataset_refs: Sequence[str] = (), **kwargs: Any
    ) -> None:
        self.fields = {spec.name: ParameterField(spec, dataset_refs) for spec in parameters}
        rows = [f.widget for f in self.fields.values()] or [
            w.HTML("<i>This template takes no parameters.</i>")
        ]
        super().__init__(rows, **kwargs)

    def values(self) -> dict[str, Any]:
        """The values to submit, fields left empty left out.

        Raises :class:`InvalidInput` naming every field whose JSON cannot be read (each
        also shows its own error).
        """
        values: dict[str, Any] = {}
        bad: list[str] = []
        for name, field in self.fields.items():
            try:
                value = field.read()
            except InvalidInput as exc:
                bad.append(exc.message)
                continue
            if value is not OMITTED:
                values[name] = value
        if bad:
            raise InvalidInput("; ".join(bad))
        return values
