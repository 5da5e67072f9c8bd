"""The message status machine: pure, monotonic.

Provider callbacks arrive late, twice and out of order. Each status has a rank and a
status may only move to a higher rank, so a late ``delivered`` after ``opened``, or a
``failed`` after ``delivered``, is ignored and replaying a callback is a no-op. For provider
callbacks (everything from ``sent`` on) the final rank is therefore the highest rank seen,
whatever order they came in.

Failure ends (``failed``, ``undelivered``, ``bounced``) rank between ``sent`` and
``delivered``: a send can fail after the provider took it, but once the provider says it was
delivered, or the person opened it, a stray failure report does not undo that.

``suppressed`` and ``skipped`` are decisions taken before sending (consent, unsubscribe,
frequency cap, no reachable address). They are reachable only from the waiting statuses and
nothing moves a message out of them.

Retrying a transient failure is not a forward move, so it is a separate question:
:func:`may_requeue` says whether a message may go back to ``queued``.
"""

from __future__ import annotations

QUEUED = "queued"
DEFERRED = "deferred"  # waiting for a send time (quiet hours, local-time delivery, retry back-off)
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
UNDELIVERED = "undelivered"
BOUNCED = "bounced"
DELIVERED = "delivered"
OPENED = "opened"
CLICKED = "clicked"
SUPPRESSED = "suppressed"
SKIPPED = "skipped"

RANK: dict[str, int] = {
    QUEUED: 0,
    DEFERRED: 1,
    SENDING: 2,
    SENT: 3,
    FAILED: 4,
    UNDELIVERED: 4,
    BOUNCED: 4,
    DELIVERED: 5,
    OPENED: 6,
    CLICKED: 7,
    SUPPRESSED: 8,
    SKIPPED: 8,
}

STATUSES: frozenset[str] = frozenset(RANK)
WAITING: frozenset[str] = frozenset({QUEUED, DEFERRED})
DECIDED_OUT: frozenset[str] = frozenset({SUPPRESSED, SKIPPED})
FAILURES: frozenset[str] = frozenset({FAILED, UNDELIVERED, BOUNCED})
# Statuses after which the pipeline has nothing more to do for the message.
FINAL: frozenset[str] = FAILURES | DECIDED_OUT | {DELIVERED, OPENED, CLICKED}


class UnknownStatus(ValueError):
    """A status name outside the machine."""


def rank(status: str) -> int:
    try:
        return RANK[status]
    except KeyError:
        raise UnknownStatus(status) from None


def advance(current: str, new: str) -> bool:
    """May a message in ``current`` move to ``new``?"""
    current_rank, new_rank = rank(current), rank(new)
    if new in DECIDED_OUT:
        return current in WAITING
    return new_rank > current_rank


def may_requeue(current: str) -> bool:
    """May a transient failure put the message back in the queue for another attempt?

    Only before the provider took it: once ``sent``, a resend would duplicate.
    """
    return rank(current) <= RANK[SENDING] and current not in DECIDED_OUT


def apply(current: str, updates: list[str] | tuple[str, ...]) -> str:
    """Fold a sequence of updates through :func:`advance`; the status they leave behind."""
    for new in updates:
        if advance(current, new):
            current = new
    return current
