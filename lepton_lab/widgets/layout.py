"""What every Lepton Lab widget shares on the page: a layout that rearranges, and a static copy.

* :func:`responsive` gives a widget's outer box the ``lepton-widget`` class and a small
  style sheet: rows of controls wrap below each other in a narrow notebook instead of
  being cut off, text (long error lines, paths) wraps, wide tables scroll in their own
  box, tab labels are as wide as their text.  Stock ipywidgets has no layout trait for
  any of these (``flex_flow`` would be one trait per row, and nothing reaches inside an
  HTML widget or a tab bar), so a ``<style>`` scoped to the class does it, once per widget.
* :class:`StaticHTML` adds a ``text/html`` rendering of a widget's current state next to
  the widget view in its output, so that a saved notebook read without the widget's
  state (nbconvert, a notebook viewer, a frontend without ipywidgets) shows what it
  showed; the copy is sent again with the display when the widget settles (a job ended, a
  model opened), so that the notebook saves its last state.
"""

from __future__ import annotations

import base64
import html
from typing import Any

import ipywidgets as w

__all__ = ["RESPONSIVE_CSS", "StaticHTML", "responsive", "snapshot_html"]

#: The style sheet of every Lepton Lab widget, scoped to the ``lepton-widget`` class.
RESPONSIVE_CSS = """
.lepton-widget { max-width: 100%; min-width: 0; }
.lepton-widget .jupyter-widget-hbox, .lepton-widget .widget-hbox { flex-wrap: wrap; }
.lepton-widget .jupyter-widget-hbox > *, .lepton-widget .widget-hbox > * {
  min-width: 0; max-width: 100%;
}
.lepton-widget .widget-html-content {
  white-space: normal; overflow-wrap: anywhere; min-width: 0; max-width: 100%;
}
.lepton-widget .widget-html-content table {
  display: block; max-width: 100%; overflow-x: auto; overflow-wrap: normal;
}
.lepton-widget .widget-html-content th { white-space: nowrap; }
.lepton-widget .widget-html-content pre { white-space: pre-wrap; overflow-wrap: anywhere; }
.lepton-widget .widget-html-content svg, .lepton-widget img { max-width: 100%; height: auto; }
.lepton-widget .lm-TabBar-tab, .lepton-widget .p-TabBar-tab {
  flex: 0 0 auto !important; max-width: none !important;
}
.lepton-widget .lm-TabBar-content, .lepton-widget .p-TabBar-content { overflow-x: auto; }
.lepton-widget select { max-width: 100%; }
"""


def responsive(box: w.Box, css_class: str) -> None:
    """Mark ``box`` as a Lepton Lab widget (``css_class`` too) and add the style sheet.

    The style is the last child, hidden: indexes of the widget's own children stay as
    they were, and a ``<style>`` applies wherever it sits in the page.
    """
    box.add_class("lepton-widget")
    box.add_class(css_class)  # a stable hook for CSS and the browser test
    sheet = w.HTML(f"<style>{RESPONSIVE_CSS}</style>", layout=w.Layout(display="none"))
    box.children = [*box.children, sheet]


class StaticHTML:
    """Mixed into a widget: ``text/html`` of :meth:`static_html` beside the widget view.

    JupyterLab and Notebook 7 draw the live widget while its model is alive; what reads a
    saved notebook without the widget's state falls back on the HTML.  :meth:`resend`
    sends the display again with the current HTML (call it when the widget settles, not on
    every change: the frontend draws the widget again each time).
    """

    def static_html(self) -> str:
        """The widget's current state as HTML: what each of its visible parts shows."""
        return snapshot_html(self)

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        bundle: dict[str, Any] | None = super()._repr_mimebundle_(**kwargs)  # type: ignore[misc]
        static = self.static_html()
        if bundle is not None and static:
            bundle["text/html"] = _framed(static)
        return bundle

    def _ipython_display_(self) -> None:
        """Display with a display id, so that :meth:`resend` can update this output."""
        from IPython.display import display

        # The bundle, raw: display(self) would call this method again.
        bundle = self._repr_mimebundle_()
        handle = display(bundle, raw=True, display_id=True)  # type: ignore[no-untyped-call]
        if handle is not None:
            self.__dict__.setdefault("_display_ids", []).append(handle.display_id)

    def resend(self) -> None:
        """Update every output showing this widget with its current static HTML."""
        from IPython.display import update_display

        for display_id in self.__dict__.get("_display_ids", []):
            bundle = self._repr_mimebundle_()
            update_display(bundle, raw=True, display_id=display_id)  # type: ignore[no-untyped-call]


def snapshot_html(widget: w.Widget) -> str:
    """What ``widget`` and the parts inside it show now, as static HTML.

    HTML panes as they are (they were escaped when drawn), text and choices as
    ``label: value``, images inline; hidden parts, buttons and the style sheet are left out.
    """
    layout = getattr(widget, "layout", None)
    if layout is not None and layout.display == "none":
        return ""
    if isinstance(widget, w.HTML):
        return f"<div>{widget.value}</div>" if widget.value else ""
    if isinstance(widget, w.Image):
        return _image(widget)
    if isinstance(widget, w.Tab):
        return _tabs(widget)
    if isinstance(widget, w.Box):
        parts = [snapshot_html(child) for child in widget.children]
        return "".join(p for p in parts if p)
    if isinstance(widget, w.ValueWidget) and not isinstance(widget, w.Button):
        return _value(widget)
    return ""


def _value(widget: w.ValueWidget) -> str:
    """``description: value`` of a control (the label of a choice, not its value)."""
    value = getattr(widget, "label", None) if hasattr(widget, "options") else widget.value
    if isinstance(value, tuple):  # a multiple choice
        value = ", ".join(map(str, value))
    if value in (None, "", ()):
        return ""
    name = getattr(widget, "description", "")
    label = f"{html.escape(name)}: " if name else ""
    return f"<div><small>{label}<b>{html.escape(str(value))}</b></small></div>"


def _image(widget: w.Image) -> str:
    data = bytes(widget.value or b"")
    if not data:
        return ""
    png = base64.b64encode(data).decode("ascii")
    return f'<img src="data:image/{widget.format};base64,{png}" style="max-width:100%">'


def _tabs(widget: w.Tab) -> str:
    """Every tab, its title as a heading: a static copy cannot switch between them."""
    titles = widget.titles or ()
    parts = []
    for i, child in enumerate(widget.children):
        body = snapshot_html(child)
        title = titles[i] if i < len(titles) else ""
        if body:
            parts.append(f"<div><b>{html.escape(str(title))}</b></div>{body}")
    return "".join(parts)


def _framed(body: str) -> str:
    """The static copy in a box that says what it is."""
    return (
        '<div class="lepton-static" style="border:1px solid #ddd; padding:4px 8px">'
        f"{body}<br><small><i>A static copy: run the cell again for the live widget."
        "</i></small></div>"
    )
