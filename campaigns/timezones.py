"""Contact time zones and wall-clock times, including the awkward hours around DST changes.

Rules used everywhere in campaigns:
- An unknown or empty zone name falls back to a default zone; bad contact data never breaks
  a batch.
- A wall-clock time that does not exist (the hour skipped when clocks go forward) is shifted
  forward by the length of the gap: 02:30 on a spring-forward night becomes 03:30. This is
  what `zoneinfo` does with fold=0 and what java.time does.
- A wall-clock time that happens twice (the hour repeated when clocks go back) means the
  first occurrence, unless a caller asks for all instants.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = timezone.utc
DEFAULT_ZONE = "UTC"


@lru_cache(maxsize=1024)
def _load(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone(name: str | ZoneInfo | None, default: str | ZoneInfo = DEFAULT_ZONE) -> ZoneInfo:
    """The ZoneInfo for `name`, or for `default` when `name` is missing or unknown."""
    if isinstance(name, ZoneInfo):
        return name
    if name:
        try:
            return _load(name)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            pass
    return default if isinstance(default, ZoneInfo) else _load(default)


def is_known_zone(name: str) -> bool:
    try:
        _load(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return False
    return True


def require_aware(moment: datetime, what: str = "time") -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime")
    return moment


def exists(naive: datetime, tz: ZoneInfo) -> bool:
    """False for a wall-clock time inside a DST gap."""
    round_trip = naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)
    return round_trip.replace(tzinfo=None) == naive


def to_utc(naive: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time: first occurrence on a fold, shifted forward in a gap."""
    return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)


def instants(naive: datetime, tz: ZoneInfo) -> list[datetime]:
    """Every UTC instant showing this wall-clock time: two on a fold, one otherwise, ascending."""
    first = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if not exists(naive, tz):
        return [first]
    second = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    return [first] if second == first else sorted({first, second})


def local(moment: datetime, tz: ZoneInfo) -> datetime:
    """The naive wall-clock time of an aware instant in `tz`."""
    return require_aware(moment).astimezone(tz).replace(tzinfo=None)
