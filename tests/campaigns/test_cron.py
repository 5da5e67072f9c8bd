from datetime import datetime, timedelta, timezone
from itertools import islice

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns import timezones
from campaigns.cron import CronError, next_run, parse_cron

UTC = timezone.utc


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def test_parse_expands_every_field_form():
    cron = parse_cron("*/20 9-17/4 1,15 JAN-mar mon,WED,7")
    assert cron.minutes == (0, 20, 40)
    assert cron.hours == (9, 13, 17)
    assert cron.days == {1, 15}
    assert cron.months == {1, 2, 3}
    assert cron.weekdays == {1, 3, 0}
    assert parse_cron("5/20 * * * *").minutes == (5, 25, 45)
    assert parse_cron("@hourly").minutes == (0,) and len(parse_cron("@hourly").hours) == 24
    assert parse_cron("@weekly").weekdays == {0}


@pytest.mark.parametrize(
    "expression, field",
    [
        ("", "expression"),
        ("* * * *", "expression"),
        ("* * * * * *", "expression"),
        ("@fortnightly", "expression"),
        ("60 * * * *", "minute"),
        ("*/0 * * * *", "minute"),
        ("1,,2 * * * *", "minute"),
        ("a * * * *", "minute"),
        ("-1 * * * *", "minute"),
        ("* 24 * * *", "hour"),
        ("* 5-3 * * *", "hour"),
        ("* * 0 * *", "day_of_month"),
        ("* * 32 * *", "day_of_month"),
        ("* * 30 2 *", "day_of_month"),
        ("* * 31 4,6,9,11 *", "day_of_month"),
        ("* * * 13 *", "month"),
        ("* * * foo *", "month"),
        ("* * * * 8", "day_of_week"),
        ("* * * * MON-", "day_of_week"),
        ("* * * * */", "day_of_week"),
    ],
)
def test_invalid_expressions_name_the_field(expression, field):
    with pytest.raises(CronError) as caught:
        parse_cron(expression)
    assert caught.value.field == field


def test_feb_30_is_fine_when_a_weekday_can_match_instead():
    cron = parse_cron("0 0 30 2 MON")  # either the (impossible) 30th or any Monday in February
    assert next_run(cron, utc(2024, 1, 1), "UTC") == utc(2024, 2, 5)


@pytest.mark.parametrize(
    "expression, after, expected",
    [
        ("0 9 * * MON-FRI", utc(2024, 6, 14, 10), utc(2024, 6, 17, 9)),  # Friday after 9 -> Monday
        ("0 9 * * MON-FRI", utc(2024, 6, 14, 8, 59, 59), utc(2024, 6, 14, 9)),
        ("0 9 * * *", utc(2024, 6, 14, 9), utc(2024, 6, 15, 9)),  # strictly after
        ("*/15 * * * *", utc(2024, 6, 14, 10, 7, 30), utc(2024, 6, 14, 10, 15)),
        ("0 0 1 * *", utc(2024, 1, 31, 12), utc(2024, 2, 1)),
        ("0 0 29 2 *", utc(2024, 3, 1), utc(2028, 2, 29)),
        ("0 12 13 * FRI", utc(2024, 9, 1), utc(2024, 9, 6, 12)),  # day-of-month OR day-of-week
        ("0 12 13 * FRI", utc(2024, 9, 7), utc(2024, 9, 13, 12)),
        ("0 12 */10 * FRI", utc(2024, 9, 1), utc(2024, 10, 11, 12)),  # `*/10` counts as `*`: AND
        ("30 23 31 12 *", utc(2024, 12, 31, 23, 31), utc(2025, 12, 31, 23, 30)),
        ("0 0 * * 7", utc(2024, 6, 10), utc(2024, 6, 16)),  # 7 is Sunday
    ],
)
def test_next_run_in_utc(expression, after, expected):
    assert next_run(expression, after, "UTC") == expected


def test_next_run_uses_the_zone_for_wall_clock_times():
    # 09:00 in Kolkata (UTC+05:30, no DST) is 03:30 UTC.
    assert next_run("0 9 * * *", utc(2024, 6, 14, 4), "Asia/Kolkata") == utc(2024, 6, 15, 3, 30)
    # Monday 09:00 in Auckland is still Sunday in UTC.
    assert next_run("0 9 * * MON", utc(2024, 6, 14), "Pacific/Auckland") == utc(2024, 6, 16, 21)
    # Unknown zones fall back to UTC rather than failing the scheduler.
    assert next_run("0 9 * * *", utc(2024, 6, 14, 4), "Not/AZone") == utc(2024, 6, 14, 9)


def test_daily_run_keeps_its_wall_clock_time_across_auckland_dst_start():
    # 2024-09-29 02:00 NZST -> 03:00 NZDT: 09:00 moves from 21:00 UTC to 20:00 UTC.
    runs = [utc(2024, 9, 26, 0)]
    for _ in range(3):
        runs.append(next_run("0 9 * * *", runs[-1], "Pacific/Auckland"))
    assert runs[1:] == [utc(2024, 9, 26, 21), utc(2024, 9, 27, 21), utc(2024, 9, 28, 20)]


