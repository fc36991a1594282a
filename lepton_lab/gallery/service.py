"""The model gallery: register versions, cards, aliases, metrics, safe loading.

A version is registered in two steps so that both backends share them: :func:`prepare`
(in the process that holds the model: the safe artifact, signature, metrics and spec)
and :meth:`ModelService.commit` (in the catalog's process: the artifact is audited again,
since its bytes may have come over the network, then stored with everything known about
it).  Cards are per model; the fields Lepton Lab filled in (``card["auto"]``) are
refreshed from each new version, the ones a person wrote are kept.
"""

from __future__ import annotations

import builtins
import os
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lepton_lab.errors import Conflict
from lepton_lab.events import record_event
from lepton_lab.gallery.candidate import Candidate, check_candidate, prepare
from lepton_lab.gallery.cards import auto_card, check_card, check_tags, merge_card
from lepton_lab.gallery.changes import PROTECTED_ALIASES, ModelChanges
from lepton_lab.gallery.info import ModelInfo, ModelVersionInfo
from lepton_lab.gallery.predicting import PredictTarget, find_version
from lepton_lab.gallery.rows import (
    check_write,
    model_info,
    model_row,
    resolve_version,
    unversioned,
    version_info,
    visible_model,
)
from lepton_lab.identity import (
    Actor,
    Visibility,
    visible_filter,
)
from lepton_lab.lineage import add_edge
from lepton_lab.membership import require_team
from lepton_lab.paging import Page, check_page
from lepton_lab.refs import Ref, parse_ref
from lepton_lab.store.tables import Model, ModelMetric, ModelVersion, Team, utcnow

if TYPE_CHECKING:
    from lepton_lab.gallery.loaded import LoadedModel
    from lepton_lab.workspace import Workspace

__all__ = ["PROTECTED_ALIASES", "ModelService"]


