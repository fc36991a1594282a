"""API tokens for a shared Lepton Lab server that runs without JupyterHub.

Under JupyterHub, users and their tokens come from the Hub.  A team that runs one shared
``lepton-lab serve`` instead can give each person a token::

    c.ServerApp.identity_provider_class = "lepton_lab.server.auth.StaticTokenIdentityProvider"
    c.StaticTokenIdentityProvider.tokens = {
        "3f1c…": "alice",
        "9ab2…": {"user": "bob", "expires": "2027-01-31T00:00:00Z"},
    }

or keep them in a JSON file of the same shape, read by the server (never put on a command
line, where ``/proc/<pid>/cmdline`` shows it to every local user) and read again when it
changes, so that a token taken out of it is refused from the next request::

    c.StaticTokenIdentityProvider.tokens_file = "/etc/lepton/tokens.json"

A request carries ``Authorization: token <t>`` (or ``Bearer <t>``).  An unknown or
expired token is refused; without one, Jupyter Server's own login applies.
"""

from __future__ import annotations

import hmac
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.auth.identity import IdentityProvider, User
from traitlets import Dict, TraitError, Unicode, observe, validate

from lepton_lab.server.credentials import Reread, request_token

__all__ = ["LeptonOnlyAuthorizer", "StaticTokenIdentityProvider"]

log = logging.getLogger("lepton_lab.credentials")


class StaticTokenIdentityProvider(IdentityProvider):
    """Users identified by per-person API tokens, optionally with an expiry time."""

    tokens = Dict(
        config=True,
        help="API token -> user name, or -> {'user': name, 'expires': ISO 8601 time}.",
    )
    tokens_file = Unicode(
        "",
        config=True,
        help=(
            "A JSON file holding an object shaped like `tokens`, read when set and again "
            "whenever it changes (a token taken out is refused from the next request; a file "
            "gone or broken accepts none of its tokens until fixed); its tokens join those of "
            "`tokens`. Keeps the tokens off the server's command line."
        ),
    )

    _file: Reread[dict[str, Any]] | None = None

    @observe("tokens_file")
    def _read_tokens_file(self, change: Any) -> None:
        if not change["new"]:
            self._file = None
            return
        path = Path(change["new"])
        _load_tokens(path)  # a server never starts on a file it cannot use
        self._file = Reread(path, _tokens_or_none, {})

    @validate("tokens")
    def _check_tokens(self, proposal: Any) -> dict[str, Any]:
        return _checked(proposal["value"])

    def listed(self) -> dict[str, Any]:
        """Every token: those of ``tokens``, then (winning) those of ``tokens_file`` as the
        file holds them now."""
        return {**self.tokens, **({} if self._file is None else self._file.current())}

    def get_user(self, handler: Any) -> Any:
        """The token's user; an unknown or expired token is nobody."""
        token = request_token(handler.request.headers)
        if not token:
            return super().get_user(handler)
        entry = self._lookup(token)
        if entry is None:
            return super().get_user(handler)  # perhaps the server's own token
        user = self._unexpired_user(entry)
        if user is None:
            return None
        handler._lepton_token_user = user
        return User(username=user)

    def token_user(self, token: str) -> str | None:
        """The user a listed token names; None for a token not listed or expired (the
        serving processes of ``lepton-lab models serve`` check tokens with this too)."""
        entry = self._lookup(token)
        return None if entry is None else self._unexpired_user(entry)

    def _unexpired_user(self, entry: Any) -> str | None:
        user, expires = _entry(entry)
        if expires is not None and expires <= datetime.now(UTC):
            self.log.warning("refused an expired API token of %s", user)
            return None
        return user

    def is_token_authenticated(self, handler: Any) -> bool:
        """API-token requests skip XSRF checks, as Jupyter's own token requests do."""
        if getattr(handler, "_lepton_token_user", None):
            return True
        return bool(super().is_token_authenticated(handler))

    def _lookup(self, token: str) -> Any:
        # Compare every token in constant time, so timing reveals nothing about them.
        found = None
        for known, entry in self.listed().items():
            if hmac.compare_digest(known.encode(), token.encode()):
                found = entry
        return found


def _load_tokens(path: Path) -> dict[str, Any]:
    """The checked tokens of a tokens file; a :class:`TraitError` saying what is wrong."""
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TraitError(f"cannot read the tokens file {path}: {exc}") from None
    if not isinstance(loaded, dict):
        raise TraitError(f"the tokens file {path} must hold a JSON object: token -> user")
    return _checked(loaded)


def _tokens_or_none(path: Path) -> dict[str, Any]:
    """:func:`_load_tokens` for a running server: a broken file accepts no token of it."""
    try:
        return _load_tokens(path)
    except TraitError as exc:
        log.error("%s; none of its tokens is accepted until it is fixed", exc)
        return {}


def _checked(tokens: dict[str, Any]) -> dict[str, Any]:
    """``tokens`` if each names a user (and a valid expiry), else a :class:`TraitError`."""
    for token, entry in tokens.items():
        if len(token) < 16:
            raise TraitError("each API token must be at least 16 characters")
        user, expires = _entry(entry)
        if not user:
            raise TraitError(f"token …{token[-4:]} names no user")
        if expires is None and isinstance(entry, dict) and "expires" in entry:
            raise TraitError(f"token …{token[-4:]}: expires must be an ISO 8601 time")
    return dict(tokens)


def _entry(entry: Any) -> tuple[str, datetime | None]:
    if isinstance(entry, str):
        return entry, None
    if not isinstance(entry, dict):
        return "", None
    expires = None
    raw = entry.get("expires")
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw)
            expires = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            expires = None
    return str(entry.get("user") or ""), expires


class LeptonOnlyAuthorizer(Authorizer):
    """What ``lepton-lab serve`` lets its users do: Lepton Lab's API, and nothing else.

    A shared server's users hold Lepton Lab tokens; Jupyter's own APIs would give each of
    them the server's files (the tokens file among them), kernels and terminals, that is a
    shell as the server's user.  Every resource but ``lepton`` is refused, except reading
    ``/api/status``, the liveness probe load balancers and the benchmarks use.
    """

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        """Only Lepton Lab's resource, and the read-only status probe."""
        if resource == "lepton":
            return True
        path = str(handler.request.path).rstrip("/")
        return resource == "api" and action == "read" and path.endswith("/api/status")
