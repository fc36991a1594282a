"""Changing models: aliases (``production`` needs an editor), cards, tags, evaluations.

An evaluation is stored against what it was measured on: a dataset version
(``team/name@3``, a node of the lineage, which the caller must be able to see) or a
description in parentheses such as ``(a DataFrame)``; its split is a slug of at most
:data:`MAX_SPLIT` characters and its metrics finite numbers (or null for one that could
not be computed).

Roles: moving ``production`` needs the editor role in the model's team, any other alias
(``staging`` …) the contributor role.  Recording an evaluation needs the contributor role
in the model's team (or owning the model); replacing one that someone else recorded
(the registration's ``test`` split among them, which gives the model its headline
metric) needs the right to edit the model: its owner or a team editor.  Each evaluation
is an audit event (``model.evaluate``).
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lepton_lab.errors import InvalidInput, NotFound
from lepton_lab.events import record_event
from lepton_lab.gallery.candidate import check_metrics, dataset_version, json_safe
from lepton_lab.gallery.cards import check_alias, check_card, check_tags, merge_card
from lepton_lab.gallery.info import MetricInfo, ModelInfo
from lepton_lab.gallery.rows import model_info, resolve_version, unversioned, visible_model
from lepton_lab.identity import (
    Actor,
    Role,
    Visibility,
    can_edit,
    require_edit,
    require_role,
)
from lepton_lab.lineage import add_edge
from lepton_lab.refs import check_slug, check_text
from lepton_lab.store.tables import ModelAlias, ModelMetric, utcnow

if TYPE_CHECKING:
    from lepton_lab.workspace import Workspace

__all__ = ["MAX_SPLIT", "PROTECTED_ALIASES", "ModelChanges"]

#: Aliases that only editors may move.
PROTECTED_ALIASES = frozenset({"production"})

#: The longest name of a split an evaluation is stored against (the column's).
MAX_SPLIT = 40

#: The longest description of rows that are no dataset version, ``(a DataFrame)``.
_MAX_DATASET = 300


def _evaluated_on(dataset: object) -> str:
    """What an evaluation was measured on: a dataset version, or text in parentheses."""
    if isinstance(dataset, str) and dataset.startswith("(") and dataset.endswith(")"):
        return check_text(dataset, "dataset", limit=_MAX_DATASET)
    if isinstance(dataset, str) and "/" not in dataset:
        raise InvalidInput(
            f"dataset {dataset[:40]!r} is neither a dataset version like 'team/name@3' nor "
            "a description in parentheses like '(a DataFrame)'"
        )
    return dataset_version(dataset, "dataset")


def _split(split: str) -> str:
    if isinstance(split, str) and len(split) > MAX_SPLIT:
        raise InvalidInput(f"split {split[:20]!r}… is too long: keep it to {MAX_SPLIT} characters")
    return check_slug(split, "split")


def _check_replace(
    actor: Actor, team: str, owner: str, dataset: str, split: str, recorded_by: str
) -> None:
    """Replacing someone else's evaluation rewrites what the gallery shows of the model."""
    if not can_edit(actor, team=team, owner=owner):
        require_role(
            actor,
            team,
            Role.editor,
            f"replacing the evaluation on {dataset} ({split}) that {recorded_by} recorded",
        )


