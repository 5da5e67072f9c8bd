from datetime import datetime, timezone

import pytest

from campaigns.segments.instants import parse_instant

UTC = timezone.utc


@pytest.mark.parametrize("text, expected", [
    ("2026-01-31", datetime(2026, 1, 31, tzinfo=UTC)),
    ("2026-01-31T09:00:00Z", datetime(2026, 1, 31, 9, tzinfo=UTC)),
    ("2026-01-31T09:00:00.999999+02:00", datetime(2026, 1, 31, 7, tzinfo=UTC)),
    ("2026-01-31T23:30:00-14:30", datetime(2026, 2, 1, 14, 0, tzinfo=UTC)),
    ("2024-02-29T00:00:00", datetime(2024, 2, 29, tzinfo=UTC)),
])
def test_accepted_shapes_become_utc_instants_to_the_second(text, expected):
    assert parse_instant(text) == expected


@pytest.mark.parametrize("text", [
    "2026-02-29", "2026-13-01", "2026-01-00", "2026-01-31T24:00:00", "2026-01-31T10:60:00",
    "2026-01-31 10:00:00", "2026-01-31T10:00", "2026-01-31T10:00:00+15:00",
    "2026-01-31T10:00:00.1234567Z", "0999-01-01", "3000-01-01", "2026-01-31\n", "٢٠٢٦-01-01",
    "2460000", 20260131, None,
])
def test_other_strings_are_not_dates(text):
    assert parse_instant(text) is None
