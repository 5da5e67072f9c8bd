from datetime import date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns import timezones
from campaigns.cron import CronError
from campaigns.schedules import (
    Recurring,
    ScheduleError,
    SendAt,
    SendInLocalTime,
    SendNow,
    local_send_time,
    schedule_from_dict,
    schedule_to_dict,
    send_time,
)

UTC = timezone.utc


def utc(*args):
    return datetime(*args, tzinfo=UTC)


NINE = time(9, 0)
LAUNCH = utc(2024, 6, 12, 8, 0)  # 08:00 UTC on 12 June


@pytest.mark.parametrize(
    "zone, expected",
    [
        ("UTC", utc(2024, 6, 12, 9)),  # still ahead
        ("America/New_York", utc(2024, 6, 12, 13)),  # 09:00 EDT
        ("Asia/Kolkata", utc(2024, 6, 13, 3, 30)),  # 09:00 IST passed 4.5 h ago: next day
        ("Pacific/Auckland", utc(2024, 6, 12, 21)),  # 09:00 NZST on the 12th passed long ago: the 13th
    ],
)
def test_same_wall_clock_time_in_each_zone_and_next_day_when_passed(zone, expected):
    assert local_send_time(date(2024, 6, 12), NINE, zone, LAUNCH) == expected


def test_late_within_grace_sends_at_once_and_skip_rule_drops_the_rest():
    kolkata_nine = utc(2024, 6, 12, 3, 30)
    just_late = kolkata_nine + timedelta(minutes=40)
    assert local_send_time(date(2024, 6, 12), NINE, "Asia/Kolkata", just_late) == just_late
    assert local_send_time(date(2024, 6, 12), NINE, "Asia/Kolkata", just_late, grace=timedelta(0)) == utc(
        2024, 6, 13, 3, 30
    )
    assert local_send_time(date(2024, 6, 12), NINE, "Asia/Kolkata", LAUNCH, late="skip") is None
    assert local_send_time(date(2024, 6, 12), NINE, "Asia/Kolkata", just_late, late="skip") == just_late


def test_launch_several_days_late_goes_on_the_first_day_still_ahead():
    assert local_send_time(date(2024, 6, 1), NINE, "UTC", LAUNCH) == utc(2024, 6, 12, 9)


def test_exact_time_is_not_late():
    assert local_send_time(date(2024, 6, 12), NINE, "UTC", utc(2024, 6, 12, 9)) == utc(2024, 6, 12, 9)


@pytest.mark.parametrize(
    "zone, day, at, expected",
    [
        # Spring forward: the wall-clock time does not exist, shift forward by the gap.
        ("America/New_York", date(2024, 3, 10), time(2, 30), utc(2024, 3, 10, 7, 30)),  # 03:30 EDT
        ("Pacific/Auckland", date(2024, 9, 29), time(2, 30), utc(2024, 9, 28, 14, 30)),  # 03:30 NZDT
        # Fall back: the wall-clock time happens twice, use the first.
        ("America/New_York", date(2024, 11, 3), time(1, 30), utc(2024, 11, 3, 5, 30)),  # 01:30 EDT
        ("Pacific/Auckland", date(2024, 4, 7), time(2, 30), utc(2024, 4, 6, 13, 30)),  # 02:30 NZDT
        # Either side of a change, the offset of that day applies.
        ("America/New_York", date(2024, 3, 9), NINE, utc(2024, 3, 9, 14)),
        ("America/New_York", date(2024, 3, 10), NINE, utc(2024, 3, 10, 13)),
        ("Asia/Kolkata", date(2024, 3, 10), NINE, utc(2024, 3, 10, 3, 30)),
    ],
)
def test_dst_gaps_and_folds(zone, day, at, expected):
    assert local_send_time(day, at, zone, utc(2024, 1, 1)) == expected


def test_next_day_after_a_late_launch_keeps_the_wall_clock_time_across_dst():
    # Launched on the evening of 9 March in New York; 09:00 the next day is already EDT.
    assert local_send_time(date(2024, 3, 9), NINE, "America/New_York", utc(2024, 3, 9, 20)) == utc(2024, 3, 10, 13)


