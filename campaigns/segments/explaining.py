"""A one-line, human summary of a segment's rules, for lists and headings in the UI."""

from __future__ import annotations

import json
from datetime import datetime

from campaigns.segments.rules import (
    AllOf, AnyOf, AttributeCondition, ChannelOptIn, EventCondition, FieldCondition, Not,
    Reachable, Rule, SegmentMembership, TopicSubscription,
)

_PHRASES = {
    "eq": "is {}", "neq": "is not {}", "in": "is one of {}", "not_in": "is none of {}",
    "contains": "contains {}", "starts_with": "starts with {}", "exists": "is set",
    "not_exists": "is not set", "gt": "> {}", "gte": "≥ {}", "lt": "< {}", "lte": "≤ {}",
    "between": "is between {}", "before": "is before {}", "after": "is after {}",
    "within_last_days": "is within the last {} days",
}
_TIMES = {"eq": "exactly {} times", "neq": "other than {} times", "gt": "more than {} times",
          "gte": "at least {} times", "lt": "fewer than {} times", "lte": "at most {} times"}


def explain(rule: Rule) -> str:
    """E.g. `attributes.plan is "pro" and did viewed_product at least 2 times in the last
    7 days and reachable by sms`."""
    return _explain(rule, top=True)


def _explain(rule: Rule, top: bool = False) -> str:
    if isinstance(rule, (AllOf, AnyOf)):
        joiner = " and " if isinstance(rule, AllOf) else " or "
        if not rule.rules:
            return "everyone" if isinstance(rule, AllOf) else "no one"
        if len(rule.rules) == 1:
            return _explain(rule.rules[0], top)
        text = joiner.join(_explain(child) for child in rule.rules)
        return text if top else f"({text})"
    if isinstance(rule, Not):
        return f"not {_explain(rule.rule)}"
    if isinstance(rule, FieldCondition):
        return _condition(rule.field, rule.op, rule.value)
    if isinstance(rule, AttributeCondition):
        return _condition("attributes." + ".".join(rule.path), rule.op, rule.value)
    if isinstance(rule, EventCondition):
        return _event(rule)
    if isinstance(rule, Reachable):
        return f"reachable by {rule.channel}"
    if isinstance(rule, ChannelOptIn):
        return f"opted {'in to' if rule.opted_in else 'out of'} {rule.channel}"
    if isinstance(rule, TopicSubscription):
        return f"{'subscribed' if rule.subscribed else 'not subscribed'} to {rule.topic}"
    if isinstance(rule, SegmentMembership):
        return f"in segment #{rule.segment_id}"
    raise TypeError(f"not a segment rule: {rule!r}")


def _value(value: object) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC").replace(" 00:00 UTC", "")
    if isinstance(value, tuple):
        return ", ".join(map(_value, value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value, ensure_ascii=False)


def _condition(subject: str, op: str, value: object) -> str:
    if op == "between":
        low, high = value
        return f"{subject} is between {_value(low)} and {_value(high)}"
    return f"{subject} {_PHRASES[op].format(_value(value))}"


def _event(rule: EventCondition) -> str:
    parts = [f"did not do {rule.name}" if rule.did_not else f"did {rule.name}"]
    if rule.where:
        parts.append("with " + " and ".join(
            _condition(".".join(where.path), where.op, where.value) for where in rule.where))
    if not rule.did_not and (rule.count.op, rule.count.value) != ("gte", 1):
        parts.append(_TIMES[rule.count.op].format(rule.count.value))
    if rule.within_days is not None:
        parts.append(f"in the last {_value(rule.within_days)} days")
    if rule.since is not None:
        parts.append(f"since {_value(rule.since)}")
    return " ".join(parts)
