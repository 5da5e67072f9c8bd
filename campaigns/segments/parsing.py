"""Turn segment rule JSON into the typed tree, reporting every problem with its path."""

from __future__ import annotations

import math
from typing import Any, Mapping

from campaigns.segments.instants import parse_instant
from campaigns.segments.rules import (
    ATTRIBUTES_PREFIX, BOOLEAN_FIELDS, CHANNELS, COUNT_OPS, DATE_FIELDS, EQUALITY_OPS,
    MAX_DAYS, MAX_DEPTH, MAX_LIST_VALUES, MAX_NODES, MAX_TEXT_LENGTH, NUMBER_OPS,
    PRESENCE_OPS, TEXT_FIELDS, TEXT_OPS, VALUE_OPS, AllOf, AnyOf, AttributeCondition,
    ChannelOptIn, CountBound, EventCondition, FieldCondition, Not, Reachable, Rule,
    RuleIssue, SegmentMembership, SegmentRuleError, TopicSubscription, child_path,
)

KIND_KEYS = ("all", "any", "not", "field", "event", "reachable", "channel_opt_in", "topic",
             "segment")
MAX_WHERE = 20
MAX_PATH_SEGMENTS = 8
MAX_NAME_LENGTH = 255

# Which ops make sense on which kind of value; JSON documents accept them all.
OPS_BY_TARGET = {
    "text": EQUALITY_OPS + TEXT_OPS + PRESENCE_OPS,
    "boolean": ("eq", "neq"),
    "date": ("before", "after", "between", "within_last_days"),
    "json": VALUE_OPS,
}

_INVALID = object()


def parse_rules(data: Any) -> Rule:
    """The typed rule tree for `data`; raises SegmentRuleError listing every problem."""
    parser = _Parser()
    rule = parser.rule(data, "$", 1)
    if parser.issues:
        raise SegmentRuleError(parser.issues)
    return rule


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, bool)) or _is_number(value)


