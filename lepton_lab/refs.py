"""References a person can type: ``finance/credit``, ``finance/credit@3``, ``…@production``.

Names are slugs: lowercase letters, digits, ``-`` and ``_``, starting with a letter or
digit, at most 64 characters.  Anything else (``../``, absolute paths, spaces, odd
characters) is refused here, before it can reach a database key or a file path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lepton_lab.errors import InvalidInput

__all__ = ["MAX_VERSION_DIGITS", "Ref", "check_slug", "check_text", "parse_ref"]

#: Versions are database integers: nine digits are far more than any dataset gets.
MAX_VERSION_DIGITS = 9

_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_ALIAS = re.compile(r"[a-z][a-z0-9_-]{0,63}")


def check_slug(value: str, what: str = "name") -> str:
    """Return ``value`` if it is a valid slug, else raise :class:`InvalidInput` saying why."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{what} must be a non-empty string")
    if _SLUG.fullmatch(value):
        return value
    hint = re.sub(r"[^a-z0-9_-]+", "-", value.lower()).strip("-_")[:64]
    suggestion = f"; for example {hint!r}" if hint and _SLUG.fullmatch(hint) else ""
    raise InvalidInput(
        f"{what} {value!r} is not allowed: use lowercase letters, digits, '-' and '_' "
        f"(at most 64, starting with a letter or digit){suggestion}"
    )


def check_text(value: object, what: str, *, limit: int) -> str:
    """Free text (titles, descriptions): a string of at most ``limit`` characters, no NUL."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be text")
    if len(value) > limit:
        raise InvalidInput(f"{what} is {len(value)} characters; keep it to {limit}")
    if "\x00" in value:
        raise InvalidInput(f"{what} holds a NUL character; remove it")
    return value


@dataclass(frozen=True)
class Ref:
    """A parsed reference to a versioned asset."""

    team: str
    name: str
    version: int | None = None
    alias: str | None = None

    @property
    def qualified(self) -> str:
        """``team/name`` without the version."""
        return f"{self.team}/{self.name}"

    def at(self, version: int) -> Ref:
        """The same asset pinned to ``version``."""
        return Ref(self.team, self.name, version)

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.qualified}@{self.version}"
        if self.alias is not None:
            return f"{self.qualified}@{self.alias}"
        return self.qualified


def parse_ref(text: str | Ref, what: str = "reference") -> Ref:
    """Parse ``team/name[@version|@alias]``; ``@latest`` means no pin."""
    if isinstance(text, Ref):
        return text
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"{what} must be a string like 'team/name' or 'team/name@3'")
    raw = text.strip()
    base, sep, suffix = raw.partition("@")
    parts = base.split("/")
    if len(parts) != 2:
        raise InvalidInput(
            f"{what} {raw!r} must look like 'team/name', 'team/name@3' or 'team/name@alias'"
        )
    team = check_slug(parts[0], "team")
    name = check_slug(parts[1], "name")
    if not sep or suffix == "latest":
        return Ref(team, name)
    # ASCII digits only: "²".isdigit() is true, yet int("²") fails.
    digits = suffix.isascii() and suffix.isdigit() and len(suffix) <= MAX_VERSION_DIGITS
    if digits and int(suffix) >= 1:
        return Ref(team, name, version=int(suffix))
    if _ALIAS.fullmatch(suffix):
        return Ref(team, name, alias=suffix)
    raise InvalidInput(
        f"{what} {raw!r}: after '@' put a version number (1, 2, …), 'latest' or an alias"
    )
