"""Per-channel send rates shared by every worker.

A reservation limiter (GCRA): a chunk of n messages asks for n slots and is told how long to
wait before sending; the slots are booked at once, so concurrent workers line up behind each
other instead of spinning. One Redis round trip (a Lua script) per provider chunk, not per
message, which is why this is not dramatiq.rate_limits (one call per unit). The in-process
twin serves the embedded mode, whose workers are threads of one process.
"""
from __future__ import annotations

import threading
import time
from typing import Protocol

from channels import LIMITS

# KEYS[1]: the channel's "theoretical arrival time" (ms). ARGV: now_ms, cost_ms, burst_ms.
# Returns the milliseconds the caller waits before its chunk may go.
RESERVE = """
local now = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new = tat + tonumber(ARGV[2])
redis.call('SET', KEYS[1], new, 'PX', math.ceil(new - now) + 1000)
local wait = tat - now - tonumber(ARGV[3])
if wait < 0 then wait = 0 end
return wait
"""


class RateLimiter(Protocol):
    def wait_for(self, channel: str, count: int) -> float:
        """Book `count` sends on `channel`; seconds to wait before sending them."""

    def burst(self, channel: str) -> int:
        """How many sends one booking may cover and still go at once (the burst allowance):
        booking several provider chunks together saves round trips without sending faster."""


def parse_rates(text: str) -> dict[str, float]:
    """`sms=30,email=50` over each channel's default rate."""
    rates = {key: limits.default_rate_per_second for key, limits in LIMITS.items()}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        key, _, value = part.partition("=")
        if key.strip() not in rates:
            raise ValueError(f"CHORUS_CHANNEL_RATES: unknown channel {key!r}")
        rates[key.strip()] = float(value)
    return rates


class LocalRateLimiter:
    def __init__(self, rates: dict[str, float], burst_seconds: float = 1.0):
        self.rates = rates
        self.burst_seconds = burst_seconds
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()

    def burst(self, channel: str) -> int:
        return int(self.rates[channel] * self.burst_seconds)

    def wait_for(self, channel: str, count: int) -> float:
        now = time.monotonic()
        with self._lock:
            tat = max(self._tat.get(channel, now), now)
            self._tat[channel] = tat + count / self.rates[channel]
        return max(0.0, tat - now - self.burst_seconds)


class RedisRateLimiter:
    def __init__(self, client, prefix: str, rates: dict[str, float], burst_seconds: float = 1.0):
        self.client = client
        self.prefix = prefix
        self.rates = rates
        self.burst_ms = burst_seconds * 1000
        self._script = client.register_script(RESERVE)

    def burst(self, channel: str) -> int:
        return int(self.rates[channel] * self.burst_ms / 1000)

    def wait_for(self, channel: str, count: int) -> float:
        now_ms = time.time() * 1000
        cost_ms = count * 1000 / self.rates[channel]
        waited = self._script(keys=[f"{self.prefix}:{channel}"], args=[now_ms, cost_ms, self.burst_ms])
        return float(waited) / 1000


def limiter_for(app) -> RateLimiter:
    limiter = app.extensions.get("chorus_rate_limiter")
    if limiter is None:
        rates = parse_rates(app.config.get("CHANNEL_RATES", ""))
        if app.config["BROKER"] == "inprocess":
            limiter = LocalRateLimiter(rates)
        else:
            from orchestrator.redis_client import get_redis, redis_key

            limiter = RedisRateLimiter(get_redis(app), redis_key("rate", app=app), rates)
        app.extensions["chorus_rate_limiter"] = limiter
    return limiter
