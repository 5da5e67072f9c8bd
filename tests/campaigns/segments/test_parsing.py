from datetime import datetime, timezone

import pytest

from campaigns.segments import (
    AllOf, AnyOf, AttributeCondition, ChannelOptIn, CountBound, EventCondition, FieldCondition,
    Not, Reachable, SegmentMembership, SegmentRuleError, TopicSubscription, parse_rules,
)
from campaigns.segments.rules import MAX_DEPTH, MAX_NODES


def issues(data) -> dict[str, str]:
    with pytest.raises(SegmentRuleError) as raised:
        parse_rules(data)
    return {issue.path: issue.message for issue in raised.value.errors}


def test_the_issue_example_parses_into_the_typed_tree():
    rule = parse_rules({"all": [
        {"field": "attributes.plan", "op": "eq", "value": "pro"},
        {"any": [{"field": "email", "op": "exists"}]},
        {"not": {"field": "created_at", "op": "within_last_days", "value": 30}},
        {"event": "viewed_product", "where": [{"property": "category", "op": "eq",
                                                 "value": "shoes"}],
         "count": {"op": "gte", "value": 2}, "within_days": 7},
        {"event": "order_completed", "did_not": True, "since": "2026-01-01T00:00:00Z"},
        {"reachable": "sms"}, {"topic": "promotions", "subscribed": True},
        {"channel_opt_in": "email", "value": True}, {"segment": 12},
    ]})
    assert rule == AllOf((
        AttributeCondition(("plan",), "eq", "pro"),
        AnyOf((FieldCondition("email", "exists"),)),
        Not(FieldCondition("created_at", "within_last_days", 30)),
        EventCondition("viewed_product", (AttributeCondition(("category",), "eq", "shoes"),),
                       CountBound("gte", 2), within_days=7),
        EventCondition("order_completed", since=datetime(2026, 1, 1, tzinfo=timezone.utc),
                       did_not=True),
        Reachable("sms"), TopicSubscription("promotions", True), ChannelOptIn("email", True),
        SegmentMembership(12),
    ))


def test_every_problem_is_reported_with_its_path():
    found = issues({"all": [
        {"field": "attributes.plan", "op": "equals", "value": "pro"},
        {"any": [{"field": "email", "op": "gt", "value": 3}, {"reachable": "fax"}]},
        {"event": "x", "count": {"op": "gte", "value": -1}, "did_not": True,
         "within_days": 7, "since": "yesterday"},
        {"field": "attributes.age", "op": "between", "value": [9, 1]},
        {"field": "attributes.tags", "op": "in", "value": []},
        {"field": "attributes.a..b", "op": "exists"},
        {"field": "attributes.items.0", "op": "exists"},
        {"field": "created_at", "op": "eq", "value": "2026-01-01"},
        {"topic": "news", "extra": 1},
        "nonsense",
        {"segment": True},
    ]})
    assert set(found) == {
        "all[0].op", "all[1].any[0].op", "all[1].any[1].reachable", "all[2].count",
        "all[2].count.value", "all[2]", "all[2].since", "all[3].value", "all[4].value",
        "all[5].field", "all[6].field", "all[7].op", "all[8].extra", "all[9]",
        "all[10].segment",
    }
    assert "unknown op 'equals'" in found["all[0].op"]
    assert "did_not" in found["all[2].count"]


def test_values_are_checked_against_the_op():
    found = issues({"any": [
        {"field": "attributes.a", "op": "gt", "value": "3"},
        {"field": "attributes.a", "op": "exists", "value": 1},
        {"field": "attributes.a", "op": "before", "value": "2026-02-30"},
        {"field": "attributes.a", "op": "within_last_days", "value": 0},
        {"field": "attributes.a", "op": "eq", "value": None},
        {"field": "attributes.a", "op": "eq"},
        {"field": "phone", "op": "eq", "value": 44},
        {"field": "sms_opted_out", "op": "eq", "value": "yes"},
    ]})
    assert set(found) == {f"any[{index}].value" for index in range(8)}


def test_a_rule_needs_exactly_one_kind():
    assert "found all, any" in issues({"all": [], "any": []})["$"]
    assert "found none" in issues({})["$"]


def test_depth_and_size_are_bounded():
    deep: dict = {"reachable": "sms"}
    for _ in range(MAX_DEPTH):
        deep = {"not": deep}
    assert "nested too deeply" in next(iter(issues(deep).values()))
    wide = {"any": [{"reachable": "sms"}] * MAX_NODES}
    found = issues(wide)
    assert list(found) == [f"any[{MAX_NODES - 1}]"]
    parse_rules({"any": [{"reachable": "sms"}] * (MAX_NODES - 1)})


def test_issues_serialise_for_a_problem_document():
    with pytest.raises(SegmentRuleError) as raised:
        parse_rules({"not": {"reachable": "fax"}})
    assert raised.value.as_dicts() == [
        {"path": "not.reachable", "message": "must be one of sms, email, push, inapp"}]
