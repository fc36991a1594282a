"""The audit trail: every change appends an event (who, what, when); nothing edits one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lepton_lab.jsonform import JsonForm
from lepton_lab.store.tables import Event, ref_or_versions

__all__ = ["EventInfo", "list_events", "record_event"]


@dataclass(frozen=True)
class EventInfo(JsonForm):
    """One audit event."""

    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    details: dict[str, Any]


def record_event(session: Session, actor: str, action: str, subject: str, **details: Any) -> None:
    """Append an event in the caller's transaction, so it exists exactly when the change does."""
    session.add(Event(actor=actor, action=action, subject=subject, details=details))


def list_events(
    session: Session, *, subject_prefix: str | None = None, limit: int = 50
) -> list[EventInfo]:
    """Newest first; ``subject_prefix`` narrows to one asset (``finance/credit``)."""
    query = select(Event).order_by(Event.id.desc()).limit(limit)
    if subject_prefix is not None:
        query = query.where(ref_or_versions(Event.subject, subject_prefix))
    return [
        EventInfo(e.id, e.at, e.actor, e.action, e.subject, dict(e.details))
        for e in session.scalars(query)
    ]
