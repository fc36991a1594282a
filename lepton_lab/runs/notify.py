"""Notifications when a job ends: signed webhooks and e-mail, delivered once per end.

A job's ``notify`` (:mod:`~lepton_lab.runs.notify_spec`, checked at submit) says on which
ends and to whom; :mod:`~lepton_lab.runs.notify_channels` sends.

The jobs table is the outbox.  Whoever runs a delivery pass (every runner, and the server
extension's watch thread: :func:`deliver_in_background`) looks for ended jobs with a
``notify`` and no ``notices`` yet, and claims each one by a compare-and-set of its
``notices`` text (``[]`` -> a claim marker), so exactly one process delivers a job's end
however many look.  The deliverer then sends, off any event loop, and replaces its marker
with one notice per target (channel, masked target, delivered or failed, tries, error).
A claim whose process died is taken over after :data:`CLAIM_TTL`; the receiver then sees
the same ``X-Lepton-Delivery`` id again.  A job whose end its ``on`` does not name gets a
marker that is never shown.  Nothing here changes a job's status.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlalchemy import Text, cast, or_, select, update
from sqlalchemy.orm import Session

from lepton_lab.config import Settings
from lepton_lab.errors import InvalidInput
from lepton_lab.runs.groups import GroupInfo
from lepton_lab.runs.info import FINAL_STATES
from lepton_lab.runs.notify_channels import (
    Delivery,
    mask_url,
    send_email,
    send_webhook,
    webhook_secrets,
)
from lepton_lab.runs.notify_spec import DEFAULT_ON, check_url
from lepton_lab.store.tables import Job

if TYPE_CHECKING:
    from lepton_lab.workspace import Workspace

__all__ = [
    "CLAIM_TTL",
    "NOTIFY_POLL",
    "deliver",
    "deliver_due",
    "deliver_group_end",
    "deliver_in_background",
    "wait_for_deliveries",
]

log = logging.getLogger("lepton_lab.notify")

#: Seconds between two delivery passes of one process.
NOTIFY_POLL = 1.0
#: A claim older than this belongs to a process that died; another pass takes it over.
CLAIM_TTL = timedelta(minutes=10)
_BATCH = 50
_EMAIL_FIELDS = (("Submitted by", "submitted_by"), ("Team", "team"), ("Started", "started_at"),
                 ("Ended", "ended_at"), ("Link", "url"))  # fmt: skip


# -- delivering --------------------------------------------------------------------------


def deliver(
    settings: Settings, spec: Mapping[str, Any], event: str, subject: dict[str, Any], key: str
) -> list[dict[str, Any]]:
    """Send one end's notifications to every target of ``spec`` (blocking: retries wait).

    ``event`` is ``"<kind>.ended"`` and ``subject`` the ended thing's JSON, sent under
    ``<kind>``; ``key`` names this end (each target's delivery id derives from it, so a
    delivery sent again carries the same id).  Returns one notice per target.
    """
    kind = event.split(".", 1)[0]
    now = datetime.now(UTC).isoformat()
    body = json.dumps({"event": event, kind: subject, "sent_at": now}).encode()
    notices = []
    for hook in spec.get("webhook", []):
        delivery_id = _delivery_id(key, hook["url"])
        headers = {"X-Lepton-Event": event, "X-Lepton-Delivery": delivery_id}
        result = _webhook(settings, hook, body, headers)
        notices.append(_logged(result, key).notice(delivery_id, now))
    for address in spec.get("email", []):
        result = _email(settings, address, kind, subject)
        notices.append(_logged(result, key).notice(_delivery_id(key, address), now))
    return notices


def _webhook(
    settings: Settings, hook: Mapping[str, str], body: bytes, headers: dict[str, str]
) -> Delivery:
    url, name = hook["url"], hook.get("secret_name", "")
    try:
        check_url(settings, url)  # the allowed hosts may have changed since the submit
        secret = webhook_secrets(settings).get(name) if name else None
    except InvalidInput as exc:
        return Delivery("webhook", mask_url(url), False, 0, exc.message)
    if name and secret is None:
        problem = f"the webhook secret {name!r} is no longer configured; nothing was sent"
        return Delivery("webhook", mask_url(url), False, 0, problem)
    return send_webhook(settings, url, body, headers, secret)


def _email(settings: Settings, address: str, kind: str, subject: dict[str, Any]) -> Delivery:
    if not settings.smtp_host:
        return Delivery("email", address, False, 0, "no SMTP server is configured any more")
    name = subject.get("template") or subject.get("name") or subject.get("id")
    title = f"[Lepton Lab] {kind} {name} {subject.get('status')}"
    return send_email(settings, address, title, _email_text(kind, subject))


def _email_text(kind: str, subject: dict[str, Any]) -> str:
    """A plain-text body: what ended, how, why, and where to look."""
    name = subject.get("template") or subject.get("name")
    lines = [f"The {kind} {subject.get('id')} ({name}) ended: {subject.get('status')}.", ""]
    reason = subject.get("reason") or {}
    if reason.get("message"):
        lines += [f"Why: {reason['message']}", ""]
    for label, field in _EMAIL_FIELDS:
        if subject.get(field):
            lines.append(f"{label}: {subject[field]}")
    return "\n".join(lines) + "\n"


def _logged(result: Delivery, key: str) -> Delivery:
    if result.delivered:
        log.info("notified %s by %s (%s) after %d tries", key, result.channel, result.target,
                 result.attempts)  # fmt: skip
    else:
        log.warning("could not notify %s by %s (%s) after %d tries: %s", key, result.channel,
                    result.target, result.attempts, result.error)  # fmt: skip
    return result


def _delivery_id(key: str, target: str) -> str:
    return hashlib.sha256(f"{key}\n{target}".encode()).hexdigest()[:24]


def deliver_group_end(
    settings: Settings, spec: Mapping[str, Any], group: GroupInfo
) -> list[dict[str, Any]]:
    """Notify a sweep's or pipeline run's end (``group.ended``), if ``spec`` asks for it.

    For the caller that has made sure it alone handles this end (as the job outbox does
    with its claim); blocking, so call it off the event loop.  Returns the notices ([]
    when ``spec`` is empty or its ``on`` does not name the group's status).
    """
    if not spec or group.status not in spec.get("on", DEFAULT_ON):
        return []
    subject = {k: v for k, v in group.to_dict().items() if k not in ("jobs", "definition")}
    subject["url"] = _link(settings, f"groups/{group.id}")
    return deliver(settings, spec, "group.ended", subject, f"group:{group.id}")


def _link(settings: Settings, path: str) -> str | None:
    base = settings.public_url.rstrip("/")
    return f"{base}/lepton/api/v1/{path}" if base else None


# -- the outbox --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Claim:
    """A job's end this process alone delivers: what to send, and its marker's text."""

    job_id: str
    marker: str
    spec: dict[str, Any]
    subject: dict[str, Any]


def deliver_due(workspace: Workspace, *, limit: int = _BATCH) -> list[str]:
    """Claim ended jobs whose notifications are due and deliver them; their ids.

    Blocking (retries wait): run it in a thread.  Claims are taken one at a time, so that
    other processes' passes share a burst of ends.
    """
    handled = []
    for job_id, seen in _candidates(workspace, limit):
        claim = workspace.db.transact(partial(_claim, workspace, job_id=job_id, seen=seen))
        if claim is None:
            continue
        notices = deliver(workspace.settings, claim.spec, "job.ended", claim.subject,
                          f"job:{claim.job_id}")  # fmt: skip
        if not workspace.db.transact(partial(_replace, claim=claim, notices=notices)):
            log.warning("job %s: its notification claim was taken over before it was "
                        "recorded (a pass longer than %s)", claim.job_id, CLAIM_TTL)  # fmt: skip
        handled.append(claim.job_id)
    return handled


def _candidates(workspace: Workspace, limit: int) -> list[tuple[str, str]]:
    """Ended jobs with a notify spec and no notices yet (or a claim that may be stale)."""
    notices = cast(Job.notices, Text)
    query = (
        select(Job.id, notices)
        .where(
            Job.status.in_(sorted(FINAL_STATES)),
            cast(Job.notify, Text) != "{}",
            or_(notices == "[]", notices.like('[{"claim"%')),
        )
        .order_by(Job.ended_at)
        .limit(limit)
    )
    now = datetime.now(UTC)
    with workspace.db.read() as session:
        rows = [(str(i), str(t)) for i, t in session.execute(query)]
    return [(i, t) for i, t in rows if t == "[]" or _claim_expired(t, now)]


def _claim_expired(text: str, now: datetime) -> bool:
    try:
        until = datetime.fromisoformat(json.loads(text)[0]["until"])
    except (ValueError, KeyError, IndexError, TypeError):
        return True  # a marker no pass wrote: take it over rather than never notify
    return until <= now


def _claim(workspace: Workspace, session: Session, *, job_id: str, seen: str) -> _Claim | None:
    """Swap the job's notices from ``seen`` to this process's marker; None if another
    process did first (or the end needs no notice: then the marker says so, for good)."""
    row = session.get(Job, job_id)
    if row is None:
        return None
    spec = dict(row.notify)
    wanted = row.status in spec.get("on", DEFAULT_ON)
    until = (datetime.now(UTC) + CLAIM_TTL).isoformat()
    marker: list[Any] = (
        [{"claim": uuid.uuid4().hex, "until": until}] if wanted else [{"skipped": row.status}]
    )
    subject = _job_subject(workspace.settings, row)
    swapped = session.execute(
        update(Job).where(Job.id == job_id, cast(Job.notices, Text) == seen)
        .values(notices=marker).execution_options(synchronize_session=False)
    )  # fmt: skip
    if swapped.rowcount != 1 or not wanted:  # type: ignore[attr-defined]
        return None
    text = session.scalar(select(cast(Job.notices, Text)).where(Job.id == job_id))
    return _Claim(job_id, str(text), spec, subject)


def _replace(session: Session, *, claim: _Claim, notices: list[dict[str, Any]]) -> bool:
    """The claim marker replaced by the notices, unless another process took it over."""
    swapped = session.execute(
        update(Job).where(Job.id == claim.job_id, cast(Job.notices, Text) == claim.marker)
        .values(notices=notices).execution_options(synchronize_session=False)
    )  # fmt: skip
    return bool(swapped.rowcount == 1)  # type: ignore[attr-defined]


def _job_subject(settings: Settings, row: Job) -> dict[str, Any]:
    """The ``job`` of the webhook body (docs/jobs.md, Notifications)."""

    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {"id": row.id, "template": row.template, "status": row.status,
            "reason": dict(row.reason) if row.reason else None,
            "submitted_by": row.submitted_by, "team": row.team or None,
            "group": row.group_id or None, "step": row.step or None,
            "started_at": when(row.started_at), "ended_at": when(row.ended_at),
            "url": _link(settings, f"jobs/{row.id}")}  # fmt: skip


# -- passes in the background ------------------------------------------------------------


@dataclass
class _Pass:
    thread: threading.Thread
    started: float


_passes: weakref.WeakKeyDictionary[Workspace, _Pass] = weakref.WeakKeyDictionary()
_passes_lock = threading.Lock()


def deliver_in_background(workspace: Workspace) -> bool:
    """Start a delivery pass in a thread of its own, unless one of this process is still
    running or started less than :data:`NOTIFY_POLL` ago; whether one started.

    Runners and the server call it from their loops: it never blocks them, and a slow
    receiver delays only the notifications behind it.
    """
    with _passes_lock:
        last = _passes.get(workspace)
        if last and (last.thread.is_alive() or time.monotonic() - last.started < NOTIFY_POLL):
            return False
        thread = threading.Thread(target=_background_pass, args=(workspace,),
                                  name="lepton-notify", daemon=True)  # fmt: skip
        _passes[workspace] = _Pass(thread, time.monotonic())
        thread.start()
    return True


def wait_for_deliveries(workspace: Workspace, timeout: float = 60.0) -> bool:
    """Wait for this process's pass on ``workspace`` to end; whether none is running."""
    with _passes_lock:
        last = _passes.get(workspace)
    if last is not None:
        last.thread.join(timeout)
    return last is None or not last.thread.is_alive()


def _background_pass(workspace: Workspace) -> None:
    try:
        deliver_due(workspace)
    except Exception:  # a database blip: the claims taken are retried after CLAIM_TTL
        log.exception("the notification pass failed")
