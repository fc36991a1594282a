"""Controls that follow traits both ways, for the widgets that browse a paged catalog.

A dropdown's change sets its trait; a trait set from code shows in its dropdown without
the change echoing back.  The dataset browser and the model gallery share this.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as w

__all__ = ["SyncedControls"]


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
