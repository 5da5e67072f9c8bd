"""Provider rate limits shared by every worker: the Redis limiter and its in-process twin agree."""
from __future__ import annotations

import uuid

import pytest
import redis

from orchestrator.pipeline.ratelimit import LocalRateLimiter, RedisRateLimiter, parse_rates


def _bookings(limiters, count: int, times: int) -> list[float]:
    """`times` bookings of `count` sends, taking turns between the limiters (several workers)."""
    return [limiters[i % len(limiters)].wait_for("sms", count) for i in range(times)]


@pytest.mark.redis
def test_workers_sharing_redis_line_up_behind_one_rate(redis_url):
    client = redis.Redis.from_url(redis_url)
    prefix = f"chorus-test-rate-{uuid.uuid4().hex[:8]}"
    try:
        rates = {"sms": 10.0}
        workers = [RedisRateLimiter(client, prefix, rates) for _ in range(3)]
        waits = _bookings(workers, 10, 5)  # 50 sends at 10/s, one second of burst
        # The first two seconds' worth go at once (the burst), then each second's worth waits a second more.
        assert waits[:2] == [0.0, 0.0]
        assert waits[2:] == pytest.approx([1.0, 2.0, 3.0], abs=0.05)
        assert workers[0].burst("sms") == 10
        assert 0 < client.pttl(f"{prefix}:sms") <= 6000  # the key expires once the backlog is gone
        local = _bookings([LocalRateLimiter(rates)], 10, 5)
        assert local == pytest.approx(waits, abs=0.05)
    finally:
        client.delete(f"{prefix}:sms")
        client.close()


def test_rates_come_from_the_channels_and_the_setting():
    rates = parse_rates("sms=30, email=50")
    assert rates["sms"] == 30 and rates["email"] == 50 and rates["push"] > 0
    with pytest.raises(ValueError, match="fax"):
        parse_rates("fax=1")
