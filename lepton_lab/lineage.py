"""Lineage: edges between things a person can name (``dataset:finance/credit@3`` -> …).

Kinds: ``read`` (a user or job read a dataset version), ``produced``, ``trained_on``,
``evaluated_on``, ``registered_from``.  Nodes are typed strings, ``kind:ref``, so that the
graph spans datasets, models, jobs and users without a table per pair.

**Who may link what.**  :func:`link_node` records that a node used a dataset version the
caller can see, for a node the caller answers for (:data:`LINKABLE`):

* ``training:…``, ``evaluation:…``: a run in the caller's own kernel (no stored asset;
  the edge keeps who recorded it);
* ``job:<id>``: a job the caller submitted, or one of a team where the caller is at least
  a contributor (a viewer sees the team's jobs but does not write their history);
* ``model:team/name@N``: a model the caller can see, in a team where the caller is at
  least a contributor (or its owner);
* ``user:<name>``: the caller only.

Every link is an audit event (``lineage.link``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from lepton_lab.errors import InvalidInput, NotFound, PermissionDenied
from lepton_lab.events import record_event
from lepton_lab.identity import Actor, Role, can_see
from lepton_lab.refs import parse_ref
from lepton_lab.store.tables import Job, LineageEdge, Model, ref_or_versions

__all__ = ["KINDS", "LINKABLE", "NODE", "Edge", "add_edge", "edges_of", "link_node"]

KINDS = frozenset({"read", "produced", "trained_on", "evaluated_on", "registered_from"})
#: What a node looks like: ``kind:identifier`` (``job:42``, ``training:3f2a…``).
NODE = re.compile(r"[a-z][a-z_-]{0,30}:[A-Za-z0-9_.@/+-]{1,200}")
#: The kinds of node :func:`link_node` records a use of a dataset version for.
LINKABLE = ("training", "evaluation", "job", "model", "user")


@dataclass(frozen=True)
class Edge:
    """``src --kind--> dst``."""

    src: str
    dst: str
    kind: str
    actor: str
    created_at: datetime


def add_edge(session: Session, src: str, dst: str, kind: str, actor: str) -> None:
    """Record an edge in the caller's transaction."""
    if kind not in KINDS:
        raise ValueError(f"unknown lineage kind {kind!r}; known: {sorted(KINDS)}")
    session.add(LineageEdge(src=src, dst=dst, kind=kind, actor=actor))


def edges_of(session: Session, node_prefix: str, *, limit: int = 200) -> list[Edge]:
    """Edges touching a node, or any version of it when ``node_prefix`` has no ``@``."""
    touching = or_(
        ref_or_versions(LineageEdge.src, node_prefix), ref_or_versions(LineageEdge.dst, node_prefix)
    )
    query = select(LineageEdge).where(touching).order_by(LineageEdge.id.desc()).limit(limit)
    return [Edge(e.src, e.dst, e.kind, e.actor, e.created_at) for e in session.scalars(query)]


def link_node(session: Session, actor: Actor, src: str, node: str, kind: str) -> None:
    """Record ``src --kind--> node`` for ``actor``, in the caller's transaction, once the
    actor may answer for ``node`` (the module's rules); an ``lineage.link`` event too."""
    prefix, _, ident = node.partition(":")
    if prefix not in LINKABLE:
        raise InvalidInput(
            f"cannot link lineage node {node!r}: link a run of yours, one of "
            f"{', '.join(f'{p}:…' for p in LINKABLE)}"
        )
    if prefix == "job":
        _check_job(session, actor, ident)
    elif prefix == "model":
        _check_model(session, actor, ident)
    elif prefix == "user" and ident != actor.user:
        raise PermissionDenied(f"{actor.user} cannot record a use for user {ident}; only their own")
    add_edge(session, src, node, kind, actor.user)
    record_event(session, actor.user, "lineage.link", node, src=src, kind=kind)


def _check_job(session: Session, actor: Actor, job_id: str) -> None:
    row = session.get(Job, job_id)
    if row is None or not (
        actor.is_site_admin
        or row.submitted_by == actor.user
        or (row.team and actor.has_role(row.team, Role.viewer))
    ):
        raise NotFound(f"no job {job_id}, or none you may see")
    if row.submitted_by != actor.user and not actor.has_role(row.team, Role.contributor):
        raise PermissionDenied(
            f"recording what job {job_id} used needs its submitter or the contributor role "
            f"in team {row.team}"
        )


def _check_model(session: Session, actor: Actor, text: str) -> None:
    ref = parse_ref(text, "model")
    row = session.scalar(select(Model).where(Model.team == ref.team, Model.name == ref.name))
    if row is None or not can_see(actor, team=row.team, owner=row.owner, visibility=row.visibility):
        raise NotFound(f"no model {ref.qualified}, or none you may see")
    if row.owner != actor.user and not actor.has_role(row.team, Role.contributor):
        raise PermissionDenied(
            f"recording what model {text} used needs the contributor role in team {row.team}"
        )
