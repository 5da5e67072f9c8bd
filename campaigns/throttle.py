"""Spreading a campaign's sends over time to respect a per-minute rate.

The plan step cuts the audience into batches and gives each a `not_before`: batch i starts
after the sends of the batches before it have had their minutes. With a rate, a batch never
holds more than one minute's worth, so no single batch bursts past the limit; the provider
rate limiter shared across workers smooths the sends inside a batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta


class ThrottleError(ValueError):
    """Throttle settings that cannot be planned with."""


@dataclass(frozen=True)
class Batch:
    index: int
    offset: int  # position of the batch's first contact in the audience
    size: int
    not_before: datetime


def effective_batch_size(batch_size: int, per_minute: int | None) -> int:
    if batch_size <= 0:
        raise ThrottleError("batch_size must be positive")
    if per_minute is None:
        return batch_size
    if per_minute <= 0:
        raise ThrottleError("per_minute must be positive, or None for no throttle")
    return min(batch_size, per_minute)


def delay_for_batch(index: int, batch_size: int, per_minute: int | None) -> timedelta:
    """How long after the start batch `index` (0-based) of `batch_size` contacts may go."""
    if index < 0:
        raise ThrottleError("index cannot be negative")
    effective_batch_size(batch_size, per_minute)
    if per_minute is None:
        return timedelta(0)
    # Rounded up to the microsecond so a batch is never a hair early.
    return timedelta(microseconds=-(-index * batch_size * 60_000_000 // per_minute))


def batch_schedule(total: int, per_minute: int | None, batch_size: int, start: datetime) -> list[Batch]:
    """Every batch of an audience of `total` contacts with its offset, size and start time."""
    if total < 0:
        raise ThrottleError("total cannot be negative")
    size = effective_batch_size(batch_size, per_minute)
    return [
        Batch(
            index=index,
            offset=index * size,
            size=min(size, total - index * size),
            not_before=start + delay_for_batch(index, size, per_minute),
        )
        for index in range(math.ceil(total / size))
    ]
