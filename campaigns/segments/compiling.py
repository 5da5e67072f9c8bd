"""Segment rules compiled to a SQL WHERE clause over the contacts table (for audiences).

Every condition compiles to an expression that is never NULL, so `not` is plain negation and
the result agrees with `evaluation.evaluate` contact by contact (a property test holds both
to it on SQLite and PostgreSQL). "Did (not) do" event conditions become
correlated EXISTS subqueries shaped for the (contact_id, name, occurred_at) index; other
counts become one grouped pass over the events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement, FromClause, Integer, and_, case, cast, false, func, literal, literal_column,
    not_, or_,
    select, true,
)

from campaigns.segments.instants import MAX_OFFSET_HOURS, MAX_YEAR, MIN_YEAR, days_before, \
    require_aware
from campaigns.segments.portable_sql import (
    has_instant_shape, instant_bound, json_array_contains, json_kind, path_param,
    text_position, to_instant,
)
from campaigns.segments.references import SegmentResolver, expand_segments
from campaigns.segments.rules import (
    NEGATED_OPS, AllOf, AnyOf, AttributeCondition, ChannelOptIn, EventCondition, FieldCondition, Not,
    Reachable, Rule, TopicSubscription,
)


@dataclass(frozen=True)
class SegmentTables:
    """The tables (or aliases of them) a segment reads; see the Chorus schema."""

    contacts: FromClause
    events: FromClause
    devices: FromClause
    preferences: FromClause
    topics: FromClause


def compile_to_sql(rule: Rule, tables: SegmentTables, *, now: datetime,
                   resolve_segment: SegmentResolver | None = None) -> ColumnElement[bool]:
    """A WHERE clause selecting the contacts in the segment, as of `now`."""
    expanded = expand_segments(rule, resolve_segment=resolve_segment)
    return _Compiler(tables, require_aware(now)).rule(expanded)


def _definite(condition: ColumnElement) -> ColumnElement[bool]:
    return func.coalesce(condition, false())


def _compare(left, op: str, right) -> ColumnElement[bool]:
    return {"eq": left == right, "neq": left != right, "gt": left > right,
            "gte": left >= right, "lt": left < right, "lte": left <= right}[op]


# SQLite's json_each type names for a scalar of each Python type.
def _sqlite_element_types(value) -> tuple[str, str]:
    if isinstance(value, bool):
        return ("true", "true") if value else ("false", "false")
    if isinstance(value, str):
        return ("text", "text")
    return ("integer", "real")


class _Compiler:
    def __init__(self, tables: SegmentTables, now: datetime):
        self.tables = tables
        self.contacts = tables.contacts
        self.now = now

    def rule(self, rule: Rule) -> ColumnElement[bool]:
        if isinstance(rule, AllOf):
            return and_(*map(self.rule, rule.rules)) if rule.rules else true()
        if isinstance(rule, AnyOf):
            return or_(*map(self.rule, rule.rules)) if rule.rules else false()
        if isinstance(rule, Not):
            return not_(self.rule(rule.rule))
        if isinstance(rule, FieldCondition):
            return self.field(rule)
        if isinstance(rule, AttributeCondition):
            return _JsonCondition(self.contacts.c.attributes, rule, self.now).sql()
        if isinstance(rule, EventCondition):
            return self.event(rule)
        if isinstance(rule, Reachable):
            return self.reachable(rule.channel)
        if isinstance(rule, ChannelOptIn):
            return self.preference("channel", rule.channel, true(), rule.opted_in)
        if isinstance(rule, TopicSubscription):
            topics = self.tables.topics
            default = (select(topics.c.default_opt_in).where(topics.c.key == rule.topic)
                       .scalar_subquery())
            return self.preference("topic", rule.topic, default, rule.subscribed)
        raise TypeError(f"not a segment rule: {rule!r}")

    def field(self, rule: FieldCondition) -> ColumnElement[bool]:
        column, op, value = self.contacts.c[rule.field], rule.op, rule.value
        if op in NEGATED_OPS:
            return not_(self.field(FieldCondition(rule.field, NEGATED_OPS[op], value)))
        if op == "exists":
            return column.is_not(None)
        if rule.field in ("unsubscribed_all", "sms_opted_out"):
            return column if value else not_(column)
        if op == "eq":
            return and_(column.is_not(None), column == value)
        if op == "in":
            return and_(column.is_not(None), column.in_(value))
        if op == "contains":
            return and_(column.is_not(None), text_position(column, value) > 0)
        if op == "starts_with":
            return and_(column.is_not(None), func.substr(column, 1, len(value)) == value)
        # created_at: never NULL, compared as the timestamp it is.
        if op == "before":
            return column < value
        if op == "after":
            return column > value
        if op == "between":
            return column.between(*value)
        return and_(column >= days_before(self.now, value), column <= self.now)

    def event(self, rule: EventCondition) -> ColumnElement[bool]:
        events = self.tables.events
        conditions = [events.c.contact_id == self.contacts.c.id, events.c.name == rule.name]
        start = rule.since
        if rule.within_days is not None:
            start = days_before(self.now, rule.within_days)
        if start is not None:
            conditions.append(events.c.occurred_at >= start)
        conditions += [_JsonCondition(events.c.properties, where, self.now).sql()
                       for where in rule.where]
        found = select(literal_column("1")).select_from(events).where(*conditions).exists()
        bound = (rule.count.op, rule.count.value)
        if rule.did_not or bound in {("lt", 1), ("lte", 0), ("eq", 0)}:
            return not_(found)
        if bound in {("gte", 1), ("gt", 0), ("neq", 0)}:
            return found
        if bound == ("gte", 0):
            return true()
        # Counts other than "at least one" are one grouped pass over the events (on the
        # (name, occurred_at) index) rather than a COUNT per contact: id IN the contacts
        # whose count satisfies the bound, or NOT IN those whose count fails it when zero
        # events (absent from the grouping) satisfies it.
        zero_satisfies = rule.count.holds(0)
        having = _compare(func.count(), *bound)
        grouped = (select(events.c.contact_id).where(*conditions[1:])
                   .group_by(events.c.contact_id))
        if zero_satisfies:
            return self.contacts.c.id.not_in(grouped.having(not_(having)))
        return self.contacts.c.id.in_(grouped.having(having))

    def reachable(self, channel: str) -> ColumnElement[bool]:
        contacts = self.contacts
        if channel == "sms":
            return and_(contacts.c.phone.is_not(None), not_(contacts.c.sms_opted_out))
        if channel == "email":
            return contacts.c.email.is_not(None)
        if channel == "push":
            devices = self.tables.devices
            return (select(literal_column("1")).select_from(devices)
                    .where(devices.c.contact_id == contacts.c.id).exists())
        return true()

    def preference(self, kind: str, key: str, default, wanted: bool) -> ColumnElement[bool]:
        preferences = self.tables.preferences
        chosen = (select(preferences.c.opted_in)
                  .where(preferences.c.contact_id == self.contacts.c.id,
                         preferences.c.kind == kind, preferences.c.key == key)
                  .scalar_subquery())
        effective = func.coalesce(chosen, default, false())
        return effective if wanted else not_(effective)


class _JsonCondition:
    """One condition on a path in a JSON column (contact attributes or event properties)."""

    def __init__(self, document, rule: AttributeCondition, now: datetime):
        self.element = document[rule.path]
        self.kind = json_kind(document, path_param(document, rule.path))
        self.document, self.rule, self.now = document, rule, now

    def sql(self) -> ColumnElement[bool]:
        op, value = self.rule.op, self.rule.value
        if op in NEGATED_OPS:
            positive = AttributeCondition(self.rule.path, NEGATED_OPS[op], value)
            return not_(_JsonCondition(self.document, positive, self.now).sql())
        if op == "exists":
            return func.coalesce(self.kind, "null") != "null"
        return _definite(self.positive(op, value))

    def positive(self, op: str, value) -> ColumnElement:
        if op == "eq":
            return self.equals(value)
        if op == "in":
            return or_(*map(self.equals, value))
        if op == "contains":
            as_array = json.dumps([value])
            in_array = json_array_contains(self.document, path_param(self.document,
                                                                     self.rule.path),
                                           literal(value), literal(as_array),
                                           *map(literal, _sqlite_element_types(value)))
            if not isinstance(value, str):
                return in_array
            return or_(and_(self.kind == "string", text_position(self.text, value) > 0),
                       in_array)
        if op == "starts_with":
            return and_(self.kind == "string", func.substr(self.text, 1, len(value)) == value)
        if op in ("gt", "gte", "lt", "lte"):
            return _compare(self.number, op, value)
        if op == "between" and not isinstance(value[0], datetime):
            return self.number.between(*value)
        instant = self.instant()
        if op == "between":
            return instant.between(*map(instant_bound, value))
        if op == "before":
            return instant < instant_bound(value)
        if op == "after":
            return instant > instant_bound(value)
        return and_(instant >= instant_bound(days_before(self.now, value)),
                    instant <= instant_bound(self.now))

    @property
    def text(self):
        return self.element.as_string()

    @property
    def number(self):
        # Only numbers are cast: PostgreSQL would raise on CAST('abc' AS FLOAT).
        return case((self.kind == "number", self.element.as_float()))

    def equals(self, value) -> ColumnElement:
        if isinstance(value, bool):
            truth = case((self.kind == "boolean", self.element.as_boolean()))
            return truth if value else not_(truth)
        if isinstance(value, str):
            return and_(self.kind == "string", self.text == value)
        return self.number == value

    def instant(self) -> ColumnElement:
        """The attribute as an instant (see `instants`), NULL unless it is a valid one."""
        text = self.text
        length = func.length(text)

        def number_at(start: int | ColumnElement, size: int = 2) -> ColumnElement:
            return cast(func.substr(text, start, size), Integer)

        year, month, day = number_at(1, 4), number_at(6), number_at(9)
        has_offset = and_(length > 19, func.substr(text, length - 5, 1).in_(("+", "-")))
        leap = or_(and_(year % 4 == 0, year % 100 != 0), year % 400 == 0)
        month_days = case((month == 2, case((leap, 29), else_=28)),
                          (month.in_((4, 6, 9, 11)), 30), else_=31)
        # The CASEs keep each cast away from text where those positions are not digits.
        valid = and_(
            year.between(MIN_YEAR, MAX_YEAR), month.between(1, 12), day.between(1, month_days),
            case((length > 10, and_(number_at(12) <= 23, number_at(15) <= 59,
                                    number_at(18) <= 59)), else_=true()),
            case((has_offset, and_(number_at(length - 4) <= MAX_OFFSET_HOURS,
                                   number_at(length - 1) <= 59)), else_=true()),
        )
        normal = (case((length == 10, text.concat("T00:00:00")), else_=func.substr(text, 1, 19))
                  .concat(case((has_offset, func.substr(text, length - 5, 6)),
                               else_="+00:00")))
        return case((and_(self.kind == "string", has_instant_shape(text)),
                     case((valid, to_instant(normal)))))
