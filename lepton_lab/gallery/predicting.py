"""The version a prediction runs: one Core statement, built once, per request.

Predicting needs a version's artifact (sha256 and trusted types), signature and task, and
that the caller may see its model.  :func:`find_version` reads all of it in one statement
(the model joined to the version, through the alias when one is named), whose compiled
form the engine keeps; the visibility rule is :func:`~lepton_lab.identity.can_see` on the
row read, the rule every other read applies.  Nothing is cached between calls: the roles
come from the caller's read, the alias is followed as the catalog holds it now.

It answers only the ordinary case.  A model or version that is not there, or that the
caller may not see, is None: the caller then reads it the full way
(:func:`~lepton_lab.gallery.rows.resolve_version`), whose error says what is missing with
its suggestions, the same as any other read of the gallery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, Select, and_, bindparam, select

from lepton_lab.identity import Actor, can_see
from lepton_lab.refs import Ref
from lepton_lab.store.tables import Model, ModelAlias, ModelVersion

__all__ = ["PredictTarget", "find_version"]

_M, _V, _A = Model.__table__, ModelVersion.__table__, ModelAlias.__table__
_MODEL = and_(_M.c.team == bindparam("team"), _M.c.name == bindparam("name"))
_COLUMNS = (
    *(_M.c.team, _M.c.name, _M.c.owner, _M.c.visibility, _M.c.task),
    *(_V.c.version, _V.c.sha256, _V.c.trusted, _V.c.signature),
)


def _versions(*where: Any) -> Select[Any]:
    return (
        select(*_COLUMNS).select_from(_M.join(_V, _V.c.model_id == _M.c.id)).where(_MODEL, *where)
    )


# Built once: their compiled forms are cached by the engine, so a request pays for the
# statement's execution only.
_BY_NUMBER = _versions(_V.c.version == bindparam("version"))
_LATEST = _versions(_V.c.version == _M.c.latest_version)
_BY_ALIAS = _versions(
    _A.c.model_id == _M.c.id, _A.c.alias == bindparam("alias"), _A.c.version == _V.c.version
)


@dataclass(frozen=True)
class PredictTarget:
    """What predicting with one version needs."""

    ref: str
    """``team/name@version``, the version pinned."""
    task: str
    sha256: str
    trusted: list[str]
    signature: dict[str, Any]

    @classmethod
    def of(cls, model: Model | Row[Any], version: ModelVersion | Row[Any]) -> PredictTarget:
        """The target of a version read through the ORM, or of one plain row holding the
        columns of both (:func:`find_version`)."""
        return cls(
            ref=f"{model.team}/{model.name}@{version.version}",
            task=model.task,
            sha256=version.sha256,
            trusted=list(version.trusted),
            signature=dict(version.signature),
        )


def find_version(conn: Connection, actor: Actor, ref: Ref) -> PredictTarget | None:
    """The version ``ref`` names (by number, alias, or the latest) if ``actor`` may see its
    model; None otherwise, or when there is none (then read it the full way, for the
    error)."""
    params: dict[str, Any] = {"team": ref.team, "name": ref.name}
    if ref.alias is not None:
        statement, params["alias"] = _BY_ALIAS, ref.alias
    elif ref.version is not None:
        statement, params["version"] = _BY_NUMBER, ref.version
    else:
        statement = _LATEST
    row = conn.execute(statement, params).first()
    if row is None or not can_see(actor, team=row.team, owner=row.owner, visibility=row.visibility):
        return None
    return PredictTarget.of(row, row)
