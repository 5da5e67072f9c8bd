"""Hand recorded rows to the send actors: one broker message per channel chunk, never per row.

Transactional rows go to the high-priority `transactional` queue, everything else to `bulk`,
so a broadcast never delays an OTP. Long waits (quiet hours, far retries) are not parked in the
broker: the sweeper enqueues those rows when they come due.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Iterable

SEND_CHUNK = 500
MAX_BROKER_DELAY_SECONDS = 3600


def enqueue_sends(rows: Iterable, now: datetime, *, urgent: bool = False) -> int:
    """`rows` have id, channel, category and next_attempt_at; returns broker messages sent.
    `urgent` puts every row on the transactional queue (API sends, whatever their category)."""
    from orchestrator.actors.delivery import send_messages, send_transactional

    groups: dict[tuple[str, bool, int], list[int]] = defaultdict(list)
    for row in rows:
        delay = 0
        if row.next_attempt_at is not None and row.next_attempt_at > now:
            delay = int((row.next_attempt_at - now).total_seconds() * 1000) + 1
            if delay > MAX_BROKER_DELAY_SECONDS * 1000:
                continue
        groups[(row.channel, urgent or row.category == "transactional", delay)].append(row.id)
    sent = 0
    for (_channel, transactional, delay), ids in groups.items():
        actor = send_transactional if transactional else send_messages
        for start in range(0, len(ids), SEND_CHUNK):
            actor.send_with_options(args=(ids[start:start + SEND_CHUNK],), delay=delay or None)
            sent += 1
    return sent
