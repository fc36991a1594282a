"""``ll.models``, defined once: the model gallery's Python API on both backends."""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from lepton_lab.gallery.info import MetricInfo, ModelInfo, ModelVersionInfo
    from lepton_lab.gallery.loaded import LoadedModel
    from lepton_lab.paging import Page
    from lepton_lab.widgets.gallery import ModelGallery

__all__ = ["ModelsAPI"]


class ModelsAPI(Protocol):
    """``ll.models``: register, find, compare, promote and load shared models."""

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
        """Register ``ll.train``'s result (or a fitted scikit-learn estimator) as ``team/name``.

        The model is saved in safe formats (skops; safetensors for torch networks), with its
        signature, metrics, training spec and lineage.  ``card`` is markdown or a dict of
        summary, intended_use, limitations, training_data, evaluation, notes.
        """
        ...

    def get(self, name: str) -> ModelInfo:
        """A model's card, aliases, tags and headline metric."""
        ...

    def version(self, ref: str) -> ModelVersionInfo:
        """``team/name@3``, ``team/name@production`` or ``team/name`` (latest)."""
        ...

    def versions(self, name: str) -> builtins.list[ModelVersionInfo]:
        """Every version, newest first."""
        ...

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
        ...

    def load(self, ref: str) -> LoadedModel:
        """The model, loaded safely: ``model.predict(df)``, ``model.predict_proba(df)``."""
        ...

    def predict(self, ref: str, rows: Any) -> dict[str, Any]:
        """Predictions for rows (a DataFrame or a list of dicts), computed where the model is."""
        ...

    def promote(self, ref: str, alias: str = "production") -> ModelInfo:
        """Point an alias at a version (moving ``production`` needs the editor role)."""
        ...

    def remove_alias(self, name: str, alias: str) -> ModelInfo:
        """Take an alias off."""
        ...

    def update(
        self,
        name: str,
        *,
        card: str | dict[str, str] | None = None,
        tags: builtins.list[str] | None = None,
        visibility: str | None = None,
    ) -> ModelInfo:
        """Edit the card, tags or visibility."""
        ...

    def compare_rows(self, name: str) -> builtins.list[dict[str, Any]]:
        """One row per version and (dataset version, split) with every metric."""
        ...

    def record_evaluation(self, ref: str, evaluation: Any) -> MetricInfo:
        """Store ``ll.evaluate``'s result against the version."""
        ...

    # -- written once here, on the methods above ---------------------------------------

    def compare(self, name: str) -> pd.DataFrame:
        """Versions by metrics, with the dataset version and split each was measured on."""
        import pandas as pd

        return pd.DataFrame(self.compare_rows(name))

    def plot_compare(self, name: str, metric: str | None = None) -> Figure:
        """A metric over versions, one line per (dataset, split)."""
        from lepton_lab.gallery.plots import compare_figure

        return compare_figure(name, self.compare_rows(name), metric)

    def browse(self, query: str = "") -> ModelGallery:
        """The model gallery widget: search, cards, versions, metrics, lineage, promote."""
        from lepton_lab.widgets.gallery import ModelGallery

        # With the jobs API, the lineage names the template a job ran.
        jobs = getattr(getattr(self, "_client", None), "jobs", None)
        return ModelGallery(self, query=query, jobs_api=jobs)
