"""Job tokens: what a job's kernel proves itself with in a shared deployment.

A runner that claims a job over HTTP receives a token for it, once, in the claim's answer.
The token acts as the job's submitter and names the job (reads are recorded against it),
and only while the job runs: it is valid while the job is ``running`` in the attempt it
was issued for and that attempt's lease is current, and its row is deleted when the job
ends, is lost or goes back to the queue.  Only its sha256 is stored, so a copy of the
database holds no usable token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from lepton_lab.store.tables import Job, JobToken, utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from lepton_lab.store.db import Database

__all__ = ["PREFIX", "JobIdentity", "digest", "issue", "resolve", "revoke"]

#: Every job token starts with this, so a server knows which check applies to it.
PREFIX = "llj_"


@dataclass(frozen=True)
class JobIdentity:
    """Who a valid job token acts as, and for which job."""

    user: str
    job_id: str


def digest(token: str) -> str:
    """The sha256 a token is stored and looked up by."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def issue(session: Session, job: Job) -> str:
    """A new token for ``job``'s current attempt, acting as its submitter."""
    token = PREFIX + secrets.token_urlsafe(32)
    session.add(JobToken(sha256=digest(token), job_id=job.id, attempt=job.attempt,
                         user=job.submitted_by))  # fmt: skip
    return token


def revoke(session: Session, job_id: str) -> None:
    """Delete every token of ``job_id`` (its attempt ended, one way or another)."""
    session.execute(delete(JobToken).where(JobToken.job_id == job_id))


def resolve(db: Database, token: str) -> JobIdentity | None:
    """Who ``token`` acts as, or None: unknown, revoked, or its job not running under the
    lease it was issued with any more."""
    if not token.startswith(PREFIX):
        return None
    with db.reading() as conn:  # inside one_snapshot, the caller's own connection
        row = conn.execute(
            select(JobToken.user, JobToken.job_id)
            .join(Job, Job.id == JobToken.job_id)
            .where(
                JobToken.sha256 == digest(token),
                Job.status == "running",
                Job.attempt == JobToken.attempt,
                Job.lease_expires_at > utcnow(),
            )
        ).first()
    return None if row is None else JobIdentity(user=row.user, job_id=row.job_id)
