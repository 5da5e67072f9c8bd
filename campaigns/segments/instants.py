"""ISO 8601 instants as the segment language understands them, identically in Python and SQL.

The grammar is deliberately narrow (see `rules`), because both SQLite and PostgreSQL have to
recognise exactly the same strings without ever raising: PostgreSQL's cast to timestamptz
errors on junk, and SQLite's date functions accept things Python does not (`24:00:00`,
`2026-02-30`, bare Julian day numbers). `compiling` rebuilds the same checks in SQL.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta, timezone

# Shape only (digits in the right places); ranges are checked separately so SQL can do the
# same with integer casts that are safe once the shape is known. [0-9], not \d: Python's \d
# matches non-ASCII digits.
INSTANT_SHAPE = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})?)?$"
)
MIN_YEAR, MAX_YEAR = 1000, 2999
MAX_OFFSET_HOURS = 14

_SHAPE = re.compile(INSTANT_SHAPE)


def parse_instant(text: object) -> datetime | None:
    """The UTC instant a string denotes, truncated to the second; None if it is not one."""
    if not isinstance(text, str) or not _SHAPE.fullmatch(text):
        return None
    year, month, day = int(text[0:4]), int(text[5:7]), int(text[8:10])
    if not (MIN_YEAR <= year <= MAX_YEAR and 1 <= month <= 12):
        return None
    if not 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    hour = minute = second = 0
    offset = timedelta(0)
    if len(text) > 10:
        hour, minute, second = int(text[11:13]), int(text[14:16]), int(text[17:19])
        if hour > 23 or minute > 59 or second > 59:
            return None
        if len(text) > 19 and text[-6] in "+-":
            offset_hours, offset_minutes = int(text[-5:-3]), int(text[-2:])
            if offset_hours > MAX_OFFSET_HOURS or offset_minutes > 59:
                return None
            offset = timedelta(hours=offset_hours, minutes=offset_minutes)
            if text[-6] == "-":
                offset = -offset
    local = datetime(year, month, day, hour, minute, second, tzinfo=timezone(offset))
    return local.astimezone(timezone.utc)


def as_utc(moment: datetime) -> datetime:
    """A stored datetime in UTC; naive ones (SQLite forgets offsets) are taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def require_aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("`now` must be a timezone-aware datetime")
    return now.astimezone(timezone.utc)


def days_before(now: datetime, days: float) -> datetime:
    return now - timedelta(days=days)
