"""The card something is published or changed with: the same keyword arguments for a
dataset, a SQL dataset and a template."""

from __future__ import annotations

from typing_extensions import TypedDict

__all__ = ["CardArgs"]


class CardArgs(TypedDict, total=False):
    """A card, as keyword arguments (None, or not given: unchanged, or the default)."""

    description: str | None
    """What it is, in Markdown."""

    tags: list[str] | None
    """Tags to find it by (given: they replace the ones it had)."""

    visibility: str | None
    """Who may see it: ``private`` (you), ``team`` (the default) or ``org`` (everyone)."""
