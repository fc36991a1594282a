"""Lineage: edges between things a person can name (``dataset:finance/credit@3`` -> …).

Kinds: ``read`` (a user or job read a dataset version), ``produced``, ``trained_on``,
``evaluated_on``, ``registered_from``.  Nodes are typed strings, ``kind:ref``, so that the
graph spans datasets, models, jobs and users without a table per pair.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from lepton_lab.store.tables import LineageEdge, ref_or_versions

__all__ = ["KINDS", "NODE", "Edge", "add_edge", "edges_of"]

KINDS = frozenset({"read", "produced", "trained_on", "evaluated_on", "registered_from"})
#: What a node looks like: ``kind:identifier`` (``job:42``, ``training:3f2a…``).
NODE = re.compile(r"[a-z][a-z_-]{0,30}:[A-Za-z0-9_.@/+-]{1,200}")


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
