"""The audit trail: every change appends an event (who, what, when); nothing edits one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lepton_lab.store.tables import Event, ref_or_versions

__all__ = ["EventInfo", "list_events", "record_event"]


@dataclass(frozen=True)
class EventInfo:
    """One audit event."""

    id: int
    at: datetime
    actor: str
    action: str
    subject: str
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {**self.__dict__, "at": self.at.isoformat()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EventInfo:
        """From the JSON form (:meth:`to_dict`, as the REST API answers); unknown keys are
        ignored, so that a newer server's extra fields do not break an older client."""
        return cls(
            **{
                **{k: v for k, v in data.items() if k in cls.__dataclass_fields__},
                "details": dict(data["details"]),
                "at": datetime.fromisoformat(data["at"]),
            }
        )


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
