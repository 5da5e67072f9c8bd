"""Campaign results: rates from counts, and lift over the holdout with a two-proportion z-test.

Rates are None, not 0, when their denominator is zero: "no data" and "0 %" are different
answers, and the UI shows a dash for the first.

Denominators: delivery and failure rates over sent; open, click and unsubscribe rates over
delivered; click-to-open over opened; conversion over targeted (intent to treat: everyone
assigned to the variant, reached or not, which is what the holdout is compared against).
For a per-variant conversion rate pass contact-level counts (distinct contacts targeted and
converted), since a contact reached on several channels appears once per channel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from statistics import NormalDist
from typing import Mapping


class StatsError(ValueError):
    """Counts that cannot describe a real group (negative, or more conversions than people)."""


@dataclass(frozen=True)
class Counts:
    targeted: int = 0
    suppressed: Mapping[str, int] = field(default_factory=dict, hash=False)
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    opened: int = 0
    clicked: int = 0
    unsubscribed: int = 0
    converted: int = 0

    def __add__(self, other: "Counts") -> "Counts":
        if not isinstance(other, Counts):
            return NotImplemented
        suppressed = dict(self.suppressed)
        for reason, number in other.suppressed.items():
            suppressed[reason] = suppressed.get(reason, 0) + number
        totals = {
            f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self) if f.name != "suppressed"
        }
        return Counts(suppressed=suppressed, **totals)

    @property
    def suppressed_total(self) -> int:
        return sum(self.suppressed.values())


@dataclass(frozen=True)
class Rates:
    delivery: float | None
    failure: float | None
    open: float | None
    click: float | None
    click_to_open: float | None
    unsubscribe: float | None
    conversion: float | None


def ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def rates(counts: Counts) -> Rates:
    return Rates(
        delivery=ratio(counts.delivered, counts.sent),
        failure=ratio(counts.failed, counts.sent),
        open=ratio(counts.opened, counts.delivered),
        click=ratio(counts.clicked, counts.delivered),
        click_to_open=ratio(counts.clicked, counts.opened),
        unsubscribe=ratio(counts.unsubscribed, counts.delivered),
        conversion=ratio(counts.converted, counts.targeted),
    )


def totals_by(rows: Mapping[tuple[str, str], Counts], part: str) -> dict[str, Counts]:
    """Sum (variant, channel) rows per variant (`part="variant"`) or per channel."""
    if part not in ("variant", "channel"):
        raise ValueError("part must be 'variant' or 'channel'")
    index = 0 if part == "variant" else 1
    summed: dict[str, Counts] = {}
    for key, counts in rows.items():
        summed[key[index]] = summed.get(key[index], Counts()) + counts
    return summed


@dataclass(frozen=True)
class Lift:
    """Treatment against holdout. `ci_low`/`ci_high` bound `absolute_diff` (a difference of
    proportions); `relative_lift` is that difference over the holdout rate, None when the
    holdout rate is 0."""

    absolute_diff: float
    relative_lift: float | None
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool
    confidence: float
    treatment_rate: float
    holdout_rate: float


def lift(
    treatment_conversions: int,
    treatment_n: int,
    holdout_conversions: int,
    holdout_n: int,
    confidence: float = 0.95,
) -> Lift | None:
    """Two-proportion z-test of treatment against holdout; None when either group is empty.

    The p-value uses the pooled standard error (the null hypothesis says the rates are equal);
    the confidence interval uses the unpooled one (Wald interval for the difference).
    """
    if not 0 < confidence < 1:
        raise StatsError("confidence must be between 0 and 1")
    _check_group(treatment_conversions, treatment_n, "treatment")
    _check_group(holdout_conversions, holdout_n, "holdout")
    if treatment_n == 0 or holdout_n == 0:
        return None
    p_treatment = treatment_conversions / treatment_n
    p_holdout = holdout_conversions / holdout_n
    diff = p_treatment - p_holdout

    pooled = (treatment_conversions + holdout_conversions) / (treatment_n + holdout_n)
    pooled_se = math.sqrt(pooled * (1 - pooled) * (1 / treatment_n + 1 / holdout_n))
    if pooled_se == 0:
        p_value = 1.0  # everyone or no one converted in both groups: no difference to test
    else:
        p_value = 2 * NormalDist().cdf(-abs(diff) / pooled_se)
    p_value = min(1.0, max(0.0, p_value))

    se = math.sqrt(p_treatment * (1 - p_treatment) / treatment_n + p_holdout * (1 - p_holdout) / holdout_n)
    margin = NormalDist().inv_cdf(0.5 + confidence / 2) * se
    return Lift(
        absolute_diff=diff,
        relative_lift=diff / p_holdout if p_holdout else None,
        ci_low=diff - margin,
        ci_high=diff + margin,
        p_value=p_value,
        significant=p_value < 1 - confidence,
        confidence=confidence,
        treatment_rate=p_treatment,
        holdout_rate=p_holdout,
    )


def _check_group(conversions: int, n: int, name: str) -> None:
    if conversions < 0 or n < 0:
        raise StatsError(f"{name} counts cannot be negative")
    if conversions > n:
        raise StatsError(f"{name} has more conversions ({conversions}) than members ({n})")
