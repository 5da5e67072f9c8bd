from hypothesis import given, settings
from hypothesis import strategies as st

from channels import status
from channels.status import RANK, STATUSES, advance, apply, may_requeue, rank
from channels.twilio_sms import TWILIO_STATUS_MAP

CALLBACKS = sorted(s for s in STATUSES if rank(s) >= rank(status.SENT) and s not in status.DECIDED_OUT)


def test_late_and_duplicate_callbacks_never_regress():
    assert advance("sent", "delivered")
    assert not advance("opened", "delivered")
    assert not advance("delivered", "failed")
    assert advance("sent", "failed")
    assert not advance("delivered", "delivered")
    assert advance("failed", "delivered")  # the provider's later word that it arrived wins
    assert apply("queued", ["sending", "sent", "clicked", "opened", "delivered", "failed"]) == "clicked"


def test_decisions_out_only_before_sending_and_final():
    assert advance("queued", "suppressed") and advance("deferred", "skipped")
    assert not advance("sending", "suppressed")
    assert not advance("sent", "skipped")
    for later in STATUSES:
        assert not advance("suppressed", later)
        assert not advance("skipped", later)


def test_requeue_only_before_the_provider_took_it():
    assert may_requeue("sending") and may_requeue("queued") and may_requeue("deferred")
    assert not may_requeue("sent")
    assert not may_requeue("failed")
    assert not may_requeue("suppressed")


@settings(max_examples=100)
@given(start=st.sampled_from(sorted(STATUSES)), updates=st.lists(st.sampled_from(sorted(STATUSES)), max_size=12))
def test_any_sequence_never_lowers_rank(start, updates):
    current = start
    for new in updates:
        before = current
        current = apply(current, [new])
        assert rank(current) >= rank(before)
        assert apply(current, [new]) == current  # applying the same update twice is a no-op


@settings(max_examples=100)
@given(updates=st.lists(st.sampled_from(CALLBACKS), min_size=1, max_size=10), data=st.data())
def test_callbacks_in_any_order_reach_the_same_rank(updates, data):
    shuffled = data.draw(st.permutations(updates))
    final = apply("sent", updates)
    assert rank(apply("sent", shuffled)) == rank(final) == max(rank(u) for u in updates + ["sent"])


def test_twilio_statuses_map_into_the_machine():
    for twilio_status, chorus in TWILIO_STATUS_MAP.items():
        assert chorus is None or chorus in RANK, twilio_status
    assert TWILIO_STATUS_MAP["delivered"] == "delivered"
    assert TWILIO_STATUS_MAP["undelivered"] == "undelivered"
    assert TWILIO_STATUS_MAP["read"] == "opened"
    assert TWILIO_STATUS_MAP["received"] is None