def test_missing_or_unknown_zone_uses_the_default():
    assert local_send_time(date(2024, 6, 12), NINE, None, LAUNCH, default_timezone="America/New_York") == utc(
        2024, 6, 12, 13
    )
    assert local_send_time(date(2024, 6, 12), NINE, "Moon/Base", LAUNCH) == utc(2024, 6, 12, 9)


@settings(max_examples=80, deadline=None)
@given(
    zone_name=st.sampled_from(["UTC", "America/New_York", "Pacific/Auckland", "Asia/Kolkata", "Australia/Lord_Howe"]),
    day=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31)),
    at=st.builds(time, st.integers(0, 23), st.integers(0, 59)),
    lag_minutes=st.integers(-3 * 1440, 3 * 1440),
    late=st.sampled_from(["next_day", "skip"]),
)
def test_local_send_time_is_never_in_the_past_and_keeps_the_wall_clock(zone_name, day, at, lag_minutes, late):
    zone = timezones.zone(zone_name)
    intended = timezones.to_utc(datetime.combine(day, at), zone)
    now = intended + timedelta(minutes=lag_minutes)
    result = local_send_time(day, at, zone_name, now, late=late)
    if lag_minutes <= 0:
        assert result == intended
    elif lag_minutes <= 60:
        assert result == now
    elif late == "skip":
        assert result is None
    else:
        assert now <= result <= now + timedelta(days=1, hours=1)
        shown = timezones.local(result, zone)
        assert shown.time() == at or not timezones.exists(datetime.combine(shown.date(), at), zone)


def test_send_time_for_each_schedule_kind():
    now = LAUNCH
    assert send_time(SendNow(), now) == now
    assert send_time(SendAt(utc(2024, 6, 13, 10)), now) == utc(2024, 6, 13, 10)
    assert send_time(SendAt(utc(2024, 6, 1)), now) == now  # launched after its time: at once
    local = SendInLocalTime(date(2024, 6, 12), NINE, late="skip")
    assert send_time(local, now, "America/New_York") == utc(2024, 6, 12, 13)
    assert send_time(local, now, "Asia/Kolkata") is None
    assert send_time(Recurring("0 9 * * MON", "Europe/London"), now) == utc(2024, 6, 17, 8)


def test_schedules_round_trip_through_their_json_form():
    for schedule in (
        SendNow(),
        SendAt(datetime(2024, 6, 13, 12, tzinfo=timezones.zone("Asia/Kolkata"))),
        SendInLocalTime(date(2024, 6, 12), time(9, 30), grace=timedelta(minutes=5), late="skip"),
        Recurring("*/30 9-17 * * MON-FRI", "America/New_York"),
    ):
        assert schedule_from_dict(schedule_to_dict(schedule)) == schedule
    assert schedule_to_dict(SendAt(datetime(2024, 6, 13, 12, tzinfo=timezones.zone("Asia/Kolkata")))) == {
        "kind": "at",
        "at": "2024-06-13T06:30:00+00:00",
    }


@pytest.mark.parametrize(
    "raw, error, field",
    [
        ({"kind": "weekly"}, ScheduleError, "kind"),
        ("now", ScheduleError, "schedule"),
        ({"kind": "at"}, ScheduleError, "at"),
        ({"kind": "at", "at": "2024-06-13T12:00:00"}, ScheduleError, "at"),
        ({"kind": "at", "at": "tomorrow"}, ScheduleError, "at"),
        ({"kind": "local_time", "date": "2024-06-12"}, ScheduleError, "time"),
        ({"kind": "local_time", "date": "2024-06-12", "time": "25:00"}, ScheduleError, "local_time"),
        ({"kind": "local_time", "date": "2024-06-12", "time": "09:00", "late": "never"}, ScheduleError, "late"),
        ({"kind": "local_time", "date": "2024-06-12", "time": "09:00", "grace_seconds": -1}, ScheduleError, "grace_seconds"),
        ({"kind": "recurring", "cron": "0 25 * * *"}, CronError, "hour"),
        ({"kind": "recurring", "cron": "0 9 * * *", "timezone": "Atlantis/Capital"}, ScheduleError, "timezone"),
    ],
)
def test_bad_schedules_are_refused_naming_the_field(raw, error, field):
    with pytest.raises(error) as caught:
        schedule_from_dict(raw)
    assert caught.value.field == field
