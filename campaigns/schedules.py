"""When a campaign sends: now, at a UTC time, at a wall-clock time in each contact's zone, or
on a recurring cron schedule.

Send in local time (`local_send_time`): the campaign goes out at, say, 09:00 on a date in
every contact's own zone. The rule for zones where 09:00 has already passed when the campaign
launches, Braze's rule: within `grace` (default one hour) the message goes at once, since a
slightly late morning message is still a morning message; later than that it goes at the
same wall-clock time the next day (`late="next_day"`, the default), or not at all
(`late="skip"`, returning None) for campaigns tied to a date such as a one-day sale. A
wall-clock time skipped by DST is shifted forward by the gap; a repeated one means its first
occurrence (see campaigns.timezones).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Mapping, Union
from zoneinfo import ZoneInfo

from campaigns import timezones
from campaigns.cron import Cron, next_run, parse_cron
from campaigns.errors import InvalidSetting

LATE_RULES = ("next_day", "skip")
DEFAULT_GRACE = timedelta(hours=1)


class ScheduleError(InvalidSetting):
    """A schedule that cannot be used; `field` names the offending part."""


def local_send_time(
    day: date,
    at: time,
    tz: str | ZoneInfo | None,
    now: datetime,
    *,
    grace: timedelta = DEFAULT_GRACE,
    late: str = "next_day",
    default_timezone: str | ZoneInfo = timezones.DEFAULT_ZONE,
) -> datetime | None:
    """The UTC instant to send to a contact in `tz` for "`day` at `at` local time"; None to skip."""
    if late not in LATE_RULES:
        raise ScheduleError("late", f"must be one of {', '.join(LATE_RULES)}")
    timezones.require_aware(now, "now")
    zone = timezones.zone(tz, default_timezone)
    target = timezones.to_utc(datetime.combine(day, at), zone)
    if target >= now:
        return target
    if now - target <= grace:
        return now
    if late == "skip":
        return None
    # Launched more than a day late, "the next day" is the first day still ahead.
    following = day + timedelta(days=1)
    while (target := timezones.to_utc(datetime.combine(following, at), zone)) < now:
        following += timedelta(days=1)
    return target


@dataclass(frozen=True)
class SendNow:
    kind: str = field(default="now", init=False)


@dataclass(frozen=True)
class SendAt:
    at: datetime
    kind: str = field(default="at", init=False)

    def __post_init__(self):
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ScheduleError("at", "must include a time zone offset")
        object.__setattr__(self, "at", self.at.astimezone(timezones.UTC))


@dataclass(frozen=True)
class SendInLocalTime:
    day: date
    at: time
    grace: timedelta = DEFAULT_GRACE
    late: str = "next_day"
    kind: str = field(default="local_time", init=False)

    def __post_init__(self):
        if self.late not in LATE_RULES:
            raise ScheduleError("late", f"must be one of {', '.join(LATE_RULES)}")
        if self.grace < timedelta(0):
            raise ScheduleError("grace_seconds", "cannot be negative")
        if self.at.tzinfo is not None:
            raise ScheduleError("time", "is a local wall-clock time, without a zone")


@dataclass(frozen=True)
class Recurring:
    cron: str
    timezone: str = timezones.DEFAULT_ZONE
    kind: str = field(default="recurring", init=False)

    def __post_init__(self):
        parse_cron(self.cron)  # raises CronError naming the bad field
        if not timezones.is_known_zone(self.timezone):
            raise ScheduleError("timezone", f"unknown time zone {self.timezone!r}")

    @property
    def parsed(self) -> Cron:
        return parse_cron(self.cron)


Schedule = Union[SendNow, SendAt, SendInLocalTime, Recurring]


def send_time(
    schedule: Schedule,
    now: datetime,
    contact_timezone: str | None = None,
    default_timezone: str = timezones.DEFAULT_ZONE,
) -> datetime | None:
    """When to send under `schedule`, seen from `now`; None when the contact is skipped.

    `now` and `SendAt` in the past both mean at once. For `Recurring` this is the campaign's
    next run after `now`, the same for every contact.
    """
    timezones.require_aware(now, "now")
    now = now.astimezone(timezones.UTC)
    if isinstance(schedule, SendNow):
        return now
    if isinstance(schedule, SendAt):
        return max(schedule.at, now)
    if isinstance(schedule, SendInLocalTime):
        return local_send_time(
            schedule.day,
            schedule.at,
            contact_timezone,
            now,
            grace=schedule.grace,
            late=schedule.late,
            default_timezone=default_timezone,
        )
    if isinstance(schedule, Recurring):
        return next_run(schedule.cron, now, schedule.timezone)
    raise ScheduleError("kind", f"unknown schedule {schedule!r}")


def schedule_from_dict(raw: Mapping[str, Any]) -> Schedule:
    """Read the JSON form stored with a campaign: {"kind": "now"|"at"|"local_time"|"recurring", ...}."""
    if not isinstance(raw, Mapping):
        raise ScheduleError("schedule", "must be an object")
    kind = raw.get("kind")
    try:
        if kind == "now":
            return SendNow()
        if kind == "at":
            return SendAt(datetime.fromisoformat(_required(raw, "at")))
        if kind == "local_time":
            return SendInLocalTime(
                day=date.fromisoformat(_required(raw, "date")),
                at=time.fromisoformat(_required(raw, "time")),
                grace=timedelta(seconds=raw.get("grace_seconds", DEFAULT_GRACE.total_seconds())),
                late=raw.get("late", "next_day"),
            )
        if kind == "recurring":
            return Recurring(_required(raw, "cron"), raw.get("timezone") or timezones.DEFAULT_ZONE)
    except InvalidSetting:  # already names its field
        raise
    except (TypeError, ValueError) as error:  # a malformed date, time or number
        raise ScheduleError(str(kind), str(error)) from None
    raise ScheduleError("kind", "must be one of now, at, local_time, recurring")


def schedule_to_dict(schedule: Schedule) -> dict[str, Any]:
    if isinstance(schedule, SendNow):
        return {"kind": "now"}
    if isinstance(schedule, SendAt):
        return {"kind": "at", "at": schedule.at.isoformat()}
    if isinstance(schedule, SendInLocalTime):
        return {
            "kind": "local_time",
            "date": schedule.day.isoformat(),
            "time": schedule.at.isoformat(),
            "grace_seconds": int(schedule.grace.total_seconds()),
            "late": schedule.late,
        }
    if isinstance(schedule, Recurring):
        return {"kind": "recurring", "cron": schedule.cron, "timezone": schedule.timezone}
    raise ScheduleError("kind", f"unknown schedule {schedule!r}")


def _required(raw: Mapping[str, Any], key: str) -> Any:
    if raw.get(key) in (None, ""):
        raise ScheduleError(key, "is required")
    return raw[key]
