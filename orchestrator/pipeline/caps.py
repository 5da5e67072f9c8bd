"""Frequency-cap ledgers: how many marketing messages a contact got per channel in a window.

Two twins with one interface, chosen by the broker setting:

* `RedisCapLedger` (production): a sorted set per contact and channel plus one across channels,
  members are message idempotency keys, scores the send time. `recent` reads every count the
  policy needs in one pipelined round trip; `reserve` then checks and records each planned send
  atomically in a Lua script, so two workers racing on one contact can never both pass a cap.
  Using the idempotency key as member makes a redelivered job's reservation a no-op.
* `TableCapLedger` (embedded mode, no Redis): counts the messages table. Its workers are threads
  of one process, so a process lock held from counting to the commit of the rows keeps the cap.

A reservation counts when the row is recorded, not when the provider accepts it: a message that
later fails still used up its slot (the conservative side of a cap).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Iterator, Protocol, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.decisions import FrequencyCap, RecentSends, cap_windows, SendPolicy
from orchestrator.models import Message

ALL = "*"
NOT_COUNTED = ("skipped", "suppressed", "deferred")

# KEYS: channel set, all-channels set. ARGV: now, member, ttl, then triples (scope, window, max)
# with scope "c" (this channel) or "a" (all channels). Returns 1 when the send fits every cap.
RESERVE = """
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then return 1 end
local now = tonumber(ARGV[1])
for i = 4, #ARGV, 3 do
  local key = KEYS[1]
  if ARGV[i] == 'a' then key = KEYS[2] end
  local since = now - tonumber(ARGV[i + 1])
  if redis.call('ZCOUNT', key, '(' .. since, '+inf') >= tonumber(ARGV[i + 2]) then return 0 end
end
local ttl = tonumber(ARGV[3])
for k = 1, 2 do
  redis.call('ZADD', KEYS[k], now, ARGV[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', now - ttl)
  redis.call('EXPIRE', KEYS[k], ttl)
end
return 1
"""


class CapLedger(Protocol):
    def recent(self, session: Session, contact_ids: Sequence[int], policy: SendPolicy,
               now: datetime) -> dict[int, RecentSends]: ...

    def reserve(self, planned: Sequence[tuple[int, str, str]], policy: SendPolicy,
                now: datetime) -> list[bool]:
        """`planned` is (contact_id, channel, idempotency key); True where the send fits."""

    def guard(self) -> "contextmanager": ...


def applies(policy: SendPolicy) -> bool:
    return bool(policy.frequency_caps) and policy.respect_caps and not policy.transactional


class RedisCapLedger:
    def __init__(self, client, prefix: str):
        self.client = client
        self.prefix = prefix
        self._script = client.register_script(RESERVE)

    def _key(self, contact_id: int, scope: str | None) -> str:
        return f"{self.prefix}:{contact_id}:{scope or ALL}"

    def recent(self, session, contact_ids, policy, now):
        windows = sorted(cap_windows(policy), key=lambda w: (w[0] or "", w[1]))
        pipe = self.client.pipeline(transaction=False)
        stamp = now.timestamp()
        for contact_id in contact_ids:
            for scope, window in windows:
                pipe.zcount(self._key(contact_id, scope), f"({stamp - window}", "+inf")
        counts = iter(pipe.execute())
        return {contact_id: RecentSends(counts={w: next(counts) for w in windows}) for contact_id in contact_ids}

    def reserve(self, planned, policy, now):
        if not planned:
            return []
        ttl = max(cap.window_seconds for cap in policy.frequency_caps) + 60
        pipe = self.client.pipeline(transaction=False)
        for contact_id, channel, member in planned:
            args: list = [now.timestamp(), member, ttl]
            for cap in policy.frequency_caps:
                args += ["c" if cap.per_channel else "a", cap.window_seconds, cap.max_messages]
            self._script(keys=[self._key(contact_id, channel), self._key(contact_id, None)], args=args,
                         client=pipe)
        return [bool(result) for result in pipe.execute()]

    @contextmanager
    def guard(self) -> Iterator[None]:
        yield  # Redis scripts are atomic: nothing to hold


class TableCapLedger:
    _lock = threading.Lock()

    def recent(self, session, contact_ids, policy, now):
        since = now - timedelta(seconds=max(cap.window_seconds for cap in policy.frequency_caps))
        m = Message.__table__.c
        times: dict[int, dict[str, list[datetime]]] = {c: {} for c in contact_ids}
        ids = list(contact_ids)
        for start in range(0, len(ids), 5000):
            rows = session.execute(
                select(m.contact_id, m.channel, m.created_at)
                .where(m.contact_id.in_(ids[start:start + 5000]), m.category == "marketing",
                       m.created_at > since, m.status.not_in(NOT_COUNTED)))
            for row in rows:
                times[row.contact_id].setdefault(row.channel, []).append(row.created_at)
        return {c: RecentSends(times=t) for c, t in times.items()}

    def reserve(self, planned, policy, now):
        return [True] * len(planned)  # the counts were read under the lock the caller holds

    @contextmanager
    def guard(self) -> Iterator[None]:
        with self._lock:
            yield


def ledger_for(app) -> CapLedger:
    if app.config["BROKER"] == "inprocess":
        return TableCapLedger()
    ledger = app.extensions.get("chorus_cap_ledger")
    if ledger is None:
        from orchestrator.redis_client import get_redis, redis_key

        ledger = RedisCapLedger(get_redis(app), redis_key("caps", app=app))
        app.extensions["chorus_cap_ledger"] = ledger
    return ledger


__all__ = ["CapLedger", "FrequencyCap", "RedisCapLedger", "TableCapLedger", "applies", "ledger_for"]
