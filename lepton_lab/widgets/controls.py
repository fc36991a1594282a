"""Controls that follow traits both ways, and the paging both catalog browsers share.

A dropdown's change sets its trait; a trait set from code shows in its dropdown without
the change echoing back.  :class:`PagedBrowser` adds what the dataset browser and the
model gallery have in common: a search box, one dropdown per filter trait, one page of
results at a time and the Previous / Next buttons.  :func:`shows_errors` turns a
handler's exception into the widget's status line.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar

import ipywidgets as w
from traitlets import HasTraits, Int, Unicode

from lepton_lab.errors import LeptonLabError
from lepton_lab.paging import MAX_LIMIT
from lepton_lab.widgets import render

if TYPE_CHECKING:
    from lepton_lab.paging import Page

__all__ = ["ANY", "PagedBrowser", "SyncedControls", "ipython_shell", "shows_errors"]

log = logging.getLogger(__name__)

#: The dropdown value meaning "no filter" (the filter traits use it too).
ANY = ""


def ipython_shell() -> Any:
    """The running IPython shell, or None in plain Python (a script, a test)."""
    from IPython import get_ipython

    return get_ipython()


class SyncedControls:
    """Mixed into a widget with a ``page`` trait: control <-> trait syncing and paging."""

    #: Set while a control is made to follow a trait, so that it does not echo back.
    _syncing = False
    page: int

    def _control_changed(self, trait: str) -> Callable[[dict[str, Any]], None]:
        """An observer copying a control's value to ``trait`` (None, no choice, as empty)."""

        def copy(change: dict[str, Any]) -> None:
            if not self._syncing:
                new = change["new"]
                default = self.trait_defaults(trait)  # type: ignore[attr-defined]
                setattr(self, trait, new if new is not None else default)

        return copy

    def _set_control(
        self, box: w.DOMWidget, value: Any, options: list[tuple[str, Any]] | None = None
    ) -> None:
        """Show ``value`` (and new ``options``) in a control without echoing back to the traits."""
        self._syncing = True
        try:
            if options is not None:
                box.index = None  # else a Select jumps to its first option
                box.options = options
            known = [v for _, v in box.options]
            box.value = value if value in known else None
        finally:
            self._syncing = False

    def _turn(self, pages: int) -> None:
        """Go ``pages`` forward (or back), never before the first page."""
        self.page = max(self.page + pages, 0)


class PagedBrowser(SyncedControls, HasTraits):
    """Mixed into a catalog browser (datasets, models) with a ``query`` trait, a trait per
    filter beyond ``team`` and ``tag``, and :meth:`reload` / :meth:`refresh` of its own.

    :meth:`_build_search` makes the shared controls, :meth:`_connect_search` wires them and
    :meth:`_show_page` updates them after each fetched page.
    """

    team = Unicode(ANY, help="Only items of this team; '' for every team.")
    tag = Unicode(ANY, help="Only items carrying this tag; '' for any tag.")
    page = Int(0, min=0, help="The page of results shown, from 0: offset page * page_size.")
    page_size = Int(20, min=1, max=MAX_LIMIT, help="Items per page; only one page is fetched.")
    total = Int(0, read_only=True, help="How many items match the query and filters.")
    selected = Unicode("", help="The item shown in the detail pane, 'team/name'; '' for none.")

    query: str
    filter_boxes: dict[str, w.Dropdown]
    """The dropdown of each filter trait (``team``, ``tag`` ...), in the order shown."""

    detail: w.Box
    """The pane of the item selected (hidden while none is)."""
    status_line: w.HTML
    version_box: w.Dropdown

    if TYPE_CHECKING:  # each browser's own, called by the shared controls

        def reload(self) -> None: ...
        def refresh(self) -> None: ...
        def _on_selected(self) -> None: ...
        def _on_version(self) -> None: ...

    def _build_search(self, what: str, filters: dict[str, str]) -> None:
        """The search box for ``what`` (datasets, models), a dropdown per filter trait, with
        its "no filter" label (``{"team": "all teams"}``), and the paging controls."""
        self.search_box = w.Text(
            value=self.query, placeholder=f"search {what}", continuous_update=False
        )
        self.search_button = w.Button(description="Search", icon="search")
        self.filter_boxes = {
            trait: w.Dropdown(options=[(label, ANY)], description=trait)
            for trait, label in filters.items()
        }
        self.previous_button = w.Button(description="Previous", icon="arrow-left", disabled=True)
        self.next_button = w.Button(description="Next", icon="arrow-right", disabled=True)
        self.page_label = w.Label()

    def _arrange(self, search: list[w.Widget], results: w.Widget) -> None:
        """The browser's rows: ``search`` (the box and filters), ``results``, the paging
        controls, the detail pane (hidden until an item is selected), the status line."""
        self.detail.layout.display = "none"
        paging = w.HBox([self.previous_button, self.page_label, self.next_button])
        self.children = [*search, results, paging, self.detail, self.status_line]

    def _connect_search(self) -> None:
        """Search on the button, page on Previous / Next, start again on a new filter; a
        selection opens the detail pane and a version picked shows that version."""
        w.link((self.search_box, "value"), (self, "query"))
        self.search_button.on_click(lambda _: self.reload())
        self.previous_button.on_click(lambda _: self._turn(-1))
        self.next_button.on_click(lambda _: self._turn(+1))
        for trait, box in self.filter_boxes.items():
            box.observe(self._control_changed(trait), names="value")
        self.observe(self._on_filter, names=[*self.filter_boxes, "page_size"])
        self.observe(lambda _: self.refresh(), names="page")
        self.version_box.observe(self._control_changed("version"), names="value")
        self.observe(lambda _: self._on_selected(), names="selected")
        self.observe(lambda _: self._on_version(), names="version")

    def _on_filter(self, change: dict[str, Any]) -> None:
        """A new query or filter starts again from the first page."""
        box = self.filter_boxes.get(change["name"])
        if box is not None:
            self._set_control(box, change["new"])
        if self.page == 0:
            self.refresh()
        else:
            self.page = 0  # the page observer refreshes

    def _show_page(self, results: Page[Any], what: str) -> None:
        """Count, label and Previous / Next for the page of ``what`` just fetched."""
        self.set_trait("total", results.total)
        self.page_label.value = render.page_label(results.offset, len(results), results.total, what)
        self.previous_button.disabled = self.page == 0
        self.next_button.disabled = results.next_offset is None


class Says(Protocol):
    """A widget with a status line."""

    def _say(self, message: str, *, error: bool = False) -> None: ...


S = TypeVar("S", bound=Says)
P = ParamSpec("P")
R = TypeVar("R")


def shows_errors(handler: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R | None]:
    """Run a handler so that any error becomes the status line, not a lost traceback.

    A widget callback that raises only logs to the browser console.  Lepton Lab errors are
    shown as their message; anything else as ``ExceptionClass: message`` (and logged).
    """

    def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R | None:
        self._say("")
        try:
            return handler(self, *args, **kwargs)
        except LeptonLabError as exc:
            self._say(exc.message, error=True)
        except Exception as exc:
            log.exception("widget handler %s failed", handler.__name__)
            self._say(f"{type(exc).__name__}: {exc}", error=True)
        return None

    functools.update_wrapper(run, handler)
    return run
