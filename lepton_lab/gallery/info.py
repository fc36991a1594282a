"""What the model gallery tells: plain values with ``to_dict``/``from_dict`` for REST."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from typing_extensions import TypedDict

from lepton_lab.paging import row_html

__all__ = [
    "CARD_FIELDS",
    "MetricInfo",
    "ModelFilterArgs",
    "ModelInfo",
    "ModelRegisterArgs",
    "ModelVersionInfo",
    "card_markdown",
]

#: The structured fields of a model card, in the order a card shows them.
CARD_FIELDS = ("summary", "intended_use", "limitations", "training_data", "evaluation", "notes")
_TITLES = {
    "summary": "Summary",
    "intended_use": "Intended use",
    "limitations": "Limitations",
    "training_data": "Training data",
    "evaluation": "Evaluation",
    "notes": "Notes",
}


class ModelRegisterArgs(TypedDict, total=False):
    """How a model is registered, as keyword arguments (None, or not given: the default)."""

    card: str | dict[str, str] | None
    """Markdown, or a dict of the :data:`CARD_FIELDS`."""

    tags: list[str] | None
    """Tags to find it by."""

    visibility: str | None
    """Who may see it: ``private`` (you), ``team`` (the default) or ``org`` (everyone)."""

    task: str | None
    """``binary``, ``multiclass`` or ``regression`` (default: what the model says)."""

    features: list[str] | None
    """A bare estimator's input columns (default: the names it was fitted on)."""


class ModelFilterArgs(TypedDict, total=False):
    """Which models a search keeps (None: any), and the page wanted."""

    team: str | None
    """Only this team's models."""

    task: str | None
    """Only models of this task (``binary``, ``multiclass`` or ``regression``)."""

    tag: str | None
    """Only models with this tag."""

    limit: int
    """At most this many (default 20)."""

    offset: int
    """Skip this many (default 0)."""


def card_markdown(name: str, card: dict[str, str]) -> str:
    """The card as one markdown document."""
    parts = [f"# {name}"]
    for key in CARD_FIELDS:
        if card.get(key):
            parts += ["", f"## {_TITLES[key]}", "", card[key]]
    return "\n".join(parts)


def _iso(value: datetime) -> str:
    return value.isoformat()


@dataclass(frozen=True)
class MetricInfo:
    """A version's metrics on one dataset version and split (test, eval, …)."""

    dataset: str
    split: str
    metrics: dict[str, Any]
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {**self.__dict__, "created_at": _iso(self.created_at)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricInfo:
        """From :meth:`to_dict`."""
        created = datetime.fromisoformat(data["created_at"])
        return cls(data["dataset"], data["split"], dict(data["metrics"]), created)


@dataclass(frozen=True)
class ModelVersionInfo:
    """One immutable version of a model."""

    ref: str
    team: str
    name: str
    version: int
    sha256: str
    format: str
    size: int
    task: str
    family: str
    params: dict[str, Any]
    signature: dict[str, Any]
    spec: dict[str, Any]
    metrics: list[MetricInfo]
    aliases: list[str]
    job_id: str
    parent: int | None
    created_by: str
    created_at: datetime
    trusted: list[str] = field(default_factory=list)
    created: bool = True

    @property
    def headline(self) -> tuple[str, float] | None:
        """The metric versions are compared by (roc_auc, f1_macro or r2), on the test split."""
        from lepton_lab.training.metrics import headline_metric

        test = next((m for m in self.metrics if m.split == "test"), None)
        if test is None or not self.task:
            return None
        name = headline_metric(self.task, test.metrics)  # type: ignore[arg-type]
        value = test.metrics.get(name)
        return (name, float(value)) if isinstance(value, int | float) else None

    def row(self) -> dict[str, Any]:
        """One line of a listing."""
        headline = self.headline
        return {
            "version": self.ref,
            "aliases": ", ".join(self.aliases),
            "family": self.family,
            "metric": f"{headline[0]}={headline[1]:.4g}" if headline else "",
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(timespec="seconds"),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["metrics"] = [m.to_dict() for m in self.metrics]
        data["created_at"] = _iso(self.created_at)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelVersionInfo:
        """From :meth:`to_dict`."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["metrics"] = [MetricInfo.from_dict(m) for m in data["metrics"]]
        values["created_at"] = datetime.fromisoformat(data["created_at"])
        return cls(**values)

    def _repr_html_(self) -> str:
        return row_html(self.row())


@dataclass(frozen=True)
class ModelInfo:
    """A model: its card, owner, visibility, tags, aliases and latest version."""

    ref: str
    team: str
    name: str
    owner: str
    visibility: str
    task: str
    tags: list[str]
    card: dict[str, str]
    latest_version: int
    aliases: dict[str, int]
    headline: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime

    def row(self) -> dict[str, Any]:
        """One line of a listing."""
        metric = self.headline or {}
        return {
            "model": self.ref,
            "latest": self.latest_version,
            "task": self.task,
            "aliases": ", ".join(f"{a}@{v}" for a, v in sorted(self.aliases.items())),
            "metric": f"{metric['name']}={metric['value']:.4g}" if metric else "",
            "tags": ", ".join(self.tags),
        }

    @property
    def markdown(self) -> str:
        """The card as markdown."""
        return card_markdown(self.ref, self.card)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["created_at"], data["updated_at"] = _iso(self.created_at), _iso(self.updated_at)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelInfo:
        """From :meth:`to_dict`."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["created_at"] = datetime.fromisoformat(data["created_at"])
        values["updated_at"] = datetime.fromisoformat(data["updated_at"])
        return cls(**values)

    def _repr_html_(self) -> str:
        from markdown_it import MarkdownIt

        # No raw HTML from a card: it is text people type.
        return str(MarkdownIt("commonmark", {"html": False}).render(self.markdown))
