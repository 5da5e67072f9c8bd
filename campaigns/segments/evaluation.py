"""Segment rules evaluated in Python on one contact (for triggers), agreeing with the SQL."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, NamedTuple, Sequence

from campaigns.segments.instants import as_utc, days_before, parse_instant, require_aware
from campaigns.segments.references import SegmentResolver, expand_segments
from campaigns.segments.rules import (
    NEGATED_OPS, AllOf, AnyOf, AttributeCondition, ChannelOptIn, EventCondition, FieldCondition, Not,
    Reachable, Rule, TopicSubscription,
)

_MISSING = object()


class EventFact(NamedTuple):
    name: str
    properties: Mapping[str, Any]
    occurred_at: datetime


@dataclass(frozen=True)
class ContactFacts:
    """What a segment may ask about one contact.

    `preferences` maps (kind, key) — ("channel", "sms"), ("topic", "promotions") — to the
    contact's explicit choice; `topic_defaults` maps topic keys to their default_opt_in.
    `events` needs only the events the rule names (`references.event_names`).
    """

    external_id: str
    created_at: datetime
    email: str | None = None
    phone: str | None = None
    locale: str | None = None
    timezone: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    events: Sequence[EventFact] = ()
    device_count: int = 0
    preferences: Mapping[tuple[str, str], bool] = field(default_factory=dict)
    topic_defaults: Mapping[str, bool] = field(default_factory=dict)
    sms_opted_out: bool = False
    unsubscribed_all: bool = False


def evaluate(rule: Rule, contact: ContactFacts, *, now: datetime,
             resolve_segment: SegmentResolver | None = None) -> bool:
    """Whether the contact is in the segment, as of `now`."""
    expanded = expand_segments(rule, resolve_segment=resolve_segment)
    return _matches(expanded, contact, require_aware(now))


def _matches(rule: Rule, contact: ContactFacts, now: datetime) -> bool:
    if isinstance(rule, AllOf):
        return all(_matches(child, contact, now) for child in rule.rules)
    if isinstance(rule, AnyOf):
        return any(_matches(child, contact, now) for child in rule.rules)
    if isinstance(rule, Not):
        return not _matches(rule.rule, contact, now)
    if isinstance(rule, FieldCondition):
        return _field(rule, getattr(contact, rule.field), now)
    if isinstance(rule, AttributeCondition):
        return _json(rule, _lookup(contact.attributes, rule.path), now)
    if isinstance(rule, EventCondition):
        return _event(rule, contact.events, now)
    if isinstance(rule, Reachable):
        return _reachable(rule.channel, contact)
    if isinstance(rule, ChannelOptIn):
        return contact.preferences.get(("channel", rule.channel), True) == rule.opted_in
    if isinstance(rule, TopicSubscription):
        default = contact.topic_defaults.get(rule.topic, False)
        return contact.preferences.get(("topic", rule.topic), default) == rule.subscribed
    raise TypeError(f"not a segment rule: {rule!r}")


def _field(rule: FieldCondition, actual: Any, now: datetime) -> bool:
    op, value = rule.op, rule.value
    if op in NEGATED_OPS:
        return not _field(FieldCondition(rule.field, NEGATED_OPS[op], value), actual, now)
    if op == "exists":
        return actual is not None
    if actual is None:
        return False
    if isinstance(actual, datetime):
        return _on_instant(op, value, as_utc(actual), now)
    if op == "eq":
        return actual == value
    if op == "in":
        return actual in value
    if op == "contains":
        return value in actual
    return actual.startswith(value)  # starts_with


def _lookup(document: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    current: Any = document
    for key in path:
        if not isinstance(current, Mapping) or key not in current:
            return _MISSING
        current = current[key]
    return current


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _json_equal(actual: Any, expected: Any) -> bool:
    """Typed equality: text to text, number to number, boolean to boolean."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    if isinstance(expected, str):
        return isinstance(actual, str) and actual == expected
    return _is_number(actual) and float(actual) == float(expected)


def _json(rule: AttributeCondition, actual: Any, now: datetime) -> bool:
    op, value = rule.op, rule.value
    if op in NEGATED_OPS:
        return not _json(AttributeCondition(rule.path, NEGATED_OPS[op], value), actual, now)
    if op == "exists":
        return actual is not _MISSING and actual is not None
    if op == "eq":
        return _json_equal(actual, value)
    if op == "in":
        return any(_json_equal(actual, option) for option in value)
    if op == "contains":
        if isinstance(actual, list):
            return any(_json_equal(element, value) for element in actual)
        return isinstance(actual, str) and isinstance(value, str) and value in actual
    if op == "starts_with":
        return isinstance(actual, str) and actual.startswith(value)
    if op in ("gt", "gte", "lt", "lte") or (op == "between"
                                            and not isinstance(value[0], datetime)):
        return _is_number(actual) and _on_number(op, value, float(actual))
    instant = parse_instant(actual)
    return instant is not None and _on_instant(op, value, instant, now)


def _on_number(op: str, value: Any, actual: float) -> bool:
    if op == "between":
        return value[0] <= actual <= value[1]
    return {"gt": actual > value, "gte": actual >= value, "lt": actual < value,
            "lte": actual <= value}[op]


def _on_instant(op: str, value: Any, actual: datetime, now: datetime) -> bool:
    if op == "before":
        return actual < value
    if op == "after":
        return actual > value
    if op == "between":
        return value[0] <= actual <= value[1]
    return days_before(now, value) <= actual <= now  # within_last_days


def _event(rule: EventCondition, events: Sequence[EventFact], now: datetime) -> bool:
    start = rule.since
    if rule.within_days is not None:
        start = days_before(now, rule.within_days)
    count = 0
    for name, properties, occurred_at in events:
        if name != rule.name or (start is not None and as_utc(occurred_at) < start):
            continue
        properties = properties or {}
        if all(_json(where, _lookup(properties, where.path), now) for where in rule.where):
            count += 1
    if rule.did_not:
        return count == 0
    return rule.count.holds(count)


def _reachable(channel: str, contact: ContactFacts) -> bool:
    if channel == "sms":
        return contact.phone is not None and not contact.sms_opted_out
    if channel == "email":
        return contact.email is not None
    if channel == "push":
        return contact.device_count > 0
    return True
