from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.conversions import Goal, GoalError, Send, attribute, tally
from campaigns.events import Event

UTC = timezone.utc
T0 = datetime(2024, 6, 12, 10, 0, tzinfo=UTC)
PURCHASE = Goal("order_completed", ({"property": "total", "op": "gte", "value": 20},), window_hours=24)


def at(hours):
    return T0 + timedelta(hours=hours)


def order(hours, total=30):
    return Event("order_completed", at(hours), {"total": total})


def test_last_touch_within_the_window_gets_the_credit():
    sends = [Send(at(0), "spring", "a", "email"), Send(at(2), "spring", "a", "push"), Send(at(5), "spring", "a", "sms")]
    [conversion] = attribute(sends, [order(3)], PURCHASE)
    assert conversion.send.channel == "push"
    assert conversion.event.occurred_at == at(3)


def test_events_outside_the_window_or_before_any_send_do_not_convert():
    sends = [Send(at(0), "spring", "a", "email")]
    assert attribute(sends, [order(-1)], PURCHASE) == []
    assert attribute(sends, [order(24.01)], PURCHASE) == []
    assert len(attribute(sends, [order(24)], PURCHASE)) == 1  # window end counts
    assert len(attribute(sends, [order(0)], PURCHASE)) == 1  # same instant counts


def test_goal_filter_and_name_must_match():
    sends = [Send(at(0), "spring", "a", "email")]
    assert attribute(sends, [order(1, total=5)], PURCHASE) == []
    assert attribute(sends, [Event("cart_updated", at(1), {"total": 99})], PURCHASE) == []


def test_one_event_converts_once_per_campaign_but_may_convert_for_two_campaigns():
    sends = [
        Send(at(0), "spring", "a", "email"),
        Send(at(1), "spring", "a", "sms"),
        Send(at(2), "welcome", None, "push"),
    ]
    conversions = attribute(sends, [order(3)], PURCHASE)
    assert [(c.send.campaign_id, c.send.channel) for c in conversions] == [("spring", "sms"), ("welcome", "push")]


def test_two_orders_are_two_conversions_each_with_its_own_last_touch():
    sends = [Send(at(0), "spring", "a", "email"), Send(at(10), "spring", "a", "sms")]
    conversions = attribute(sends, [order(12), order(5)], PURCHASE)
    assert [(c.event.occurred_at, c.send.channel) for c in conversions] == [(at(5), "email"), (at(12), "sms")]
    assert tally(conversions) == {("spring", "a", "email"): 1, ("spring", "a", "sms"): 1}


def test_simultaneous_sends_credit_the_later_in_input_order():
    sends = [Send(at(0), "spring", "a", "email", message_id=1), Send(at(0), "spring", "a", "sms", message_id=2)]
    [conversion] = attribute(sends, [order(1)], PURCHASE)
    assert conversion.send.message_id == 2


def test_holdout_records_convert_by_the_same_rule():
    [conversion] = attribute([Send(at(0), "spring", "holdout")], [order(2)], PURCHASE)
    assert conversion.send.variant == "holdout" and conversion.send.channel is None


@pytest.mark.parametrize(
    "raw, field",
    [
        ({"event_name": ""}, "event_name"),
        ({"event_name": "x", "window_hours": 0}, "window_hours"),
        ({"event_name": "x", "window_hours": "24"}, "window_hours"),
        ({"event_name": "x", "where": [{"property": "a", "op": "nope"}]}, "where"),
    ],
)
def test_bad_goals_are_refused(raw, field):
    with pytest.raises(GoalError) as caught:
        Goal.from_dict(raw)
    assert caught.value.field == field


def test_goal_round_trip():
    assert Goal.from_dict(PURCHASE.to_dict()) == PURCHASE


hours = st.floats(-48, 96, allow_nan=False).map(lambda h: round(h, 2))


@settings(max_examples=80, deadline=None)
@given(
    sends=st.lists(st.tuples(hours, st.sampled_from(["c1", "c2"]), st.sampled_from(["email", "sms"])), max_size=8),
    events=st.lists(hours, max_size=5),
)
def test_attribution_invariants(sends, events):
    send_rows = [Send(at(h), c, "a", ch) for h, c, ch in sends]
    event_rows = [order(h) for h in events]
    conversions = attribute(send_rows, event_rows, PURCHASE)
    seen = set()
    for c in conversions:
        lag = c.event.occurred_at - c.send.sent_at
        assert timedelta(0) <= lag <= PURCHASE.window
        # No later send of the same campaign was also in the window before the event.
        assert not any(
            s.campaign_id == c.send.campaign_id and c.send.sent_at < s.sent_at <= c.event.occurred_at for s in send_rows
        )
        seen.add((id(c.event), c.send.campaign_id))  # equal events at one instant are still two
    assert len(seen) == len(conversions)  # once per (event, campaign)
    for event in event_rows:
        for campaign in ("c1", "c2"):
            reachable = any(
                s.campaign_id == campaign and timedelta(0) <= event.occurred_at - s.sent_at <= PURCHASE.window
                for s in send_rows
            )
            assert reachable == any(c.event is event and c.send.campaign_id == campaign for c in conversions)
