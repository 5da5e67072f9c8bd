"""The SQL audience equals the contacts `evaluate` accepts, on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaigns.segments import (
    ContactFacts, EventFact, SegmentRuleError, compile_to_sql, evaluate, parse_rules,
)
from tests.campaigns.segments.population import TOPIC_DEFAULTS, audience, load

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
SEGMENTS = {
    1: {"all": [{"field": "attributes.plan", "op": "eq", "value": "pro"},
                {"reachable": "email"}]},
    2: {"any": [{"segment": 1}, {"reachable": "push"}]},
}


def resolve(segment_id: int):
    return parse_rules(SEGMENTS[segment_id])


def contact(**facts) -> ContactFacts:
    facts.setdefault("external_id", "x")
    facts.setdefault("created_at", NOW - timedelta(days=3))
    facts.setdefault("topic_defaults", TOPIC_DEFAULTS)
    return ContactFacts(**facts)


def agree(engine, tables, rule_json, population) -> tuple[set[int], set[int]]:
    """(ids the SQL selects, ids evaluate accepts) for the population."""
    rule = parse_rules(rule_json)
    with engine.begin() as connection:
        ids = load(connection, tables, population)
        selected = audience(connection, tables,
                            compile_to_sql(rule, tables, now=NOW, resolve_segment=resolve))
    accepted = {contact_id for contact_id, facts in zip(ids, population)
                if evaluate(rule, facts, now=NOW, resolve_segment=resolve)}
    return selected, accepted


def attrs(value) -> ContactFacts:
    return contact(attributes={"v": value})


def recent(name, days_ago, **properties) -> EventFact:
    return EventFact(name, properties, NOW - timedelta(days=days_ago))


# (rule, contact, expected): each is checked against both evaluators on both databases.
CASES = [
    ({"field": "attributes.v", "op": "eq", "value": "pro"}, attrs("pro"), True),
    ({"field": "attributes.v", "op": "eq", "value": 1}, attrs(True), False),
    ({"field": "attributes.v", "op": "eq", "value": True}, attrs(1), False),
    ({"field": "attributes.v", "op": "eq", "value": 1}, attrs(1.0), True),
    ({"field": "attributes.v", "op": "eq", "value": "1"}, attrs(1), False),
    ({"field": "attributes.v", "op": "neq", "value": "pro"}, contact(), True),
    ({"field": "attributes.v", "op": "gt", "value": 3}, attrs("abc"), False),
    ({"field": "attributes.v", "op": "gt", "value": 3}, attrs("10"), False),
    ({"field": "attributes.v", "op": "lte", "value": 3}, attrs([1]), False),
    ({"field": "attributes.v", "op": "gte", "value": 3}, attrs(3), True),
    ({"field": "attributes.v", "op": "between", "value": [1, 2]}, attrs(1.5), True),
    ({"field": "attributes.v", "op": "in", "value": ["a", 2, False]}, attrs(False), True),
    ({"field": "attributes.v", "op": "not_in", "value": ["a", 2]}, attrs(None), True),
    ({"field": "attributes.v", "op": "contains", "value": "ho"}, attrs("shoes"), True),
    ({"field": "attributes.v", "op": "contains", "value": "HO"}, attrs("shoes"), False),
    ({"field": "attributes.v", "op": "contains", "value": "vip"}, attrs(["a", "vip"]), True),
    ({"field": "attributes.v", "op": "contains", "value": "vi"}, attrs(["a", "vip"]), False),
    ({"field": "attributes.v", "op": "contains", "value": 2}, attrs([1, 2.0]), True),
    ({"field": "attributes.v", "op": "contains", "value": True}, attrs([1]), False),
    ({"field": "attributes.v", "op": "contains", "value": "a"}, attrs([["a"]]), False),
    ({"field": "attributes.v", "op": "contains", "value": "a"}, attrs({"a": 1}), False),
    ({"field": "attributes.v", "op": "starts_with", "value": "sh"}, attrs("shoes"), True),
    ({"field": "attributes.v", "op": "exists"}, attrs(None), False),
    ({"field": "attributes.v", "op": "exists"}, attrs([]), True),
    ({"field": "attributes.v", "op": "not_exists"}, contact(), True),
    ({"field": "attributes.a.b", "op": "eq", "value": "x"},
     contact(attributes={"a": {"b": "x"}}), True),
    ({"field": "attributes.a.b", "op": "exists"}, contact(attributes={"a": "b"}), False),
    ({"field": "attributes.v", "op": "after", "value": "2026-02-01"},
     attrs("2026-02-01T00:00:01+00:00"), True),
    ({"field": "attributes.v", "op": "after", "value": "2026-02-01"},
     attrs("2026-02-01T00:30:00+01:00"), False),
    ({"field": "attributes.v", "op": "after", "value": "2026-02-01"},
     attrs("2026-02-01T00:00:00.999Z"), False),
    ({"field": "attributes.v", "op": "before", "value": "2026-03-01"}, attrs("2026-02-29"),
     False),
    ({"field": "attributes.v", "op": "before", "value": "2026-03-01"}, attrs("2024-02-29"),
     True),
    ({"field": "attributes.v", "op": "before", "value": "2026-03-01"},
     attrs("2026-02-01T24:00:00"), False),
    ({"field": "attributes.v", "op": "before", "value": "2026-03-01"},
     attrs("2026-02-01 10:00:00"), False),
    ({"field": "attributes.v", "op": "before", "value": "2026-03-01"}, attrs(20260101), False),
    ({"field": "attributes.v", "op": "before", "value": "2026-03-01"},
     attrs("2026-02-01T10:00:00+15:00"), False),
    ({"field": "attributes.v", "op": "within_last_days", "value": 7},
     attrs("2026-02-27T08:00:00-05:00"), True),
    ({"field": "attributes.v", "op": "within_last_days", "value": 7},
     attrs("2026-03-02T00:00:00Z"), False),
    ({"field": "attributes.v", "op": "between", "value": ["2026-01-01", "2026-01-31"]},
     attrs("2026-01-31"), True),
    ({"field": "email", "op": "contains", "value": "@gmail."},
     contact(email="ann@gmail.com"), True),
    ({"field": "email", "op": "neq", "value": "a@b.c"}, contact(), True),
    ({"field": "phone", "op": "starts_with", "value": "+44"}, contact(phone="+447700900000"),
     True),
    ({"field": "locale", "op": "in", "value": ["fr", "de"]}, contact(locale="de"), True),
    ({"field": "created_at", "op": "within_last_days", "value": 2}, contact(), False),
    ({"field": "created_at", "op": "after", "value": "2026-02-25"}, contact(), True),
    ({"field": "unsubscribed_all", "op": "eq", "value": True},
     contact(unsubscribed_all=True), True),
    ({"event": "viewed_product", "where": [{"property": "category", "op": "eq",
                                              "value": "shoes"}],
      "count": {"op": "gte", "value": 2}, "within_days": 7},
     contact(events=[recent("viewed_product", 1, category="shoes"),
                     recent("viewed_product", 8, category="shoes"),
                     recent("viewed_product", 2, category="hats")]), False),
    ({"event": "viewed_product", "count": {"op": "gte", "value": 2}, "within_days": 7},
     contact(events=[recent("viewed_product", 1), recent("viewed_product", 6.9)]), True),
    ({"event": "viewed_product", "count": {"op": "lt", "value": 2}},
     contact(events=[recent("viewed_product", 1)]), True),
    ({"event": "order_completed", "did_not": True, "since": "2026-02-20"},
     contact(events=[recent("order_completed", 30)]), True),
    ({"event": "order_completed", "count": {"op": "eq", "value": 0}}, contact(), True),
    ({"reachable": "sms"}, contact(phone="+15550100", sms_opted_out=True), False),
    ({"reachable": "push"}, contact(device_count=1), True),
    ({"reachable": "inapp"}, contact(), True),
    ({"channel_opt_in": "email", "value": True}, contact(), True),
    ({"channel_opt_in": "email", "value": False},
     contact(preferences={("channel", "email"): False}), True),
    ({"topic": "promotions", "subscribed": True}, contact(), True),
    ({"topic": "news", "subscribed": True}, contact(), False),
    ({"topic": "unknown", "subscribed": False}, contact(), True),
    ({"topic": "news", "subscribed": True}, contact(preferences={("topic", "news"): True}),
     True),
    ({"segment": 2}, contact(attributes={"plan": "pro"}, email="a@b.c"), True),
    ({"not": {"segment": 2}}, contact(attributes={"plan": "pro"}), True),
    ({"all": []}, contact(), True),
    ({"any": []}, contact(), False),
]


@pytest.mark.parametrize("rule, facts, expected", CASES)
def test_both_evaluators_give_the_documented_answer(segment_db, segment_tables, rule, facts,
                                                    expected):
    selected, accepted = agree(segment_db, segment_tables, rule, [facts])
    assert (len(accepted) == 1) is expected
    assert selected == accepted


def test_a_segment_cycle_is_refused_at_the_referring_path(segment_tables):
    segments = {1: {"all": [{"segment": 2}]}, 2: {"any": [{"segment": 1}]}}
    rule = parse_rules({"all": [{"reachable": "sms"}, {"segment": 1}]})
    with pytest.raises(SegmentRuleError) as raised:
        compile_to_sql(rule, segment_tables, now=NOW,
                       resolve_segment=lambda i: parse_rules(segments[i]))
    assert [issue.path for issue in raised.value.errors] == ["all[1].segment"]
    assert "1 → 2 → 1" in raised.value.errors[0].message


def test_naive_now_is_refused(segment_tables):
    with pytest.raises(ValueError):
        compile_to_sql(parse_rules({"all": []}), segment_tables, now=datetime(2026, 1, 1))


# -- the property: random rules over random populations ------------------------------------

TEXTS = ["pro", "Pro", "pr", "", "ünï", "shoes"]
DATE_TEXTS = ["2026-02-27", "2026-02-28T10:00:00Z", "2026-02-20T10:00:00.5+02:00",
              "2026-02-29", "2024-02-29T00:00:00-14:00", "2026-02-27T24:00:00",
              "2026-02-27 10:00:00", "2026-03-01T12:00:00", "2026-01-01T00:00:00+15:00",
              "2025-12-31T23:59:59.999999-00:30", "0999-01-01"]
INSTANT_SHAPES = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%f+01:00",
                  "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S-09:30"]

moments = st.datetimes(min_value=datetime(2025, 11, 1), max_value=datetime(2026, 3, 5),
                       timezones=st.just(timezone.utc))
instant_texts = st.builds(lambda moment, shape: moment.strftime(shape), moments,
                          st.sampled_from(INSTANT_SHAPES))
numbers = st.one_of(st.integers(-3, 3), st.sampled_from([0.5, 2.0, -1.5]))
scalars = st.one_of(st.sampled_from(TEXTS + DATE_TEXTS), instant_texts, numbers, st.booleans())
json_values = st.one_of(st.none(), scalars, st.lists(scalars, max_size=3),
                        st.fixed_dictionaries({"city": scalars}))
attribute_paths = st.sampled_from(["attributes.plan", "attributes.score", "attributes.tags",
                                   "attributes.nested.city", "attributes.missing"])


def condition(subject_key, subjects, op, values=st.none()):
    return st.builds(lambda subject, value: {subject_key: subject, "op": op, "value": value}
                     if op not in ("exists", "not_exists") else {subject_key: subject, "op": op},
                     subjects, values)


def value_conditions(subject_key, subjects):
    ordered_pair = lambda values: st.lists(values, min_size=2, max_size=2).map(sorted)  # noqa: E731
    return st.one_of(
        *[condition(subject_key, subjects, op, scalars) for op in ("eq", "neq", "contains")],
        *[condition(subject_key, subjects, op, st.lists(scalars, min_size=1, max_size=3))
          for op in ("in", "not_in")],
        condition(subject_key, subjects, "starts_with", st.sampled_from(TEXTS)),
        condition(subject_key, subjects, "exists"), condition(subject_key, subjects,
                                                              "not_exists"),
        *[condition(subject_key, subjects, op, numbers) for op in ("gt", "gte", "lt", "lte")],
        condition(subject_key, subjects, "between", ordered_pair(numbers)),
        condition(subject_key, subjects, "between",
                  ordered_pair(moments).map(lambda pair: [m.isoformat() for m in pair])),
        *[condition(subject_key, subjects, op, instant_texts) for op in ("before", "after")],
        condition(subject_key, subjects, "within_last_days", st.sampled_from([1, 3, 7.5, 40])),
    )


contact_fields = st.one_of(
    condition("field", st.sampled_from(["email", "phone", "locale"]), "eq",
              st.sampled_from(["a@x.io", "+1555", "fr"])),
    condition("field", st.sampled_from(["email", "locale"]), "contains", st.sampled_from(["x", "f"])),
    condition("field", st.just("locale"), "in", st.just(["fr", "de"])),
    condition("field", st.just("phone"), "exists"),
    condition("field", st.just("unsubscribed_all"), "eq", st.booleans()),
    condition("field", st.just("created_at"), "within_last_days", st.sampled_from([2, 30])),
    condition("field", st.just("created_at"), "after", instant_texts),
)


@st.composite
def event_conditions(draw):
    rule = {"event": draw(st.sampled_from(["viewed_product", "order_completed"]))}
    if draw(st.booleans()):
        rule["where"] = draw(st.lists(value_conditions("property",
                                                       st.sampled_from(["category", "price"])),
                                      max_size=2))
    window = draw(st.sampled_from(["none", "days", "since"]))
    if window == "days":
        rule["within_days"] = draw(st.sampled_from([1, 7, 30]))
    elif window == "since":
        rule["since"] = draw(instant_texts)
    if draw(st.booleans()):
        rule["did_not"] = True
    elif draw(st.booleans()):
        rule["count"] = {"op": draw(st.sampled_from(["eq", "neq", "gt", "gte", "lt", "lte"])),
                         "value": draw(st.integers(0, 3))}
    return rule


leaves = st.one_of(
    value_conditions("field", attribute_paths), contact_fields, event_conditions(),
    st.builds(lambda channel: {"reachable": channel},
              st.sampled_from(["sms", "email", "push", "inapp"])),
    st.builds(lambda channel, value: {"channel_opt_in": channel, "value": value},
              st.sampled_from(["sms", "email"]), st.booleans()),
    st.builds(lambda topic, value: {"topic": topic, "subscribed": value},
              st.sampled_from(["promotions", "news", "unknown"]), st.booleans()),
    st.builds(lambda segment: {"segment": segment}, st.sampled_from([1, 2])),
)
rules = st.recursive(leaves, lambda children: st.one_of(
    st.lists(children, max_size=3).map(lambda items: {"all": items}),
    st.lists(children, max_size=3).map(lambda items: {"any": items}),
    children.map(lambda item: {"not": item}),
), max_leaves=6)

events = st.builds(EventFact, st.sampled_from(["viewed_product", "order_completed"]),
                   st.dictionaries(st.sampled_from(["category", "price"]), json_values,
                                   max_size=2),
                   moments)
contacts = st.builds(
    contact,
    email=st.sampled_from([None, "a@x.io", "b@y.io"]),
    phone=st.sampled_from([None, "+1555"]),
    locale=st.sampled_from([None, "fr", "de"]),
    created_at=moments,
    attributes=st.dictionaries(st.sampled_from(["plan", "score", "tags", "nested"]),
                               json_values, max_size=3),
    events=st.lists(events, max_size=4),
    device_count=st.integers(0, 1),
    preferences=st.dictionaries(st.sampled_from([("channel", "sms"), ("channel", "email"),
                                                 ("topic", "promotions"), ("topic", "news")]),
                                st.booleans(), max_size=2),
    sms_opted_out=st.booleans(),
    unsubscribed_all=st.booleans(),
)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(rule=rules, population=st.lists(contacts, max_size=5))
def test_sql_audience_equals_the_contacts_evaluate_accepts(segment_db, segment_tables, rule,
                                                           population):
    selected, accepted = agree(segment_db, segment_tables, rule, population)
    assert selected == accepted
