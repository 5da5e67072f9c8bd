"""Five-field cron expressions for recurring campaigns, evaluated in a time zone.

    minute hour day-of-month month day-of-week      e.g. "0 9 * * MON-FRI", "*/15 8-18 * * *"

Each field takes `*`, numbers, `a-b` ranges, `/step` on either, and comma lists; months and
weekdays also take three-letter names, and weekday 7 is Sunday like 0. Macros: @yearly
(@annually), @monthly, @weekly, @daily (@midnight), @hourly. As in Vixie cron, when both
day-of-month and day-of-week are restricted a day matching either one matches; a field
starting with `*` counts as unrestricted.

`next_run` walks wall-clock times in the zone. Around DST changes:
- a run whose wall-clock time is skipped (spring forward) happens at the shifted time
  (02:30 -> 03:30), once;
- a run in the repeated hour (fall back) happens once, at the first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Iterator
from zoneinfo import ZoneInfo

from campaigns import timezones
from campaigns.errors import InvalidSetting

FIELD_NAMES = ("minute", "hour", "day_of_month", "month", "day_of_week")
_BOUNDS = {"minute": (0, 59), "hour": (0, 23), "day_of_month": (1, 31), "month": (1, 12), "day_of_week": (0, 7)}
_NAMES = {
    "month": {n: i for i, n in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split(), 1)},
    "day_of_week": {n: i for i, n in enumerate("sun mon tue wed thu fri sat".split())},
}
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_LONGEST_MONTH = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}
# Leap days can be eight years apart (2096 -> 2104); past that nothing will ever match.
_SEARCH_DAYS = 8 * 366 + 2


class CronError(InvalidSetting):
    """An invalid cron expression; `field` is one of FIELD_NAMES, or 'expression'."""


@dataclass(frozen=True)
class Cron:
    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    any_day_of_month: bool
    any_day_of_week: bool

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        in_month = day.day in self.days
        in_week = (day.weekday() + 1) % 7 in self.weekdays
        if self.any_day_of_month or self.any_day_of_week:
            return in_month and in_week
        return in_month or in_week

    def matches(self, wall_clock: datetime) -> bool:
        """Whether a wall-clock time (its minute) is one of the expression's times."""
        return (
            wall_clock.minute in self.minutes
            and wall_clock.hour in self.hours
            and self.matches_day(wall_clock.date())
        )

    def wall_clock_times(self, start: datetime) -> Iterator[datetime]:
        """Matching naive wall-clock times at or after `start`, ascending, for up to 8 years."""
        first_day = start.date()
        for offset in range(_SEARCH_DAYS):
            day = first_day + timedelta(days=offset)
            if not self.matches_day(day):
                continue
            for hour in self.hours:
                for minute in self.minutes:
                    candidate = datetime(day.year, day.month, day.day, hour, minute)
                    if candidate >= start:
                        yield candidate


def parse_cron(expression: str) -> Cron:
    if not isinstance(expression, str) or not expression.strip():
        raise CronError("expression", "an expression is needed")
    text = _MACROS.get(expression.strip().lower(), expression)
    if text.strip().startswith("@"):
        raise CronError("expression", f"unknown macro {expression.strip()!r}")
    parts = text.split()
    if len(parts) != 5:
        raise CronError("expression", f"expected 5 fields ({' '.join(FIELD_NAMES)}), got {len(parts)}")
    values = {name: _parse_field(name, part) for name, part in zip(FIELD_NAMES, parts)}
    weekdays = frozenset(d % 7 for d in values["day_of_week"])
    cron = Cron(
        expression=" ".join(parts),
        minutes=tuple(sorted(values["minute"])),
        hours=tuple(sorted(values["hour"])),
        days=frozenset(values["day_of_month"]),
        months=frozenset(values["month"]),
        weekdays=weekdays,
        any_day_of_month=parts[2].startswith("*"),
        any_day_of_week=parts[4].startswith("*"),
    )
    if cron.any_day_of_week:
        # With day-of-week unrestricted, the chosen days of the month must exist somewhere.
        if not any(day <= _LONGEST_MONTH[month] for month in cron.months for day in cron.days):
            raise CronError("day_of_month", "no chosen day exists in the chosen months")
    return cron


def next_run(expression: str | Cron, after: datetime, tz: str | ZoneInfo | None = None) -> datetime:
    """The first run strictly after `after` (aware), as a UTC datetime, with the expression in `tz`."""
    cron = expression if isinstance(expression, Cron) else parse_cron(expression)
    zone = timezones.zone(tz)
    timezones.require_aware(after, "after")
    after = after.astimezone(timezones.UTC)
    # A time skipped by a recent spring-forward runs late, at its shifted time, which can still
    # be ahead of `after` though its wall-clock time is behind: look back by that jump.
    jump = after.astimezone(zone).utcoffset() - (after - timedelta(days=2)).astimezone(zone).utcoffset()
    start = timezones.local(after, zone).replace(second=0, microsecond=0) - max(jump, timedelta(0))
    best = horizon = None
    for wall_clock in cron.wall_clock_times(start):
        if horizon is not None and wall_clock >= horizon:
            return best
        instant = timezones.to_utc(wall_clock, zone)
        if instant <= after:
            continue
        if best is None:
            if timezones.exists(wall_clock, zone):
                return instant
            # Shifted out of a gap: a later wall-clock time just past the gap may come sooner.
            best, horizon = instant, timezones.local(instant, zone)
        else:
            best = min(best, instant)
    if best is not None:
        return best
    raise CronError("expression", "never matches")


def _parse_field(name: str, text: str) -> set[int]:
    low, high = _BOUNDS[name]
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CronError(name, f"empty list item in {text!r}")
        span, _, step_text = item.partition("/")
        step = 1
        if step_text or item.endswith("/"):
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(name, f"step must be a positive number in {item!r}")
            step = int(step_text)
        if span == "*":
            first, last = low, (6 if name == "day_of_week" else high)
        elif "-" in span:
            start_text, _, end_text = span.partition("-")
            first, last = _value(name, start_text), _value(name, end_text)
            if first > last:
                raise CronError(name, f"range {span!r} runs backwards")
        else:
            first = _value(name, span)
            last = (max(first, 6) if name == "day_of_week" else high) if step_text else first
        values.update(range(first, last + 1, step))
    return values


def _value(name: str, text: str) -> int:
    low, high = _BOUNDS[name]
    names = _NAMES.get(name, {})
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise CronError(name, f"{text!r} is not a number" + (" or a name" if names else ""))
    number = int(text)
    if not low <= number <= high:
        raise CronError(name, f"{number} is outside {low}-{high}")
    return number
