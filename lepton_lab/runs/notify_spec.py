"""A job's ``notify`` spec: which ends to notify, and which webhooks and addresses.

Checked once, at submit (or when a schedule is made), and stored normalised::

    {"on": ["cancelled", "failed", "lost"],
     "webhook": [{"url": "https://hooks.example.org/x", "secret_name": "ops"}],
     "email": ["ana@example.org"]}

A webhook names the operator's signing secret (``LEPTON_LAB_WEBHOOK_SECRETS``) and never
holds it; one that names none is signed with the ``default`` secret when there is one.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from lepton_lab.config import Settings
from lepton_lab.errors import InvalidInput
from lepton_lab.runs.info import FINAL_STATES
from lepton_lab.runs.notify_channels import mask_url, webhook_secrets

__all__ = ["DEFAULT_ON", "check_notify", "check_url", "visible_notices"]

#: The ends notified when ``on`` is not given: the ones someone has to look at.
DEFAULT_ON = ("cancelled", "failed", "lost")
_KEYS = frozenset({"on", "webhook", "email"})
_MAX_TARGETS = 10
_MAX_URL = 2000
# An address without display name, quotes or anything a header could be split on.
_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"']+@[^@\s<>()\[\],;:\"']+\.[A-Za-z0-9-]{2,}")


def check_notify(settings: Settings, spec: Mapping[str, Any] | None) -> dict[str, Any]:
    """A ``notify`` spec checked and normalised (``{}`` for none), or InvalidInput."""
    if not spec:
        return {}
    if not isinstance(spec, Mapping):
        raise InvalidInput(
            'notify must be an object such as {"email": ["ana@example.org"]}, '
            f"not {type(spec).__name__}"
        )
    unknown = sorted(set(spec) - _KEYS)
    if unknown:
        raise InvalidInput(f"unknown notify key(s) {unknown}; use on, webhook, email")
    hooks = [_check_webhook(settings, h) for h in _as_list(spec.get("webhook"), "webhook")]
    emails = [_check_address(settings, a) for a in _as_list(spec.get("email"), "email")]
    if not hooks and not emails:
        raise InvalidInput("notify names no webhook and no email; give at least one")
    return {"on": _check_on(spec.get("on")), "webhook": hooks, "email": emails}


def _as_list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    found = [value] if isinstance(value, str | Mapping) else value
    if not isinstance(found, list | tuple) or len(found) > _MAX_TARGETS:
        raise InvalidInput(f"notify {what} must be one target or a list of at most "
                           f"{_MAX_TARGETS}")  # fmt: skip
    return list(found)


def _check_on(value: Any) -> list[str]:
    if value is None:
        return list(DEFAULT_ON)
    states = [value] if isinstance(value, str) else value
    if not isinstance(states, list | tuple) or not states:
        raise InvalidInput(f"notify on must be a list of job ends: {sorted(FINAL_STATES)}")
    wrong = [s for s in states if s not in FINAL_STATES]
    if wrong:
        raise InvalidInput(f"notify on names {wrong}; a job ends {sorted(FINAL_STATES)}")
    return sorted(set(states))


def _check_webhook(settings: Settings, hook: Any) -> dict[str, str]:
    if isinstance(hook, str):
        hook = {"url": hook}
    if not isinstance(hook, Mapping) or set(hook) - {"url", "secret_name"}:
        raise InvalidInput('a notify webhook is a URL or {"url": …, "secret_name": …}')
    url = check_url(settings, hook.get("url"))
    name = hook.get("secret_name")
    secrets = webhook_secrets(settings)
    if name is None:
        # The operator's "default" secret signs webhooks that name none.
        return {"url": url, "secret_name": "default" if "default" in secrets else ""}
    if not isinstance(name, str) or name not in secrets:
        known = ", ".join(sorted(secrets)) or "none are configured"
        raise InvalidInput(
            f"no webhook secret named {name!r} (known: {known}); the operator configures "
            "them in LEPTON_LAB_WEBHOOK_SECRETS"
        )
    return {"url": url, "secret_name": name}


def check_url(settings: Settings, url: Any) -> str:
    if not isinstance(url, str) or not url or len(url) > _MAX_URL:
        raise InvalidInput(f"a notify webhook url must be text of up to {_MAX_URL} characters")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise InvalidInput("a notify webhook url must not hold spaces or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _ = parts.port  # a port that is not a number raises here
    except ValueError:
        raise InvalidInput(f"{mask_url(url)} is not a URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInput(
            f"a notify webhook must be an http:// or https:// URL, not {url[:40]!r}…"
        )
    allowed = settings.webhook_hosts
    if allowed and not any(fnmatch.fnmatch(host, pattern) for pattern in allowed):
        raise InvalidInput(
            f"webhooks may not go to {host}; this deployment allows {sorted(allowed)} "
            "(LEPTON_LAB_WEBHOOK_HOSTS)"
        )
    return url


def _check_address(settings: Settings, address: Any) -> str:
    if not isinstance(address, str) or len(address) > 254 or not _ADDRESS.fullmatch(address):
        raise InvalidInput(f"{address!r} is not an e-mail address such as ana@example.org")
    if not settings.smtp_host:
        raise InvalidInput(
            "this deployment sends no e-mail (no LEPTON_LAB_SMTP_HOST); ask the operator, "
            "or use a webhook"
        )
    return address


def visible_notices(notices: list[Any] | None) -> list[dict[str, Any]]:
    """The notices to show with a job: sent ones, not claim or skip markers."""
    return [n for n in notices or [] if isinstance(n, dict) and n.get("channel")]