class ModelChanges:
    """The changing half of :class:`~lepton_lab.gallery.service.ModelService`."""

    _ws: Workspace

    def set_alias(self, actor: Actor, ref: str, alias: str) -> ModelInfo:
        """Point ``alias`` at the version ``ref`` names (``production`` needs an editor)."""
        alias = check_alias(alias)

        def work(session: Session) -> ModelInfo:
            row, version = resolve_version(session, actor, ref)
            current = self._ws.teams.actor_in(session, actor.user)
            # As for removing one: production needs an editor, other aliases a contributor.
            role = Role.editor if alias in PROTECTED_ALIASES else Role.contributor
            require_role(current, row.team, role, f"moving {alias} of {row.team}/{row.name}")
            existing = session.get(ModelAlias, (row.id, alias))
            before = existing.version if existing else None
            if existing is None:
                session.add(
                    ModelAlias(
                        model_id=row.id, alias=alias, version=version.version, set_by=actor.user
                    )
                )
            else:
                existing.version, existing.set_by, existing.set_at = (
                    version.version,
                    actor.user,
                    utcnow(),
                )
            record_event(
                session,
                actor.user,
                "model.alias",
                f"model:{row.team}/{row.name}@{alias}",
                version=version.version,
                previous=before,
            )
            session.flush()
            return model_info(session, row)

        return self._ws.db.transact(work)

    def remove_alias(self, actor: Actor, name: str, alias: str) -> ModelInfo:
        """Take an alias off (same roles as moving it)."""

        def work(session: Session) -> ModelInfo:
            row = visible_model(session, actor, unversioned(name))
            current = self._ws.teams.actor_in(session, actor.user)
            role = Role.editor if alias in PROTECTED_ALIASES else Role.contributor
            require_role(current, row.team, role, f"removing {alias} of {row.team}/{row.name}")
            existing = session.get(ModelAlias, (row.id, alias))
            if existing is None:
                raise NotFound(f"{row.team}/{row.name} has no alias {alias!r}")
            session.delete(existing)
            record_event(
                session,
                actor.user,
                "model.alias",
                f"model:{row.team}/{row.name}@{alias}",
                version=None,
                previous=existing.version,
            )
            session.flush()
            return model_info(session, row)

        return self._ws.db.transact(work)

    def update(
        self,
        actor: Actor,
        name: str,
        *,
        card: str | dict[str, str] | None = None,
        tags: builtins.list[str] | None = None,
        visibility: str | None = None,
    ) -> ModelInfo:
        """Change the card (fields you write stop being filled in), tags or visibility."""
        given_card, checked_tags = check_card(card), check_tags(tags)
        vis = Visibility.parse(visibility) if visibility is not None else None

        def work(session: Session) -> ModelInfo:
            row = visible_model(session, actor, unversioned(name))
            current = self._ws.teams.actor_in(session, actor.user)
            require_edit(current, team=row.team, owner=row.owner, what=f"model {row.name}")
            if given_card is not None:
                row.card = merge_card(row.card, given_card, {})
            if checked_tags is not None:
                row.tags = checked_tags
            if vis is not None:
                row.visibility = vis.value
            row.updated_at = utcnow()
            record_event(session, actor.user, "model.update", f"model:{row.team}/{row.name}")
            return model_info(session, row)

        return self._ws.db.transact(work)

    def record_metrics(
        self, actor: Actor, ref: str, dataset: str, split: str, metrics: dict[str, Any]
    ) -> MetricInfo:
        """Store an evaluation of a version on a dataset version (``ll.evaluate``); roles
        as the module says."""
        dataset, split = _evaluated_on(dataset), _split(split)
        metrics = check_metrics(metrics)
        if not dataset.startswith("("):
            self._ws.datasets.version(actor, dataset)  # NotFound unless the caller sees it

        def work(session: Session) -> MetricInfo:
            row, version = resolve_version(session, actor, ref)
            current = self._ws.teams.actor_in(session, actor.user)
            what = f"recording an evaluation of {row.team}/{row.name}"
            if row.owner != current.user:
                require_role(current, row.team, Role.contributor, what)
            existing = session.scalar(
                select(ModelMetric).where(
                    ModelMetric.version_id == version.id,
                    ModelMetric.dataset == dataset,
                    ModelMetric.split == split,
                )
            )
            if existing is None:
                existing = ModelMetric(
                    version_id=version.id,
                    dataset=dataset,
                    split=split,
                    metrics={},
                    created_by=actor.user,
                )
                session.add(existing)
            elif existing.created_by != current.user:
                _check_replace(current, row.team, row.owner, dataset, split, existing.created_by)
            existing.metrics, existing.created_at = json_safe(metrics), utcnow()
            node = f"model:{row.team}/{row.name}@{version.version}"
            if not dataset.startswith("("):
                add_edge(session, f"dataset:{dataset}", node, "evaluated_on", actor.user)
            record_event(session, actor.user, "model.evaluate", node, dataset=dataset, split=split)
            session.flush()
            return MetricInfo(dataset, split, existing.metrics, existing.created_at)

        return self._ws.db.transact(work)

    # -- lookups --------------------------------------------------------------------------
