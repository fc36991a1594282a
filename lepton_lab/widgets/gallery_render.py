"""HTML for the model gallery: result cards, the model card, versions, lineage, load code.

Pure functions from the client's values (:class:`~lepton_lab.gallery.info.ModelInfo`,
:class:`~lepton_lab.gallery.info.ModelVersionInfo`) to HTML strings, testable without a
widget.  Every piece of user text (names, tags, aliases, card fields, dataset references)
goes through :func:`html.escape`, and cards are rendered by markdown-it with raw HTML off:
a card is written by someone else, and the notebook must never run their markup.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from markdown_it import MarkdownIt

from lepton_lab.gallery.candidate import Candidate
from lepton_lab.gallery.cards import auto_card
from lepton_lab.gallery.info import card_markdown

if TYPE_CHECKING:
    from lepton_lab.gallery.info import ModelInfo, ModelVersionInfo

__all__ = [
    "LineageNode",
    "alias_badges",
    "card_for_version",
    "dataset_of",
    "lineage_html",
    "lineage_nodes",
    "load_code",
    "model_card_html",
    "result_card_html",
    "version_label",
    "versions_html",
]

#: Commonmark with raw HTML disabled: ``<script>`` in a card is shown as text, not run.
_MARKDOWN = MarkdownIt("commonmark", {"html": False})
#: Badge colours of the aliases people use most; any other alias is blue.
_ALIAS_COLORS = {"production": "#2e7d32", "staging": "#ef6c00"}
_OTHER_ALIAS = "#1565c0"
_BADGE = (
    'style="display:inline-block; padding:0 6px; border-radius:8px; font-size:85%; '
    'color:white; background:{color}"'
)
# The lineage chain's geometry: boxes sized by their text (an estimate: SVG cannot measure).
_CHAR_WIDTH, _BOX_HEIGHT, _GAP, _PAD = 7.0, 40, 36, 4


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _headline(headline: Mapping[str, Any] | tuple[str, float] | None) -> str:
    """``roc_auc 0.9812``, or ``""`` when nothing was measured."""
    if not headline:
        return ""
    name, value = (
        (headline["name"], headline["value"]) if isinstance(headline, Mapping) else headline
    )
    return f"{name} {value:.4g}"


def alias_badges(aliases: Mapping[str, int] | Sequence[str]) -> str:
    """One coloured badge per alias: ``production@3`` (or ``production`` for a version's)."""
    if isinstance(aliases, Mapping):
        items = [(a, f"{a}@{v}") for a, v in sorted(aliases.items())]
    else:
        items = [(a, a) for a in aliases]
    return " ".join(
        f'<span class="ll-alias" {_BADGE.format(color=_ALIAS_COLORS.get(a, _OTHER_ALIAS))}>'
        f"{_esc(text)}</span>"
        for a, text in items
    )


def _tags(tags: Sequence[str]) -> str:
    return " ".join(f"<code>{_esc(t)}</code>" for t in tags) or "no tags"


# -- the result list ---------------------------------------------------------------------------


def result_card_html(info: ModelInfo, *, selected: bool = False) -> str:
    """One model of the result list: ref, task, headline metric, alias badges, tags."""
    border = "var(--jp-brand-color1, #1976d2)" if selected else "var(--jp-border-color2, #ddd)"
    metric = _headline(info.headline)
    facts = " · ".join(
        part
        for part in (
            f"latest @{info.latest_version}",
            _esc(info.task) if info.task else "",
            f"<b>{_esc(metric)}</b>" if metric else "",
            f"by {_esc(info.owner)}",
            _esc(info.visibility),
        )
        if part
    )
    return (
        f'<div class="ll-model-card" style="border:1px solid {border}; '
        f'border-radius:4px; padding:4px 8px">'
        f"<b>{_esc(info.ref)}</b> {alias_badges(info.aliases)}<br>"
        f"<small>{facts}</small><br><small>{_tags(info.tags)}</small></div>"
    )


# -- the selected model ------------------------------------------------------------------------


def _auto_fields(version: ModelVersionInfo) -> dict[str, str]:
    """The card fields the gallery fills in, as they were written for ``version``."""
    test = next((m.metrics for m in version.metrics if m.split == "test"), {})
    facts = Candidate(b"", version.format, version.task, version.family, version.params,
                      version.signature, version.spec, dict(test))  # fmt: skip
    return auto_card(facts, dataset_of(version))


def card_for_version(
    card: Mapping[str, str], newest: ModelVersionInfo, shown: ModelVersionInfo
) -> dict[str, str]:
    """The model's card as it reads for version ``shown``.

    A card is one per model, and the fields the gallery fills in (summary, training data,
    evaluation) follow the newest version: for an older one they are written again from
    its own facts.  A field that differs from the newest version's filled-in text was
    written by a person and is kept as it is.
    """
    if shown.version == newest.version:
        return dict(card)
    filled, own = _auto_fields(newest), _auto_fields(shown)
    kept = {k: v for k, v in card.items() if k not in filled or v != filled[k]}
    return {**{k: v for k, v in own.items() if k not in kept}, **kept}


def model_card_html(
    info: ModelInfo, card: Mapping[str, str] | None = None, version: ModelVersionInfo | None = None
) -> str:
    """The model's facts and aliases, then its card rendered from markdown.

    ``card`` (default: the model's) and ``version`` show it as it reads for an older
    version (:func:`card_for_version`): its own headline metric, not the newest one's.
    """
    card = info.card if card is None else card
    older = version is not None and version.version != info.latest_version
    metric = _headline(version.headline if older and version else info.headline)
    shown = f" · showing <b>@{version.version}</b>" if older and version else ""
    facts = (
        f"owner <b>{_esc(info.owner)}</b> · team <b>{_esc(info.team)}</b> · "
        f"visibility <b>{_esc(info.visibility)}</b> · task <b>{_esc(info.task or '?')}</b> · "
        f"latest @{info.latest_version}" + (f" · {_esc(metric)}" if metric else "") + shown
    )
    aliases = alias_badges(info.aliases) or "<i>no aliases yet</i>"
    markdown = card_markdown(info.ref, dict(card))
    body = _MARKDOWN.render(markdown) if any(card.values()) else "<p><i>No card.</i></p>"
    return (
        f'<div class="ll-card"><p>{facts}<br>aliases {aliases} · tags {_tags(info.tags)}</p>'
        f'<div class="ll-card-body">{body}</div></div>'
    )


def dataset_of(version: ModelVersionInfo) -> str:
    """The pinned dataset version the model was trained on; ``""`` for a DataFrame."""
    dataset = version.spec.get("dataset") or {}
    return str(dataset.get("ref") or "") if isinstance(dataset, Mapping) else ""


def version_label(version: ModelVersionInfo) -> str:
    """One entry of the version picker (plain text)."""
    metric = _headline(version.headline)
    aliases = f" [{', '.join(version.aliases)}]" if version.aliases else ""
    created = version.created_at.strftime("%Y-%m-%d %H:%M")
    parts = [f"@{version.version}{aliases}", version.family, metric, created, version.created_by]
    return " · ".join(p for p in parts if p)


def versions_html(versions: Sequence[ModelVersionInfo], shown: int = 0) -> str:
    """The version table, newest first; the row of version ``shown`` is highlighted."""
    head = "".join(
        f"<th>{h}</th>"
        for h in ("version", "aliases", "family", "metric", "dataset", "created by", "created at")
    )
    rows = []
    for v in versions:
        style = ' style="background: var(--jp-layout-color2, #eee)"' if v.version == shown else ""
        rows.append(
            f"<tr{style}><td><code>@{v.version}</code></td><td>{alias_badges(v.aliases)}</td>"
            f"<td>{_esc(v.family)}</td><td>{_esc(_headline(v.headline))}</td>"
            f"<td><code>{_esc(dataset_of(v) or '(a DataFrame)')}</code></td>"
            f"<td>{_esc(v.created_by)}</td>"
            f"<td>{v.created_at.strftime('%Y-%m-%d %H:%M')}</td></tr>"
        )
    return (
        f'<table class="ll-model-versions"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def load_code(ref: str) -> str:
    """The lines that load this version in a notebook or a script and use it."""
    return f'model = ll.models.load("{ref}")\nmodel.predict(df)'


# -- lineage -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineageNode:
    """One box of the lineage chain: what it is (``dataset``, ``job``…) and its name."""

    kind: str
    text: str


def lineage_nodes(version: ModelVersionInfo, template: str = "") -> list[LineageNode]:
    """Dataset version -> job (and its template) -> model version, from what the version holds.

    ``template`` is the job's template (``dataset-report@2``) when it could be read.
    """
    nodes = [LineageNode("dataset", dataset_of(version) or "a DataFrame")]
    if version.job_id:
        job = f"{template} ({version.job_id})" if template else version.job_id
        nodes.append(LineageNode("job" if not template else "job · template", job))
    nodes.append(LineageNode("model version", version.ref))
    return nodes


def _lineage_svg(nodes: Sequence[LineageNode]) -> str:
    """Boxes left to right joined by arrows; each box as wide as its longest line."""
    widths = [max(len(n.kind), len(n.text)) * _CHAR_WIDTH + 16 for n in nodes]
    total = sum(widths) + _GAP * (len(nodes) - 1) + 2 * _PAD
    height = _BOX_HEIGHT + 2 * _PAD
    parts = [
        '<defs><marker id="ll-arrow" markerWidth="8" markerHeight="8" refX="7" refY="4" '
        'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#666"/></marker></defs>'
    ]
    x = float(_PAD)
    for i, (node, width) in enumerate(zip(nodes, widths, strict=True)):
        last = i == len(nodes) - 1
        fill = "#e3f2fd" if last else "#f5f5f5"
        parts.append(
            f'<g class="ll-lineage-node"><title>{_esc(node.kind)}: {_esc(node.text)}</title>'
            f'<rect x="{x:.1f}" y="{_PAD}" width="{width:.1f}" height="{_BOX_HEIGHT}" rx="4" '
            f'fill="{fill}" stroke="#90a4ae"/>'
            f'<text x="{x + 8:.1f}" y="{_PAD + 15}" font-size="10" fill="#666">'
            f"{_esc(node.kind)}</text>"
            f'<text x="{x + 8:.1f}" y="{_PAD + 31}" font-size="12" font-family="monospace">'
            f"{_esc(node.text)}</text></g>"
        )
        x += width
        if not last:
            y = _PAD + _BOX_HEIGHT / 2
            parts.append(
                f'<line x1="{x + 2:.1f}" y1="{y}" x2="{x + _GAP - 4:.1f}" y2="{y}" '
                'stroke="#666" marker-end="url(#ll-arrow)"/>'
            )
            x += _GAP
    return (
        f'<svg class="ll-lineage" width="{total:.0f}" height="{height}" '
        f'viewBox="0 0 {total:.0f} {height}" role="img">{"".join(parts)}</svg>'
    )


def lineage_html(version: ModelVersionInfo, template: str = "") -> str:
    """The chain as a small SVG, then the version it follows (its parent) in words."""
    parent = (
        f"<br><small>follows <code>{_esc(version.team)}/{_esc(version.name)}@{version.parent}"
        "</code></small>"
        if version.parent
        else "<br><small>the first version</small>"
    )
    return f'<div class="ll-lineage">{_lineage_svg(lineage_nodes(version, template))}{parent}</div>'
