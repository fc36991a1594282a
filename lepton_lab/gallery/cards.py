"""Model cards, tags and aliases: what people type about a model, checked and merged."""

from __future__ import annotations

from typing import Any

from lepton_lab.errors import InvalidInput
from lepton_lab.gallery.candidate import Candidate
from lepton_lab.gallery.info import CARD_FIELDS
from lepton_lab.refs import check_slug, check_text

__all__ = ["auto_card", "check_alias", "check_card", "check_tags", "merge_card"]

_MAX_CARD_FIELD = 20_000


def check_alias(alias: str) -> str:
    alias = check_slug(alias, "alias")
    if alias.isdigit() or alias == "latest":
        raise InvalidInput(f"alias {alias!r} would read as a version; pick a name like staging")
    return alias


def check_card(card: str | dict[str, str] | None) -> dict[str, str] | None:
    if card is None:
        return None
    if isinstance(card, str):
        card = {"notes": card}
    if not isinstance(card, dict):
        raise InvalidInput(f"card must be markdown text or a dict of {list(CARD_FIELDS)}")
    unknown = sorted(set(card) - set(CARD_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown card field(s) {unknown}; use {list(CARD_FIELDS)}")
    return {k: check_text(v, f"card {k}", limit=_MAX_CARD_FIELD) for k, v in card.items()}


def check_tags(tags: Any) -> list[str] | None:
    if tags is None:
        return None
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        raise InvalidInput("tags must be a list of non-empty text")
    return [check_slug(t.lower(), "tag") for t in tags]


def auto_card(candidate: Candidate, dataset: str) -> dict[str, str]:
    """Card fields filled in from what is known about a version."""
    target = candidate.spec.get("target", "")
    card = {
        "summary": f"A {candidate.family} model for {candidate.task}"
        + (f" of `{target}`" if target else "")
        + "."
    }
    if dataset:
        rows = candidate.spec.get("rows", {}).get("train")
        card["training_data"] = f"`{dataset}`" + (f", {rows} training rows" if rows else "")
    if candidate.metrics:
        shown = ", ".join(
            f"{k} {v:.4g}" for k, v in candidate.metrics.items() if isinstance(v, int | float)
        )
        card["evaluation"] = f"Held-out test split: {shown}."
    return card


def merge_card(
    old: dict[str, Any], given: dict[str, str] | None, auto: dict[str, str]
) -> dict[str, Any]:
    """Fields a person wrote win and stop being filled in; the rest follow the new version."""
    auto_keys = set(old.get("auto", [])) if old else set()
    card = {k: v for k, v in (old or {}).items() if k != "auto"}
    for key, value in auto.items():
        if key not in card or key in auto_keys:
            card[key] = value
            auto_keys.add(key)
    for key, value in (given or {}).items():
        card[key] = value
        auto_keys.discard(key)
    return {**card, "auto": sorted(auto_keys)}
