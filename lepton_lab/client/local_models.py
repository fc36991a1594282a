"""``ll.models`` on a local workspace: the gallery service, as the client's user."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from lepton_lab.client.api_models import ModelsAPI
from lepton_lab.gallery.info import MetricInfo, ModelInfo, ModelVersionInfo
from lepton_lab.paging import Page

if TYPE_CHECKING:
    from lepton_lab.client.local import LocalClient
    from lepton_lab.gallery.loaded import LoadedModel

__all__ = ["LocalModels", "evaluation_parts"]


def evaluation_parts(evaluation: Any) -> tuple[str, str, dict[str, Any]]:
    """(dataset, split, metrics) of an ``ll.evaluate`` result, for the gallery."""
    dataset = (getattr(evaluation, "dataset", None) or {}).get("ref") or "(a DataFrame)"
    return dataset, "eval", dict(evaluation.metrics)


class LocalModels(ModelsAPI):
    """``ll.models`` on a local workspace."""

    def __init__(self, client: LocalClient) -> None:
        self._client = client
        self._service = client.workspace.models

    def register(
        self,
        model: Any,
        name: str,
        *,
        card: str | dict[str, str] | None = None,
        tags: builtins.list[str] | None = None,
        visibility: str | None = None,
        task: str | None = None,
        features: builtins.list[str] | None = None,
    ) -> ModelVersionInfo:
        """Register a trained model as the next version of ``team/name``."""
        return self._service.register(
            self._client.actor(),
            model,
            name,
            card=card,
            tags=tags,
            visibility=visibility,
            task=task,
            features=features,
        )

    def get(self, name: str) -> ModelInfo:
        """A model's card, aliases, tags and headline metric."""
        return self._service.get(self._client.actor(), name)

    def version(self, ref: str) -> ModelVersionInfo:
        """One version, by number, alias or latest."""
        return self._service.version(self._client.actor(), ref)

    def versions(self, name: str) -> builtins.list[ModelVersionInfo]:
        """Every version, newest first."""
        return self._service.versions(self._client.actor(), name)

    def search(
        self,
        query: str = "",
        *,
        team: str | None = None,
        task: str | None = None,
        tag: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> Page[ModelInfo]:
        """Models you may see matching ``query``."""
        actor = self._client.actor()
        return self._service.search(
            actor, query, team=team, task=task, tag=tag, limit=limit, offset=offset
        )

    def load(self, ref: str) -> LoadedModel:
        """The model, loaded safely."""
        return self._service.load(self._client.actor(), ref)

    def predict(self, ref: str, rows: Any) -> dict[str, Any]:
        """Predictions for rows."""
        return self._service.predict(self._client.actor(), ref, rows)

    def promote(self, ref: str, alias: str = "production") -> ModelInfo:
        """Point an alias at a version."""
        return self._service.set_alias(self._client.actor(), ref, alias)

    def remove_alias(self, name: str, alias: str) -> ModelInfo:
        """Take an alias off."""
        return self._service.remove_alias(self._client.actor(), name, alias)

    def update(
        self,
        name: str,
        *,
        card: str | dict[str, str] | None = None,
        tags: builtins.list[str] | None = None,
        visibility: str | None = None,
    ) -> ModelInfo:
        """Edit the card, tags or visibility."""
        actor = self._client.actor()
        return self._service.update(actor, name, card=card, tags=tags, visibility=visibility)

    def compare_rows(self, name: str) -> builtins.list[dict[str, Any]]:
        """One row per version and (dataset version, split)."""
        return self._service.compare(self._client.actor(), name)

    def record_evaluation(self, ref: str, evaluation: Any) -> MetricInfo:
        """Store an evaluation against the version."""
        dataset, split, metrics = evaluation_parts(evaluation)
        return self._service.record_metrics(self._client.actor(), ref, dataset, split, metrics)