class _Parser:
    def __init__(self) -> None:
        self.issues: list[RuleIssue] = []
        self.nodes = 0

    def fail(self, path: str, message: str) -> Any:
        self.issues.append(RuleIssue(path, message))
        return _INVALID

    # -- nodes ---------------------------------------------------------------------------

    def rule(self, data: Any, path: str, depth: int) -> Any:
        self.nodes += 1
        if self.nodes == MAX_NODES + 1:
            return self.fail(path, f"too many conditions (at most {MAX_NODES})")
        if self.nodes > MAX_NODES:
            return _INVALID
        if depth > MAX_DEPTH:
            return self.fail(path, f"nested too deeply (at most {MAX_DEPTH} levels)")
        if not isinstance(data, Mapping):
            return self.fail(path, "a rule must be an object")
        kinds = [key for key in KIND_KEYS if key in data]
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            return self.fail(path, f"a rule needs exactly one of {', '.join(KIND_KEYS)} "
                                   f"(found {found})")
        return getattr(self, f"_{kinds[0]}")(data, path, depth)

    def _only(self, data: Mapping, path: str, allowed: tuple[str, ...]) -> None:
        for key in data:
            if key not in allowed:
                self.fail(child_path(path, str(key)), f"unknown key; expected {', '.join(allowed)}")

    def _group(self, data: Mapping, path: str, depth: int, key: str) -> Any:
        self._only(data, path, (key,))
        items = data[key]
        if not isinstance(items, list):
            return self.fail(child_path(path, key), "must be a list of rules")
        rules = tuple(self.rule(item, f"{child_path(path, key)}[{index}]", depth + 1)
                      for index, item in enumerate(items))
        return (AllOf if key == "all" else AnyOf)(rules)

    def _all(self, data: Mapping, path: str, depth: int) -> Any:
        return self._group(data, path, depth, "all")

    def _any(self, data: Mapping, path: str, depth: int) -> Any:
        return self._group(data, path, depth, "any")

    def _not(self, data: Mapping, path: str, depth: int) -> Any:
        self._only(data, path, ("not",))
        return Not(self.rule(data["not"], child_path(path, "not"), depth + 1))

    def _field(self, data: Mapping, path: str, depth: int) -> Any:
        self._only(data, path, ("field", "op", "value"))
        name = data["field"]
        if not isinstance(name, str):
            return self.fail(child_path(path, "field"), "must be a text field name")
        if name.startswith(ATTRIBUTES_PREFIX):
            json_path = self.json_path(name[len(ATTRIBUTES_PREFIX):], child_path(path, "field"))
            op, value = self.comparison(data, path, "json")
            return AttributeCondition(json_path, op, value)
        if name in TEXT_FIELDS:
            target = "text"
        elif name in BOOLEAN_FIELDS:
            target = "boolean"
        elif name in DATE_FIELDS:
            target = "date"
        else:
            known = ", ".join(TEXT_FIELDS + BOOLEAN_FIELDS + DATE_FIELDS)
            return self.fail(child_path(path, "field"),
                             f"unknown field {name!r}; expected {known} or attributes.<name>")
        op, value = self.comparison(data, path, target)
        return FieldCondition(name, op, value)

    def _event(self, data: Mapping, path: str, depth: int) -> Any:
        self._only(data, path, ("event", "where", "count", "within_days", "since", "did_not"))
        name = data["event"]
        if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH:
            self.fail(child_path(path, "event"), "must be an event name (1-255 characters)")
        where = self.where(data.get("where", []), child_path(path, "where"))
        count = CountBound()
        if "count" in data:
            count = self.count(data["count"], child_path(path, "count"))
        did_not = data.get("did_not", False)
        if not isinstance(did_not, bool):
            self.fail(child_path(path, "did_not"), "must be true or false")
        elif did_not and "count" in data:
            self.fail(child_path(path, "count"), "cannot be combined with did_not")
        within_days = since = None
        if "within_days" in data and "since" in data:
            self.fail(path, "use within_days or since, not both")
        if "within_days" in data:
            within_days = self.days(data["within_days"], child_path(path, "within_days"))
        if "since" in data:
            since = self.instant(data["since"], child_path(path, "since"))
        return EventCondition(name, where, count, within_days, since, did_not is True)

    def _reachable(self, data: Mapping, path: str, depth: int) -> Any:
        self._only(data, path, ("reachable",))
        return Reachable(self.channel(data["reachable"], child_path(path, "reachable")))

    def _channel_opt_in(self, data: Mapping, path: str, depth: int) -> Any:
        self._only(data, path, ("channel_opt_in", "value"))
        channel = self.channel(data["channel_opt_in"], child_path(path, "channel_opt_in"))
        opted_in = data.get("value", True)
        if not isinstance(opted_in, bool):
            self.fail(child_path(path, "value"), "must be true or false")
        return ChannelOptIn(channel, opted_in)

    def _topic(self, data: Mapping, path: str, depth: int) -> Any:
        self._only(data, path, ("topic", "subscribed"))
        topic = data["topic"]
        if not isinstance(topic, str) or not topic or len(topic) > 64:
            self.fail(child_path(path, "topic"), "must be a topic key (1-64 characters)")
        subscribed = data.get("subscribed", True)
        if not isinstance(subscribed, bool):
            self.fail(child_path(path, "subscribed"), "must be true or false")
        return TopicSubscription(topic, subscribed)

    def _segment(self, data: Mapping, path: str, depth: int) -> Any:
        self._only(data, path, ("segment",))
        segment_id = data["segment"]
        if isinstance(segment_id, bool) or not isinstance(segment_id, int) or segment_id < 1:
            return self.fail(child_path(path, "segment"), "must be a segment id")
        return SegmentMembership(segment_id)

    # -- parts ---------------------------------------------------------------------------

    def json_path(self, text: str, path: str) -> tuple[str, ...]:
        segments = tuple(text.split("."))
        if len(segments) > MAX_PATH_SEGMENTS:
            self.fail(path, f"at most {MAX_PATH_SEGMENTS} levels of nesting")
        for segment in segments:
            # Quotes and backslashes would need escaping inside SQLite's JSON path syntax, and
            # PostgreSQL reads an all-digit segment as an array index where SQLite reads a key.
            if (not segment or segment.isdigit() or len(segment) > 64
                    or any(ch in segment for ch in '"\\') or not segment.isprintable()):
                self.fail(path, f"bad name segment {segment!r}: 1-64 printable characters, "
                                'not all digits, without " or \\')
                break
        return segments

    def where(self, items: Any, path: str) -> tuple[AttributeCondition, ...]:
        if not isinstance(items, list) or len(items) > MAX_WHERE:
            self.fail(path, f"must be a list of at most {MAX_WHERE} property conditions")
            return ()
        conditions = []
        for index, item in enumerate(items):
            item_path = f"{path}[{index}]"
            if not isinstance(item, Mapping) or not isinstance(item.get("property"), str):
                self.fail(item_path, "must be an object with property, op and value")
                continue
            self._only(item, item_path, ("property", "op", "value"))
            json_path = self.json_path(item["property"], child_path(item_path, "property"))
            op, value = self.comparison(item, item_path, "json")
            conditions.append(AttributeCondition(json_path, op, value))
        return tuple(conditions)

    def count(self, raw: Any, path: str) -> CountBound:
        if not isinstance(raw, Mapping):
            self.fail(path, "must be an object with op and value")
            return CountBound()
        self._only(raw, path, ("op", "value"))
        op, value = raw.get("op", "gte"), raw.get("value")
        if op not in COUNT_OPS:
            self.fail(child_path(path, "op"), f"must be one of {', '.join(COUNT_OPS)}")
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**9:
            self.fail(child_path(path, "value"), "must be a whole number of times, 0 or more")
        return CountBound(op, value)

    def channel(self, raw: Any, path: str) -> str:
        if raw not in CHANNELS:
            self.fail(path, f"must be one of {', '.join(CHANNELS)}")
        return raw

    def days(self, raw: Any, path: str) -> Any:
        if not _is_number(raw) or not 0 < raw <= MAX_DAYS:
            return self.fail(path, f"must be a number of days above 0 (at most {MAX_DAYS})")
        return raw

    def instant(self, raw: Any, path: str) -> Any:
        moment = parse_instant(raw)
        if moment is None:
            return self.fail(path, "must be an ISO 8601 date such as 2026-01-31 or "
                                   "2026-01-31T09:00:00Z")
        return moment

    def comparison(self, data: Mapping, path: str, target: str) -> tuple[str, Any]:
        op = data.get("op")
        if op not in VALUE_OPS:
            self.fail(child_path(path, "op"), f"unknown op {op!r}; expected one of "
                                          f"{', '.join(VALUE_OPS)}")
            return op, None
        if op not in OPS_BY_TARGET[target]:
            self.fail(child_path(path, "op"), f"{op} does not apply to a {target} field; "
                                          f"use {', '.join(OPS_BY_TARGET[target])}")
            return op, None
        value_path = child_path(path, "value")
        if op in PRESENCE_OPS:
            if data.get("value") is not None:
                self.fail(value_path, f"{op} takes no value")
            return op, None
        if "value" not in data:
            self.fail(value_path, f"{op} needs a value")
            return op, None
        return op, self.value(op, data["value"], target, value_path)

    def value(self, op: str, raw: Any, target: str, path: str) -> Any:
        if op in ("eq", "neq", "contains"):
            return self.scalar(raw, target, path)
        if op in ("in", "not_in"):
            if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_LIST_VALUES:
                return self.fail(path, f"must be a list of 1-{MAX_LIST_VALUES} values")
            values = tuple(self.scalar(item, target, f"{path}[{index}]")
                           for index, item in enumerate(raw))
            return values
        if op == "starts_with":
            return self.scalar(raw, "text", path)
        if op in NUMBER_OPS:
            return raw if _is_number(raw) else self.fail(path, f"{op} needs a number")
        if op in ("before", "after"):
            return self.instant(raw, path)
        if op == "within_last_days":
            return self.days(raw, path)
        return self.range(raw, target, path)

    def scalar(self, raw: Any, target: str, path: str) -> Any:
        if target == "text" and not isinstance(raw, str):
            return self.fail(path, "must be text")
        if target == "boolean" and not isinstance(raw, bool):
            return self.fail(path, "must be true or false")
        if not _is_scalar(raw):
            return self.fail(path, "must be text, a number or true/false")
        if isinstance(raw, str) and len(raw) > MAX_TEXT_LENGTH:
            return self.fail(path, f"at most {MAX_TEXT_LENGTH} characters")
        return raw

    def range(self, raw: Any, target: str, path: str) -> Any:
        if not isinstance(raw, list) or len(raw) != 2:
            return self.fail(path, "between needs [low, high]")
        low, high = raw
        if target == "json" and _is_number(low) and _is_number(high):
            bounds = (low, high)
        else:
            bounds = (parse_instant(low), parse_instant(high))
            if None in bounds:
                kinds = "two numbers or two ISO dates" if target == "json" else "two ISO dates"
                return self.fail(path, f"between needs {kinds}")
        if bounds[0] > bounds[1]:
            return self.fail(path, "low must not be above high")
        return bounds