def test_run_in_the_skipped_hour_happens_once_at_the_shifted_time():
    ny = "America/New_York"  # 2024-03-10 02:00 EST -> 03:00 EDT
    assert next_run("30 2 * * *", utc(2024, 3, 10, 5), ny) == utc(2024, 3, 10, 7, 30)  # 03:30 EDT
    # Asked again from inside the shifted hour, the shifted run is still ahead.
    assert next_run("30 2 * * *", utc(2024, 3, 10, 7, 10), ny) == utc(2024, 3, 10, 7, 30)
    assert next_run("30 2 * * *", utc(2024, 3, 10, 7, 30), ny) == utc(2024, 3, 11, 6, 30)


def test_frequent_runs_do_not_double_up_after_the_gap():
    ny = "America/New_York"
    runs = [utc(2024, 3, 10, 6, 40)]  # 01:40 EST
    for _ in range(5):
        runs.append(next_run("*/15 * * * *", runs[-1], ny))
    assert runs[1:] == [utc(2024, 3, 10, 6, 45), utc(2024, 3, 10, 7), utc(2024, 3, 10, 7, 15), utc(2024, 3, 10, 7, 30), utc(2024, 3, 10, 7, 45)]


def test_run_in_the_repeated_hour_happens_once_at_the_first_occurrence():
    ny = "America/New_York"  # 2024-11-03 02:00 EDT -> 01:00 EST
    assert next_run("30 1 * * *", utc(2024, 11, 3, 4), ny) == utc(2024, 11, 3, 5, 30)  # 01:30 EDT
    assert next_run("30 1 * * *", utc(2024, 11, 3, 5, 30), ny) == utc(2024, 11, 4, 6, 30)  # next day EST
    hourly = [utc(2024, 11, 3, 4, 30)]
    for _ in range(3):
        hourly.append(next_run("0 * * * *", hourly[-1], ny))
    # 01:00 EDT, then 02:00 EST: the repeated 01:00 EST does not run again.
    assert hourly[1:] == [utc(2024, 11, 3, 5), utc(2024, 11, 3, 7), utc(2024, 11, 3, 8)]


def test_naive_after_is_refused():
    with pytest.raises(ValueError):
        next_run("* * * * *", datetime(2024, 1, 1), "UTC")


# --- properties ------------------------------------------------------------------------

ZONES = ["UTC", "America/New_York", "Pacific/Auckland", "Asia/Kolkata", "Europe/London", "Australia/Lord_Howe"]
TRANSITIONS = [
    utc(2024, 3, 10, 7), utc(2024, 11, 3, 6),  # New York
    utc(2024, 4, 6, 14), utc(2024, 9, 28, 14),  # Auckland
    utc(2024, 3, 31, 1), utc(2024, 10, 27, 1),  # London
    utc(2024, 4, 6, 15), utc(2024, 10, 5, 15, 30),  # Lord Howe (30-minute shift)
]
expressions = st.builds(
    lambda *fields: " ".join(fields),
    st.sampled_from(["0", "*/15", "5,35", "59", "*", "10-20/5"]),
    st.sampled_from(["*", "2", "1-3", "0,12", "*/5", "9", "23"]),
    st.sampled_from(["*", "1", "13", "*/10", "28-31"]),
    st.sampled_from(["*", "*", "3,11", "4/3"]),
    st.sampled_from(["*", "MON-FRI", "0", "6", "*/2"]),
)
afters = st.one_of(
    st.builds(
        lambda base, minutes, seconds: base + timedelta(minutes=minutes, seconds=seconds),
        st.sampled_from(TRANSITIONS),
        st.integers(-36 * 60, 36 * 60),
        st.integers(0, 59),
    ),
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC)),
)


def reference_next_run(expression, after, zone_name):
    """Every matching wall-clock time, converted, smallest one after `after`: no shortcuts."""
    cron, zone = parse_cron(expression), timezones.zone(zone_name)
    start = timezones.local(after, zone).replace(second=0, microsecond=0) - timedelta(hours=4)
    instants = (timezones.to_utc(n, zone) for n in islice(cron.wall_clock_times(start), 1500))
    return min(i for i in instants if i > after)


@settings(max_examples=50, deadline=None)
@given(expression=expressions, after=afters, zone_name=st.sampled_from(ZONES))
def test_next_run_is_the_earliest_matching_instant_after(expression, after, zone_name):
    result = next_run(expression, after, zone_name)
    assert result > after
    assert result == reference_next_run(expression, after, zone_name)
    cron, zone = parse_cron(expression), timezones.zone(zone_name)
    wall_clock = timezones.local(result, zone)
    shifted_from_gap = any(
        not timezones.exists(wall_clock - jump, zone) and cron.matches(wall_clock - jump)
        for jump in (timedelta(minutes=30), timedelta(hours=1))
    )
    assert cron.matches(wall_clock) or shifted_from_gap


@settings(max_examples=40, deadline=None)
@given(expression=expressions, after=afters, zone_name=st.sampled_from(ZONES))
def test_successive_runs_strictly_increase(expression, after, zone_name):
    runs = [after]
    for _ in range(4):
        runs.append(next_run(expression, runs[-1], zone_name))
    assert all(a < b for a, b in zip(runs, runs[1:]))
