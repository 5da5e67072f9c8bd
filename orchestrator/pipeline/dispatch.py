"""Hand recorded rows to the send actors: one broker message per channel chunk, never per row.

Transactional rows go to the high-priority `transactional` queue, everything else to `bulk`,
so a broadcast never delays an OTP. Long waits (quiet hours, far retries) are not parked in the
broker: the sweeper enqueues those rows when they come due.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Iterable, NamedTuple

SEND_CHUNK = 500
MAX_BROKER_DELAY_SECONDS = 3600
API_KEY_PREFIX = "tx:"  # idempotency keys of POST /v1/messages rows: `tx:{api_key}:{key}:{channel}`


class Due(NamedTuple):
    """A row to hand to the send actors (retries, sweeps): what enqueue_sends reads."""
    id: int
    channel: str
    category: str
    next_attempt_at: datetime | None = None
    idempotency_key: str | None = None  # decides the queue (urgent_row)


def urgent_row(row) -> bool:
    """Transactional content, or anything sent through the API whatever its category: its
    retries and fallbacks stay on the transactional queue, as its first send did."""
    return row.category == "transactional" or (getattr(row, "idempotency_key", None) or "").startswith(API_KEY_PREFIX)


def enqueue_sends(rows: Iterable, now: datetime, *, urgent: bool = False) -> int:
    """`rows` have id, channel, category, next_attempt_at and (for the queue choice) an
    idempotency_key; returns broker messages sent. `urgent` puts every row on the
    transactional queue."""
    from orchestrator.actors.delivery import send_messages, send_transactional

    groups: dict[tuple[str, bool, int], list[int]] = defaultdict(list)
    for row in rows:
        delay = 0
        if row.next_attempt_at is not None and row.next_attempt_at > now:
            delay = int((row.next_attempt_at - now).total_seconds() * 1000) + 1
            if delay > MAX_BROKER_DELAY_SECONDS * 1000:
                continue
        groups[(row.channel, urgent or urgent_row(row), delay)].append(row.id)
    sent = 0
    for (_channel, transactional, delay), ids in groups.items():
        actor = send_transactional if transactional else send_messages
        for start in range(0, len(ids), SEND_CHUNK):
            actor.send_with_options(args=(ids[start:start + SEND_CHUNK],), delay=delay or None)
            sent += 1
    return sent
