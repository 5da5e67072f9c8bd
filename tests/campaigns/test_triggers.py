from datetime import datetime, timedelta, timezone

import pytest

from campaigns.events import Event
from campaigns.triggers import (
    EventMatch,
    Reentry,
    TriggerError,
    TriggerRule,
    due_at,
    matches,
    should_enter,
    should_exit,
)

UTC = timezone.utc
T0 = datetime(2024, 6, 12, 10, 0, tzinfo=UTC)

CART_ABANDONMENT = TriggerRule.from_dict(
    {
        "event_name": "cart_updated",
        "where": [{"property": "cart.total", "op": "gt", "value": 0}],
        "delay_seconds": 3600,
        "exit_event": {"name": "order_completed"},
        "reentry": {"every_days": 1},
    }
)


def test_cart_abandonment_sends_an_hour_later_unless_the_order_completed():
    assert matches(CART_ABANDONMENT, "cart_updated", {"cart": {"total": 59.9}})
    assert should_enter(CART_ABANDONMENT, [], T0)
    assert due_at(CART_ABANDONMENT, T0) == T0 + timedelta(hours=1)

    browsing = [Event("page_viewed", T0 + timedelta(minutes=5), {"path": "/cart"})]
    assert not should_exit(CART_ABANDONMENT, browsing, entered_at=T0)
    bought = browsing + [Event("order_completed", T0 + timedelta(minutes=20), {"total": 59.9})]
    assert should_exit(CART_ABANDONMENT, bought, entered_at=T0)


def test_an_order_before_the_entry_does_not_exit_it():
    earlier = [Event("order_completed", T0 - timedelta(minutes=1))]
    assert not should_exit(CART_ABANDONMENT, earlier, entered_at=T0)
    assert should_exit(CART_ABANDONMENT, earlier)  # without entered_at the caller already filtered


def test_trigger_filters_and_name_must_both_match():
    assert not matches(CART_ABANDONMENT, "cart_updated", {"cart": {"total": 0}})
    assert not matches(CART_ABANDONMENT, "cart_updated", {})
    assert not matches(CART_ABANDONMENT, "cart_viewed", {"cart": {"total": 10}})
    assert matches(TriggerRule("signed_up"), "signed_up", None)


def test_exit_event_with_filters():
    rule = TriggerRule("trial_started", exit_event=EventMatch("plan_changed", ({"property": "plan", "op": "neq", "value": "trial"},)))
    assert not should_exit(rule, [Event("plan_changed", T0, {"plan": "trial"})])
    assert should_exit(rule, [Event("plan_changed", T0, {"plan": "pro"})])
    assert not should_exit(TriggerRule("signed_up"), [Event("anything", T0)])


@pytest.mark.parametrize(
    "reentry, previous, now, expected",
    [
        ("once", [], T0, True),
        ("once", [T0 - timedelta(days=300)], T0, False),
        ("every_time", [T0 - timedelta(seconds=1)], T0, True),
        ({"every_days": 7}, [T0 - timedelta(days=8), T0 - timedelta(days=6, hours=23)], T0, False),
        ({"every_days": 7}, [T0 - timedelta(days=30), T0 - timedelta(days=7)], T0, True),
        ({"every_days": 7}, [], T0, True),
    ],
)
def test_reentry_rules(reentry, previous, now, expected):
    assert should_enter(TriggerRule("x", reentry=reentry), previous, now) is expected


def test_rules_round_trip_through_json():
    assert TriggerRule.from_dict(CART_ABANDONMENT.to_dict()) == CART_ABANDONMENT
    assert CART_ABANDONMENT.to_dict()["reentry"] == {"every_days": 1}
    assert TriggerRule("x").to_dict() == {"event_name": "x", "where": [], "delay_seconds": 0, "exit_event": None, "reentry": "once"}
    assert Reentry.parse("every_time").to_json() == "every_time"


@pytest.mark.parametrize(
    "raw, field",
    [
        ({"event_name": ""}, "event_name"),
        ({"event_name": "x", "delay_seconds": -1}, "delay_seconds"),
        ({"event_name": "x", "delay_seconds": 1.5}, "delay_seconds"),
        ({"event_name": "x", "where": [{"property": "a", "op": "like"}]}, "where"),
        ({"event_name": "x", "exit_event": {"name": ""}}, "exit_event"),
        ({"event_name": "x", "exit_event": {"name": "y", "where": [{"op": "eq"}]}}, "exit_event"),
        ({"event_name": "x", "reentry": "sometimes"}, "reentry"),
        ({"event_name": "x", "reentry": {"every_days": 0}}, "reentry"),
        ({"event_name": "x", "reentry": {"every_hours": 3}}, "reentry"),
        ({"event_name": "x", "colour": "red"}, "trigger"),
    ],
)
def test_bad_rules_are_refused_naming_the_field(raw, field):
    with pytest.raises(TriggerError) as caught:
        TriggerRule.from_dict(raw)
    assert caught.value.field == field
