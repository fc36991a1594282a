"""The layout and the static copy every widget shares (:mod:`lepton_lab.widgets.layout`)."""

from __future__ import annotations

from typing import Any

import ipywidgets as w
import pytest

from lepton_lab.widgets.layout import StaticHTML, responsive, snapshot_html

VIEW = "application/vnd.jupyter.widget-view+json"


class Panel(StaticHTML, w.VBox):  # type: ignore[misc]
    """A widget built as the Lepton Lab ones are."""

    def __init__(self) -> None:
        super().__init__()
        self.note = w.HTML("<b>3 datasets</b>")
        self.hidden = w.HTML("secret", layout=w.Layout(display="none"))
        self.choice = w.Dropdown(options=[("wine <1>", 1)], value=1, description="dataset")
        self.tabs = w.Tab(children=[w.HTML("rows")], titles=("Preview",))
        self.children = [w.HBox([self.note, w.Button(description="Go")]), self.hidden,
                         self.choice, self.tabs]  # fmt: skip
        responsive(self, "lepton-panel")


@pytest.fixture
def panel() -> Any:
    made = Panel()
    yield made
    made.close()


def test_rows_wrap_and_text_wraps_in_every_widget(panel: Panel) -> None:
    assert {"lepton-widget", "lepton-panel"} <= set(panel._dom_classes)
    sheet = panel.children[-1]
    assert sheet.layout.display == "none" and "<style>" in sheet.value
    assert "flex-wrap: wrap" in sheet.value and "overflow-wrap: anywhere" in sheet.value
    assert "overflow-x: auto" in sheet.value  # wide tables scroll in their own box
    assert "th { white-space: nowrap; }" in sheet.value  # headers are not cut mid-word
    assert panel.children[0].children[0] is panel.note  # its own children keep their places


def test_the_static_copy_shows_what_is_visible(panel: Panel) -> None:
    html = snapshot_html(panel)

    assert "<b>3 datasets</b>" in html
    assert "secret" not in html and "Go" not in html  # hidden parts and buttons left out
    assert "dataset: <b>wine &lt;1&gt;</b>" in html  # a choice's label, escaped
    assert "<b>Preview</b>" in html and "rows" in html  # every tab under its title
    assert "<style>" not in html


def test_the_bundle_holds_the_widget_and_its_static_copy(panel: Panel) -> None:
    bundle = panel._repr_mimebundle_()

    assert bundle is not None
    assert bundle[VIEW]["model_id"] == panel.model_id
    assert "<b>3 datasets</b>" in bundle["text/html"] and "static copy" in bundle["text/html"]


def test_resend_updates_the_outputs_showing_it(
    panel: Panel, monkeypatch: pytest.MonkeyPatch
) -> None:
    import IPython.display

    sent: list[tuple[dict[str, Any], str]] = []
    monkeypatch.setattr(
        IPython.display,
        "update_display",
        lambda data, *, raw, display_id: sent.append((data, display_id)),
    )
    panel.resend()  # never displayed: nothing to update
    assert sent == []
    panel._display_ids = ["out-1"]
    panel.note.value = "<b>4 datasets</b>"

    panel.resend()

    assert [d for _, d in sent] == ["out-1"]
    assert "<b>4 datasets</b>" in sent[0][0]["text/html"]
