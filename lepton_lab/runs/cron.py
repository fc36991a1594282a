"""Cron expressions in a time zone: checked once, then the due times after a moment.

A due time is an instant (stored in UTC) that the expression names on the wall clock of
the schedule's time zone.  Daylight-saving changes follow cronsim, the parser of
healthchecks.io, as Debian's cron does: a time that does not exist on the day the clocks
go forward (02:30 in Berlin on the last Sunday of March) fires when the clock jumps past
it (03:00), never silently skipped; a time that happens twice when they go back fires
once, on its first occurrence, for a daily or weekly schedule (a schedule every few
minutes fires on both passes, which are different instants).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError

from lepton_lab.errors import InvalidInput, did_you_mean

__all__ = ["check_cron", "check_timezone", "due_after", "missed_since"]

_EXAMPLES = "e.g. '0 6 * * 1-5' (06:00 on weekdays) or '*/15 * * * *' (every 15 minutes)"


def check_timezone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``, or :class:`InvalidInput` with the closest names."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput("timezone must be an IANA name such as 'Europe/Berlin' or 'UTC'")
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        hint = did_you_mean(name, sorted(available_timezones()))
        raise InvalidInput(f"unknown time zone {name!r}{hint}; use an IANA name") from None


def check_cron(expression: str) -> str:
    """``expression`` if cron reads it (five fields), else :class:`InvalidInput` saying why."""
    if not isinstance(expression, str) or len(expression.split()) != 5:
        raise InvalidInput(
            f"cron expression {expression!r} must have five fields "
            f"(minute hour day-of-month month day-of-week), {_EXAMPLES}"
        )
    try:
        CronSim(expression, datetime(2000, 1, 1))
    except CronSimError as exc:
        raise InvalidInput(f"cron expression {expression!r}: {exc}; {_EXAMPLES}") from None
    return " ".join(expression.split())


def _dues(expression: str, zone: ZoneInfo, after: datetime) -> Iterator[datetime]:
    """Due times strictly after ``after``, in UTC."""
    for due in CronSim(expression, after.astimezone(zone)):
        yield due.astimezone(UTC)


def due_after(expression: str, timezone: str, after: datetime) -> datetime:
    """The first due time strictly after ``after`` (UTC)."""
    return next(_dues(expression, check_timezone(timezone), after))


def missed_since(
    expression: str, timezone: str, first: datetime, now: datetime, *, most: int = 10_000
) -> tuple[int, datetime, datetime]:
    """For due times from ``first`` (a due time) up to ``now``: how many there were (counted
    up to ``most``), the latest of them, and the first due time after ``now``."""
    count, latest = 1, first
    for moment in _dues(expression, check_timezone(timezone), first):
        if moment > now:
            return count, latest, moment
        count, latest = count + 1, moment
        if count >= most:  # a schedule every minute, missed for a week: stop counting
            return count, latest, due_after(expression, timezone, now)
    raise AssertionError("cron iteration ended")  # pragma: no cover - CronSim is endless
