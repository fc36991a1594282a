"""Reading the gallery's tables: visible models, versions by number or alias, info values."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from lepton_lab.errors import InvalidInput, NotFound, did_you_mean
from lepton_lab.gallery.info import MetricInfo, ModelInfo, ModelVersionInfo
from lepton_lab.identity import Actor, can_see, visible_filter
from lepton_lab.membership import check_registering
from lepton_lab.refs import Ref, parse_ref
from lepton_lab.store.tables import Model, ModelAlias, ModelMetric, ModelVersion

__all__ = [
    "aliases_of",
    "check_write",
    "model_info",
    "model_row",
    "resolve_version",
    "unversioned",
    "version_info",
    "visible_model",
]


def visible_model(session: Session, actor: Actor, ref: Ref) -> Model:
    row = model_row(session, ref)
    if row is None or not can_see(actor, team=row.team, owner=row.owner, visibility=row.visibility):
        names = [
            f"{m.team}/{m.name}"
            for m in session.scalars(
                select(Model).where(
                    visible_filter(
                        actor, team=Model.team, owner=Model.owner, visibility=Model.visibility
                    )
                )
            )
        ]
        raise NotFound(f"no model {ref.qualified}{did_you_mean(ref.qualified, names)}")
    return row


def resolve_version(session: Session, actor: Actor, text: str) -> tuple[Model, ModelVersion]:
    ref = parse_ref(text, "model")
    row = visible_model(session, actor, ref)
    number = ref.version
    if ref.alias is not None:
        alias = session.get(ModelAlias, (row.id, ref.alias))
        if alias is None:
            known = [
                a.alias
                for a in session.scalars(select(ModelAlias).where(ModelAlias.model_id == row.id))
            ]
            raise NotFound(
                f"{ref.qualified} has no alias {ref.alias!r}"
                f"{did_you_mean(ref.alias, known)}; aliases: "
                f"{', '.join(known) or 'none yet'}"
            )
        number = alias.version
    version = session.scalar(
        select(ModelVersion).where(
            ModelVersion.model_id == row.id,
            ModelVersion.version == (number or row.latest_version),
        )
    )
    if version is None:
        raise NotFound(
            f"{ref.qualified} has no version {number}; the latest is {row.latest_version}"
        )
    return row, version


def unversioned(name: str) -> Ref:
    ref = parse_ref(name, "model")
    if ref.version is not None or ref.alias is not None:
        raise InvalidInput(f"name the model without a version: {ref.qualified}")
    return ref


def model_row(session: Session, ref: Ref, *, lock: bool = False) -> Model | None:
    query = select(Model).where(Model.team == ref.team, Model.name == ref.name)
    return session.scalar(query.with_for_update() if lock else query)


def check_write(actor: Actor, ref: Ref, row: Model | None) -> None:
    check_registering(actor, ref, row, kind="model", action=f"registering model {ref.qualified}")


def aliases_of(session: Session, model_id: int) -> dict[str, int]:
    rows = session.scalars(select(ModelAlias).where(ModelAlias.model_id == model_id))
    return {a.alias: a.version for a in rows}


def version_info(
    session: Session, row: Model, version: ModelVersion, *, created: bool = True
) -> ModelVersionInfo:
    measured = session.scalars(
        select(ModelMetric).where(ModelMetric.version_id == version.id).order_by(ModelMetric.id)
    )
    aliases = sorted(a for a, v in aliases_of(session, row.id).items() if v == version.version)
    return ModelVersionInfo(
        ref=f"{row.team}/{row.name}@{version.version}",
        team=row.team,
        name=row.name,
        version=version.version,
        sha256=version.sha256,
        format=version.format,
        size=version.size,
        task=row.task,
        family=version.family,
        params=dict(version.params),
        signature=dict(version.signature),
        spec=dict(version.spec),
        metrics=[MetricInfo(m.dataset, m.split, dict(m.metrics), m.created_at) for m in measured],
        aliases=aliases,
        job_id=version.job_id,
        parent=version.parent,
        created_by=version.created_by,
        created_at=version.created_at,
        trusted=list(version.trusted),
        created=created,
    )


def model_info(session: Session, row: Model) -> ModelInfo:
    latest = session.scalar(
        select(ModelVersion).where(
            ModelVersion.model_id == row.id, ModelVersion.version == row.latest_version
        )
    )
    headline = version_info(session, row, latest).headline if latest is not None else None
    return ModelInfo(
        ref=f"{row.team}/{row.name}",
        team=row.team,
        name=row.name,
        owner=row.owner,
        visibility=row.visibility,
        task=row.task,
        tags=list(row.tags or []),
        card={k: v for k, v in (row.card or {}).items() if k != "auto"},
        latest_version=row.latest_version,
        aliases=aliases_of(session, row.id),
        headline={"name": headline[0], "value": headline[1]} if headline else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