class ModelService(ModelChanges):
    """Register, find, promote and load models, each call as one :class:`Actor`."""

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    # -- register -------------------------------------------------------------------------

    def register(
        self,
        actor: Actor,
        model: Any,
        name: str,
        *,
        card: str | dict[str, str] | None = None,
        tags: builtins.list[str] | None = None,
        visibility: str | None = None,
        task: str | None = None,
        features: builtins.list[str] | None = None,
    ) -> ModelVersionInfo:
        """Save ``model`` safely and register it as the next version of ``team/name``."""
        ref = unversioned(name)
        self._check_can_register(actor, ref)
        candidate = prepare(model, task=task, features=features)
        return self.commit(actor, candidate, name, card=card, tags=tags, visibility=visibility)

    def commit(
        self,
        actor: Actor,
        candidate: Candidate,
        name: str,
        *,
        card: str | dict[str, str] | None = None,
        tags: builtins.list[str] | None = None,
        visibility: str | None = None,
    ) -> ModelVersionInfo:
        """Check, audit and store a prepared model as a new version (the same bytes: the
        same one).  The candidate may have come over the network: every field is checked
        (:func:`~lepton_lab.gallery.candidate.check_candidate`) before the bytes are audited."""
        from lepton_lab.gallery.artifacts import audit_artifact

        check_candidate(candidate)
        ref = unversioned(name)
        given_card = check_card(card)
        checked_tags = check_tags(tags)
        vis = Visibility.parse(visibility) if visibility is not None else None
        trusted = audit_artifact(candidate.data)  # never trust bytes that travelled
        stored = self._ws.blobs.put_bytes(candidate.data)
        job = os.environ.get("LEPTON_LAB_JOB_ID", "")

        def work(session: Session) -> ModelVersionInfo:
            row = self._model_for_write(session, actor, ref, vis)
            same = session.scalar(
                select(ModelVersion).where(
                    ModelVersion.model_id == row.id, ModelVersion.sha256 == stored.sha256
                )
            )
            if same is not None:
                return version_info(session, row, same, created=False)
            version = ModelVersion(
                model_id=row.id,
                version=row.latest_version + 1,
                sha256=stored.sha256,
                format=candidate.format,
                size=stored.size,
                trusted=trusted,
                family=candidate.family,
                params=candidate.params,
                signature=candidate.signature,
                spec=candidate.spec,
                job_id=job,
                parent=row.latest_version or None,
                created_by=actor.user,
            )
            session.add(version)
            session.flush()
            self._after_version(session, actor, row, version, candidate, given_card, checked_tags)
            return version_info(session, row, version)

        try:
            return self._ws.db.transact(work)
        except IntegrityError:
            raise Conflict(f"{ref.qualified} changed under this registration; try again") from None

    def _check_can_register(self, actor: Actor, ref: Ref) -> None:
        """Fail before saving anything when the actor could never register ``ref``."""
        with self._ws.db.read() as session:
            if session.get(Team, ref.team) is None:
                if self._ws.settings.auto_create_teams:
                    return
                require_team(session, ref.team)
            current = self._ws.teams.actor_in(session, actor.user)
            check_write(current, ref, model_row(session, ref))

    def _model_for_write(
        self, session: Session, actor: Actor, ref: Ref, visibility: Visibility | None
    ) -> Model:
        if session.get(Team, ref.team) is None:
            if not self._ws.settings.auto_create_teams:
                require_team(session, ref.team)
            self._ws.teams.add_team(session, actor, ref.team)
        actor = self._ws.teams.actor_in(session, actor.user)
        row = model_row(session, ref, lock=True)
        check_write(actor, ref, row)
        if row is None:
            row = Model(
                team=ref.team,
                name=ref.name,
                owner=actor.user,
                card={},
                visibility=(visibility or Visibility.team).value,
                tags=[],
            )
            session.add(row)
            session.flush()
            record_event(session, actor.user, "model.create", f"model:{ref.qualified}")
        elif visibility is not None:
            row.visibility = visibility.value
        return row

    def _after_version(
        self,
        session: Session,
        actor: Actor,
        row: Model,
        version: ModelVersion,
        candidate: Candidate,
        card: dict[str, str] | None,
        tags: builtins.list[str] | None,
    ) -> None:
        """Metrics, lineage, the card, the model's summary fields and the audit event."""
        node = f"model:{row.team}/{row.name}@{version.version}"
        dataset = (candidate.spec.get("dataset") or {}).get("ref") or ""
        if candidate.metrics:
            session.add(
                ModelMetric(
                    version_id=version.id,
                    dataset=dataset or "(a DataFrame)",
                    split="test",
                    metrics=candidate.metrics,
                    created_by=actor.user,
                )
            )
        if dataset:
            add_edge(session, f"dataset:{dataset}", node, "trained_on", actor.user)
        if candidate.run:
            add_edge(session, candidate.run, node, "registered_from", actor.user)
        if version.job_id:
            add_edge(session, f"job:{version.job_id}", node, "produced", actor.user)
        row.card = merge_card(row.card, card, auto_card(candidate, dataset))
        row.task, row.latest_version, row.updated_at = candidate.task, version.version, utcnow()
        if tags is not None:
            row.tags = tags
        record_event(session, actor.user, "model.register", node, sha256=version.sha256)

    # -- read -----------------------------------------------------------------------------

    def get(self, actor: Actor, name: str) -> ModelInfo:
        """A model's card, aliases, tags and headline metric."""
        with self._ws.db.read() as session:
            return model_info(session, visible_model(session, actor, unversioned(name)))

    def version(self, actor: Actor, ref: str) -> ModelVersionInfo:
        """One version: ``team/name@3``, ``team/name@production`` or the latest."""
        with self._ws.db.read() as session:
            row, version = resolve_version(session, actor, ref)
            return version_info(session, row, version)

    def versions(self, actor: Actor, name: str) -> builtins.list[ModelVersionInfo]:
        """Every version, newest first."""
        with self._ws.db.read() as session:
            row = visible_model(session, actor, unversioned(name))
            rows = session.scalars(
                select(ModelVersion)
                .where(ModelVersion.model_id == row.id)
                .order_by(ModelVersion.version.desc())
            )
            return [version_info(session, row, v) for v in rows]

    def search(
        self,
        actor: Actor,
        query: str = "",
        *,
        team: str | None = None,
        task: str | None = None,
        tag: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> Page[ModelInfo]:
        """Models the actor may see matching every word of ``query``, newest first."""
        check_page(limit, offset)
        where = [
            visible_filter(actor, team=Model.team, owner=Model.owner, visibility=Model.visibility)
        ]
        for word in query.lower().split():
            pattern = f"%{word}%"
            where.append(
                or_(
                    func.lower(Model.name).like(pattern),
                    Model.team.like(pattern),
                    func.lower(Model.task).like(pattern),
                )
            )
        if team:
            where.append(Model.team == team)
        if task:
            where.append(Model.task == task)
        with self._ws.db.read() as session:
            rows = [
                r
                for r in session.scalars(
                    select(Model).where(*where).order_by(Model.updated_at.desc())
                )
                if not tag or tag in (r.tags or [])
            ]
            items = [model_info(session, r) for r in rows[offset : offset + limit]]
            return Page(items, len(rows), offset, limit)

    def compare(self, actor: Actor, name: str) -> builtins.list[dict[str, Any]]:
        """One row per (version, dataset, split) with every metric: what compare plots."""
        rows = []
        for info in reversed(self.versions(actor, name)):
            for measured in info.metrics:
                rows.append(
                    {
                        "version": info.version,
                        "ref": info.ref,
                        "aliases": ",".join(info.aliases),
                        "family": info.family,
                        "dataset": measured.dataset,
                        "split": measured.split,
                        **measured.metrics,
                    }
                )
        return rows

    def artifact(self, actor: Actor, ref: str) -> tuple[ModelVersionInfo, bytes]:
        """A version and its artifact's bytes (verified against the sha256)."""
        info = self.version(actor, ref)
        return info, self._ws.blobs.read_bytes(info.sha256)

    def load(self, actor: Actor, ref: str) -> LoadedModel:
        """The version, loaded safely (cached in this process by sha256)."""
        from lepton_lab.gallery.loaded import LoadedModel

        info = self.version(actor, ref)
        model = self._model(info.sha256, info.trusted)
        return LoadedModel(model, ref=info.ref, task=info.task, signature=info.signature, info=info)

    def predictor(self, actor: Actor, ref: str) -> LoadedModel:
        """As :meth:`load`, checked the same way (a model the actor may not see is not
        found), without the version's description (``info`` None): what predicting needs,
        in one statement (:func:`~lepton_lab.gallery.predicting.find_version`; inside
        :meth:`Database.one_snapshot <lepton_lab.store.db.Database.one_snapshot>`, on the
        connection that read the caller's roles)."""
        from lepton_lab.gallery.loaded import LoadedModel

        with self._ws.db.reading() as conn:
            found = find_version(conn, actor, parse_ref(ref, "model"))
        if found is None:  # missing or hidden: the full read raises what REST says
            with self._ws.db.read() as session:
                found = PredictTarget.of(*resolve_version(session, actor, ref))
        model = self._model(found.sha256, found.trusted)
        return LoadedModel(model, ref=found.ref, task=found.task, signature=found.signature)

    def _model(self, sha256: str, trusted: builtins.list[str]) -> Any:
        """The model whose artifact has ``sha256``: from this process's cache, else read and
        loaded with the safe loader (which checks the sha256 before it builds anything)."""
        from lepton_lab.gallery.artifacts import cached_model, load_model

        model = cached_model(sha256)
        if model is None:
            data = self._ws.blobs.read_bytes(sha256, verify=False)
            model = load_model(data, sha256, trusted)
        return model

    def predict(self, actor: Actor, ref: str, rows: Any) -> dict[str, Any]:
        """Predictions (and class probabilities when the model gives them) for JSON rows:
        :meth:`LoadedModel.answer <lepton_lab.gallery.loaded.LoadedModel.answer>`."""
        return self.predictor(actor, ref).answer(rows)

    # -- change ---------------------------------------------------------------------------
