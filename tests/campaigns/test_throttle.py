from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigns.throttle import Batch, ThrottleError, batch_schedule, delay_for_batch

START = datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc)


def test_delay_is_the_minutes_the_earlier_batches_need():
    assert delay_for_batch(0, 500, 1000) == timedelta(0)
    assert delay_for_batch(1, 500, 1000) == timedelta(seconds=30)
    assert delay_for_batch(4, 500, 1000) == timedelta(minutes=2)
    assert delay_for_batch(3, 100, 60) == timedelta(minutes=5)
    assert delay_for_batch(99, 500, None) == timedelta(0)


def test_schedule_covers_the_audience_with_a_short_last_batch():
    batches = batch_schedule(total=2300, per_minute=1000, batch_size=1000, start=START)
    assert batches == [
        Batch(0, 0, 1000, START),
        Batch(1, 1000, 1000, START + timedelta(minutes=1)),
        Batch(2, 2000, 300, START + timedelta(minutes=2)),
    ]


def test_batches_never_exceed_a_minutes_worth():
    batches = batch_schedule(total=250, per_minute=100, batch_size=1000, start=START)
    assert [b.size for b in batches] == [100, 100, 50]
    assert [b.not_before - START for b in batches] == [timedelta(0), timedelta(minutes=1), timedelta(minutes=2)]


def test_unthrottled_and_empty_audiences():
    assert {b.not_before for b in batch_schedule(5000, None, 1000, START)} == {START}
    assert batch_schedule(0, 100, 10, START) == []


@pytest.mark.parametrize("args", [(-1, 100, 10), (10, 0, 10), (10, 100, 0), (10, -5, 10)])
def test_bad_settings_are_refused(args):
    total, per_minute, batch_size = args
    with pytest.raises(ThrottleError):
        batch_schedule(total, per_minute, batch_size, START)


@given(total=st.integers(0, 5000), per_minute=st.integers(1, 5000), batch_size=st.integers(1, 3000))
def test_no_minute_ever_holds_more_than_the_rate(total, per_minute, batch_size):
    batches = batch_schedule(total, per_minute, batch_size, START)
    assert sum(b.size for b in batches) == total
    assert all(b.offset == a.offset + a.size for a, b in zip(batches, batches[1:]))
    # Contacts allowed to go by the start of batch i never outrun the rate.
    for batch in batches:
        elapsed_us = (batch.not_before - START) // timedelta(microseconds=1)
        assert batch.offset * 60_000_000 <= elapsed_us * per_minute
