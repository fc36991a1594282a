"""The two ways a notification leaves: a signed webhook (HTTP POST) and an e-mail (SMTP).

Both try up to ``Settings.notify_attempts`` times, waiting ``notify_backoff`` seconds
before the second try and twice as long before each later one.  What is worth another
try: a refused or timed-out connection, a webhook's 5xx or 429 answer, an SMTP server's
4xx ("try later") reply.  Any other 4xx webhook answer or 5xx SMTP reply is final.  Each
delivery returns a :class:`Delivery` that holds no secret: the target is masked
(:func:`mask_url`), and errors are written here, never copied from an exception that may
quote a URL.

Webhook secrets are the operator's (``LEPTON_LAB_WEBHOOK_SECRETS``): a job names one, and
the body is signed with it: ``X-Lepton-Signature: sha256=<hex HMAC-SHA256 of the body>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lepton_lab.config import Settings
from lepton_lab.errors import InvalidInput

__all__ = [
    "Delivery",
    "mask_url",
    "send_email",
    "send_webhook",
    "sign",
    "webhook_secrets",
]

log = logging.getLogger("lepton_lab.notify")

# A path segment this long is likely a token (chat services put theirs in the path).
_TOKEN_LENGTH = 16
# A non-2xx answer's body is quoted in the notice up to this many characters.
_QUOTE = 200


@dataclass(frozen=True)
class Delivery:
    """How one notification went: never holds a secret."""

    channel: str
    target: str
    delivered: bool
    attempts: int
    error: str = ""

    def notice(self, delivery_id: str, at: str) -> dict[str, Any]:
        """The entry stored in the job's ``notices`` and shown with it."""
        return {"channel": self.channel, "target": self.target,
                "status": "delivered" if self.delivered else "failed",
                "attempts": self.attempts, "error": self.error,
                "delivery": delivery_id, "at": at}  # fmt: skip


class _Retry(Exception):
    """A try that failed in a way worth trying again."""


class _Final(Exception):
    """A try that failed in a way no later try will change."""


def webhook_secrets(settings: Settings) -> dict[str, str]:
    """The operator's webhook secrets by name (an inline JSON object, or a JSON file)."""
    raw = settings.webhook_secrets.strip()
    if not raw:
        return {}
    try:
        text = raw if raw.startswith("{") else Path(raw).expanduser().read_text("utf-8")
        found = json.loads(text)
    except (OSError, ValueError):
        # Never quote the value: it may be the secrets themselves.
        raise InvalidInput(
            "LEPTON_LAB_WEBHOOK_SECRETS must be a JSON object of name -> secret, or the "
            "path of a readable JSON file holding one"
        ) from None
    if not isinstance(found, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v for k, v in found.items()
    ):
        raise InvalidInput("LEPTON_LAB_WEBHOOK_SECRETS must map names to non-empty strings")
    return found


def sign(body: bytes, secret: str) -> str:
    """The ``X-Lepton-Signature`` value of a body: ``sha256=`` and the hex HMAC-SHA256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def mask_url(url: str) -> str:
    """A webhook URL fit to show: no user or password, no query, long path parts cut."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    segments = [s[:4] + "…" if len(s) >= _TOKEN_LENGTH else s for s in parts.path.split("/")]
    query = "?…" if parts.query else ""
    return f"{parts.scheme}://{host}{'/'.join(segments)}{query}"


def _retrying(settings: Settings, attempt: Callable[[], None]) -> tuple[int, str]:
    """Run ``attempt`` until it succeeds, fails for good, or the tries run out: the tries
    made and the last error ("" on success)."""
    error = ""
    for tries in range(1, settings.notify_attempts + 1):
        if tries > 1:
            time.sleep(settings.notify_backoff * 2 ** (tries - 2))
        try:
            attempt()
            return tries, ""
        except _Final as exc:
            return tries, str(exc)
        except _Retry as exc:
            error = str(exc)
    return settings.notify_attempts, error


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not followed: the signed body goes to the URL given only."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def send_webhook(
    settings: Settings, url: str, body: bytes, headers: Mapping[str, str], secret: str | None
) -> Delivery:
    """POST ``body`` (JSON) to ``url``, signed with ``secret`` when there is one."""
    sent = {"Content-Type": "application/json", "User-Agent": "lepton-lab", **headers}
    if secret:
        sent["X-Lepton-Signature"] = sign(body, secret)
    opener = urllib.request.build_opener(_NoRedirect)

    def attempt() -> None:
        request = urllib.request.Request(url, data=body, headers=sent, method="POST")
        try:
            with opener.open(request, timeout=settings.webhook_timeout) as answer:
                answer.read(_QUOTE)
        except urllib.error.HTTPError as exc:
            quoted = exc.read(_QUOTE).decode("utf-8", "replace").strip()
            message = f"the receiver answered {exc.code}" + (f": {quoted}" if quoted else "")
            # 429 asks to come back later, as a 5xx does; other 4xx will not change.
            again = exc.code >= 500 or exc.code == 429
            raise (_Retry if again else _Final)(message) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise _Retry(f"could not reach the receiver: {_describe(reason)}") from None

    tries, error = _retrying(settings, attempt)
    return Delivery("webhook", mask_url(url), not error, tries, error)


def send_email(settings: Settings, to: str, subject: str, text: str) -> Delivery:
    """Send a plain-text e-mail to ``to`` through the operator's SMTP server."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    # Header values are one line: a name with a line break must not add headers.
    message["Subject"] = " ".join(subject.split())
    message.set_content(text)

    def attempt() -> None:
        try:
            with smtplib.SMTP(settings.smtp_host, settings.smtp_port,
                              timeout=settings.webhook_timeout) as smtp:  # fmt: skip
                if settings.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if settings.smtp_user:
                    smtp.login(settings.smtp_user, settings.smtp_password)
                smtp.send_message(message)
        except smtplib.SMTPResponseException as exc:
            reply = f"the SMTP server replied {exc.smtp_code}: {_reply_text(exc.smtp_error)}"
            raise (_Retry if 400 <= exc.smtp_code < 500 else _Final)(reply) from None
        except smtplib.SMTPRecipientsRefused:
            raise _Final("the SMTP server refused the recipient") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise _Retry(f"could not reach the SMTP server: {_describe(exc)}") from None

    tries, error = _retrying(settings, attempt)
    return Delivery("email", to, not error, tries, error)


def _describe(reason: object) -> str:
    """An exception's kind and message, without a URL it may quote."""
    if isinstance(reason, BaseException):
        return f"{type(reason).__name__}: {reason}"[:_QUOTE]
    return str(reason)[:_QUOTE]


def _reply_text(error: bytes | str) -> str:
    text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
    return " ".join(text.split())[:_QUOTE]
