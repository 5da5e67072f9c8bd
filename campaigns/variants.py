"""A/B variant and holdout assignment by a stable hash.

A contact's place is a uniform number in [0, 1) from blake2b of "campaign:contact", so the
same contact lands in the same group on every worker, every retry and every re-plan, with no
state to store. The holdout takes the bottom `holdout_percent` of that range first; the rest
is split by weight. Changing variant weights therefore never moves anyone into or out of the
holdout.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

HOLDOUT = "holdout"
_SCALE = float(1 << 64)


class VariantError(ValueError):
    """A variant list or holdout that cannot be assigned from."""


def bucket(campaign_id: object, contact_id: object) -> float:
    """The contact's stable position in [0, 1) for this campaign."""
    digest = hashlib.blake2b(f"{campaign_id}:{contact_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def validate(variants: Sequence[tuple[str, float]], holdout_percent: float = 0.0) -> None:
    if not 0 <= holdout_percent < 100:
        raise VariantError("holdout_percent must be at least 0 and below 100")
    if not variants:
        raise VariantError("at least one variant is needed")
    names = [name for name, _ in variants]
    if len(set(names)) != len(names):
        raise VariantError("variant names must be unique")
    if HOLDOUT in names:
        raise VariantError(f"{HOLDOUT!r} is reserved for the holdout group")
    if any(not name for name in names):
        raise VariantError("a variant needs a name")
    weights = [weight for _, weight in variants]
    if any(weight < 0 for weight in weights):
        raise VariantError("weights cannot be negative")
    if sum(weights) <= 0:
        raise VariantError("at least one weight must be positive")


def assign(
    campaign_id: object,
    contact_id: object,
    variants: Sequence[tuple[str, float]],
    holdout_percent: float = 0.0,
) -> str:
    """'holdout' or the name of the contact's variant."""
    validate(variants, holdout_percent)
    position = bucket(campaign_id, contact_id)
    holdout = holdout_percent / 100
    if position < holdout:
        return HOLDOUT
    # Stretch what is left after the holdout back to [0, 1) and walk the weights.
    position = (position - holdout) / (1 - holdout)
    total = sum(weight for _, weight in variants)
    running = 0.0
    for name, weight in variants:
        running += weight / total
        if position < running and weight > 0:
            return name
    # Float rounding can leave `running` a hair under 1: the last weighted variant takes it.
    return [name for name, weight in variants if weight > 0][-1]
