from datetime import datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns import timezones
from campaigns.decisions import (
    CAPPED,
    DEFER,
    NO_ADDRESS,
    OPTED_OUT,
    QUIET_HOURS_DEFERRED,
    SEND,
    SKIP,
    SMS_OPTED_OUT,
    TOPIC_OPTED_OUT,
    UNSUBSCRIBED,
    FrequencyCap,
    PolicyError,
    QuietHours,
    RecentSends,
    Recipient,
    SendPolicy,
    cap_windows,
    decide,
    decide_channel,
    next_fallback,
)

UTC = timezone.utc
NOON_UTC = datetime(2024, 6, 12, 12, 0, tzinfo=UTC)
EVENING = QuietHours(time(21, 0), time(8, 0))
ZONES = ["UTC", "America/New_York", "Pacific/Auckland", "Asia/Kolkata", "Europe/London", "Australia/Lord_Howe"]


def everyone(**overrides):
    fields = dict(
        contact_id=7,
        email="ada@example.com",
        phone="+15551234567",
        push_tokens=["tok-1"],
        timezone="UTC",
    )
    fields.update(overrides)
    return Recipient(**fields)


def actions(result):
    return {d.channel: (d.action, d.reason) for d in result.decisions}


def test_reachable_marketing_contact_gets_every_channel_with_strategy_all():
    result = decide(everyone(), SendPolicy(channels=("push", "email", "sms", "inapp")), None, NOON_UTC)
    assert result.attempt == ("push", "email", "sms", "inapp")
    assert result.fallback == () and result.deferred == ()
    assert all(d.action == SEND for d in result.decisions)


def test_missing_addresses_are_skipped_as_no_address_but_inapp_is_always_reachable():
    recipient = everyone(email=None, phone="", push_tokens=[])
    result = decide(recipient, SendPolicy(channels=("push", "email", "sms", "inapp")), None, NOON_UTC)
    assert actions(result) == {
        "push": (SKIP, NO_ADDRESS),
        "email": (SKIP, NO_ADDRESS),
        "sms": (SKIP, NO_ADDRESS),
        "inapp": (SEND, None),
    }
    assert result.attempt == ("inapp",)


@pytest.mark.parametrize(
    "recipient, channel, marketing_reason, transactional_reason",
    [
        (everyone(unsubscribed_all=True), "email", UNSUBSCRIBED, None),
        (everyone(sms_opted_out=True), "sms", SMS_OPTED_OUT, SMS_OPTED_OUT),
        (everyone(channel_opt_ins={"email": False}), "email", OPTED_OUT, OPTED_OUT),
        (everyone(channel_opt_ins={"push": False}), "push", OPTED_OUT, OPTED_OUT),
        (everyone(channel_opt_ins={"email": True}), "email", None, None),
        (everyone(topic_opt_ins={"deals": False}), "email", TOPIC_OPTED_OUT, None),
        (everyone(unsubscribed_all=True, channel_opt_ins={"sms": False}), "sms", UNSUBSCRIBED, OPTED_OUT),
    ],
)
def test_consent_rules_by_category(recipient, channel, marketing_reason, transactional_reason):
    for category, reason in (("marketing", marketing_reason), ("transactional", transactional_reason)):
        policy = SendPolicy(category=category, channels=(channel,), topic="deals")
        decision = decide(recipient, policy, None, NOON_UTC).for_channel(channel)
        if reason is None:
            assert decision.action == SEND, category
        else:
            assert (decision.action, decision.reason) == (SKIP, reason), category


def test_topic_default_applies_when_the_contact_has_no_preference():
    policy = SendPolicy(channels=("email",), topic="digest", topic_default_opt_in=False)
    assert decide(everyone(), policy, None, NOON_UTC).for_channel("email").reason == TOPIC_OPTED_OUT
    opted_in = everyone(topic_opt_ins={"digest": True})
    assert decide(opted_in, policy, None, NOON_UTC).attempt == ("email",)


def test_first_strategy_picks_first_reachable_only():
    policy = SendPolicy(channels=("push", "sms", "email"), strategy="first")
    result = decide(everyone(push_tokens=[]), policy, None, NOON_UTC)
    assert result.attempt == ("sms",)
    assert result.fallback == ()
    assert result.for_channel("email").action == SEND  # eligible, just not picked


def test_fallback_strategy_keeps_the_other_reachable_channels_in_order():
    policy = SendPolicy(channels=("push", "sms", "email", "inapp"), strategy="fallback")
    result = decide(everyone(sms_opted_out=True), policy, None, NOON_UTC)
    assert result.attempt == ("push",)
    assert result.fallback == ("email", "inapp")


def test_next_fallback_walks_the_list_passing_over_attempted_channels():
    chain = ("email", "sms", "inapp")
    assert next_fallback(chain, attempted={"push"}, failed_channel="push") == "email"
    assert next_fallback(chain, attempted={"push", "email"}, failed_channel="email") == "sms"
    assert next_fallback(chain, attempted={"push", "email", "sms"}, failed_channel="sms") == "inapp"
    assert next_fallback(chain, attempted={"email", "sms", "inapp"}, failed_channel="inapp") is None
    assert next_fallback((), attempted=(), failed_channel="push") is None


def test_quiet_hours_defer_marketing_to_the_end_of_the_window_in_local_time():
    policy = SendPolicy(channels=("push", "email"), quiet_hours=EVENING)
    # 03:00 UTC is 23:00 the previous evening in New York (EDT, UTC-4).
    now = datetime(2024, 6, 12, 3, 0, tzinfo=UTC)
    result = decide(everyone(timezone="America/New_York"), policy, None, now)
    assert result.attempt == ()
    assert [d.channel for d in result.deferred] == ["push", "email"]
    push = result.for_channel("push")
    assert push.reason == QUIET_HOURS_DEFERRED
    assert push.until == datetime(2024, 6, 12, 12, 0, tzinfo=UTC)  # 08:00 EDT


def test_quiet_hours_before_midnight_end_the_next_morning_and_after_midnight_the_same_morning():
    tz = timezones.zone("Asia/Kolkata")  # UTC+05:30, no DST
    late = datetime(2024, 1, 10, 17, 0, tzinfo=UTC)  # 22:30 IST
    early = datetime(2024, 1, 10, 0, 0, tzinfo=UTC)  # 05:30 IST
    assert EVENING.defer_until(late, tz) == datetime(2024, 1, 11, 2, 30, tzinfo=UTC)
    assert EVENING.defer_until(early, tz) == datetime(2024, 1, 10, 2, 30, tzinfo=UTC)
    assert EVENING.defer_until(datetime(2024, 1, 10, 6, 0, tzinfo=UTC), tz) is None


def test_quiet_hours_that_do_not_wrap_midnight():
    lunch = QuietHours(time(12, 0), time(13, 30))
    tz = timezones.zone("UTC")
    assert lunch.defer_until(NOON_UTC, tz) == NOON_UTC.replace(hour=13, minute=30)
    assert lunch.defer_until(NOON_UTC.replace(hour=13, minute=30), tz) is None


def test_quiet_hours_end_across_spring_forward_is_the_local_end_in_the_new_offset():
    tz = timezones.zone("America/New_York")
    # 2024-03-10: clocks jump 02:00 EST -> 03:00 EDT. 23:00 EST on the 9th is 04:00 UTC.
    until = EVENING.defer_until(datetime(2024, 3, 10, 4, 0, tzinfo=UTC), tz)
    assert until == datetime(2024, 3, 10, 12, 0, tzinfo=UTC)  # 08:00 EDT
    assert timezones.local(until, tz).time() == time(8, 0)


def test_quiet_hours_ending_inside_a_dst_gap_end_when_the_shifted_time_arrives():
    tz = timezones.zone("America/New_York")
    window = QuietHours(time(1, 0), time(2, 30))
    until = window.defer_until(datetime(2024, 3, 10, 6, 15, tzinfo=UTC), tz)  # 01:15 EST
    assert until == datetime(2024, 3, 10, 7, 30, tzinfo=UTC)  # 03:30 EDT


def test_quiet_hours_in_the_repeated_hour_end_at_the_occurrence_still_ahead():
    tz = timezones.zone("America/New_York")
    window = QuietHours(time(0, 30), time(1, 30))
    # 2024-11-03: 01:00-02:00 happens twice. 06:10 UTC is 01:10 EST, the second time round,
    # after 01:30 EDT (05:30 UTC) has already passed.
    until = window.defer_until(datetime(2024, 11, 3, 6, 10, tzinfo=UTC), tz)
    assert until == datetime(2024, 11, 3, 6, 30, tzinfo=UTC)


def test_quiet_hours_can_cover_only_some_channels():
    buzzing = QuietHours(time(21, 0), time(8, 0), channels={"sms", "push"})
    policy = SendPolicy(channels=("push", "email"), quiet_hours=buzzing)
    result = decide(everyone(), policy, None, datetime(2024, 6, 12, 23, 0, tzinfo=UTC))
    assert result.attempt == ("email",)
    assert [d.channel for d in result.deferred] == ["push"]


def test_unknown_contact_zone_falls_back_to_the_policy_default():
    policy = SendPolicy(channels=("email",), quiet_hours=EVENING, default_timezone="Asia/Kolkata")
    now = datetime(2024, 6, 12, 17, 0, tzinfo=UTC)  # 22:30 IST, 17:00 UTC
    assert decide(everyone(timezone="Mars/Olympus"), policy, None, now).deferred
    assert decide(everyone(timezone=None), policy, None, now).deferred
    assert decide(everyone(timezone="UTC"), policy, None, now).attempt == ("email",)


def test_respect_quiet_hours_off_sends_at_night():
    policy = SendPolicy(channels=("email",), quiet_hours=EVENING, respect_quiet_hours=False)
    assert decide(everyone(), policy, None, datetime(2024, 6, 12, 23, 0, tzinfo=UTC)).attempt == ("email",)


def test_cross_channel_cap_counts_recent_sends_and_this_decisions_sends():
    policy = SendPolicy(
        channels=("push", "email", "sms"), frequency_caps=[FrequencyCap(2, 86400)]
    )
    recent = RecentSends(times={"email": [NOON_UTC - timedelta(hours=3)]})
    result = decide(everyone(), policy, recent, NOON_UTC)
    assert actions(result) == {"push": (SEND, None), "email": (SKIP, CAPPED), "sms": (SKIP, CAPPED)}


def test_cap_window_forgets_old_sends():
    policy = SendPolicy(channels=("email",), frequency_caps=[FrequencyCap(1, 3600)])
    old = RecentSends(times={"email": [NOON_UTC - timedelta(hours=1)]})
    fresh = RecentSends(times={"email": [NOON_UTC - timedelta(minutes=59)]})
    assert decide(everyone(), policy, old, NOON_UTC).attempt == ("email",)
    assert decide(everyone(), policy, fresh, NOON_UTC).for_channel("email").reason == CAPPED


def test_per_channel_cap_only_counts_that_channel():
    policy = SendPolicy(channels=("sms", "email"), frequency_caps=[FrequencyCap(1, 86400, per_channel=True)])
    recent = RecentSends(times={"sms": [NOON_UTC - timedelta(hours=1)]})
    result = decide(everyone(), policy, recent, NOON_UTC)
    assert actions(result) == {"sms": (SKIP, CAPPED), "email": (SEND, None)}


def test_precounted_sends_from_counters_are_used_as_given():
    policy = SendPolicy(channels=("email",), frequency_caps=[FrequencyCap(3, 604800)])
    assert cap_windows(policy) == {(None, 604800)}
    assert decide(everyone(), policy, RecentSends(counts={(None, 604800): 3}), NOON_UTC).attempt == ()
    assert decide(everyone(), policy, RecentSends(counts={(None, 604800): 2}), NOON_UTC).attempt == ("email",)


def test_fallback_channels_are_judged_as_alternatives_not_extra_sends():
    policy = SendPolicy(channels=("push", "email"), strategy="fallback", frequency_caps=[FrequencyCap(1, 86400)])
    result = decide(everyone(), policy, None, NOON_UTC)
    assert result.attempt == ("push",) and result.fallback == ("email",)
    # Once push failed, the email is judged on its own (push did not reach the person).
    assert decide_channel(everyone(), policy, "email", None, NOON_UTC).action == SEND


def test_capped_first_channel_moves_strategy_first_to_the_next_channel():
    policy = SendPolicy(
        channels=("sms", "email"), strategy="first", frequency_caps=[FrequencyCap(1, 86400, per_channel=True)]
    )
    recent = RecentSends(times={"sms": [NOON_UTC - timedelta(minutes=5)]})
    assert decide(everyone(), policy, recent, NOON_UTC).attempt == ("email",)


def test_transactional_ignores_caps_quiet_hours_and_topics():
    policy = SendPolicy(
        category="transactional",
        channels=("sms",),
        topic="deals",
        quiet_hours=EVENING,
        frequency_caps=[FrequencyCap(0, 86400)],
    )
    recipient = everyone(topic_opt_ins={"deals": False}, unsubscribed_all=True)
    result = decide(recipient, policy, RecentSends(counts={(None, 86400): 99}), datetime(2024, 6, 12, 23, tzinfo=UTC))
    assert result.attempt == ("sms",)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(category="promo"), "category"),
        (dict(strategy="random"), "strategy"),
        (dict(channels=()), "channels"),
        (dict(channels=("fax",)), "channels"),
        (dict(channels=("sms", "sms")), "channels"),
        (dict(default_timezone="Nowhere/Land"), "default_timezone"),
    ],
)
def test_bad_policies_are_rejected_naming_the_field(kwargs, field):
    with pytest.raises(PolicyError) as caught:
        SendPolicy(**kwargs)
    assert caught.value.field == field


def test_bad_quiet_hours_and_caps_are_rejected():
    with pytest.raises(PolicyError):
        QuietHours(time(8), time(8))
    with pytest.raises(PolicyError):
        QuietHours(time(21), time(8), channels={"fax"})
    with pytest.raises(PolicyError):
        FrequencyCap(1, 0)
    with pytest.raises(PolicyError):
        FrequencyCap(-1, 60)


def test_naive_now_is_refused():
    with pytest.raises(ValueError):
        decide(everyone(), SendPolicy(), None, datetime(2024, 1, 1))


# --- invariants -------------------------------------------------------------------------

moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)
wall_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
quiet_windows = st.tuples(wall_times, wall_times).filter(lambda w: w[0] != w[1]).map(lambda w: QuietHours(*w))
channel_orders = st.permutations(["sms", "push", "email", "inapp"]).flatmap(
    lambda order: st.integers(1, 4).map(lambda n: tuple(order[:n]))
)
recipients = st.builds(
    Recipient,
    contact_id=st.integers(1, 10**9),
    email=st.sampled_from([None, "a@example.com"]),
    phone=st.sampled_from([None, "+15551234567"]),
    push_tokens=st.sampled_from([(), ("t",)]),
    sms_opted_out=st.booleans(),
    unsubscribed_all=st.booleans(),
    channel_opt_ins=st.dictionaries(st.sampled_from(["sms", "push", "email", "inapp"]), st.booleans()),
    topic_opt_ins=st.dictionaries(st.just("deals"), st.booleans()),
    timezone=st.sampled_from(ZONES + [None]),
)


@settings(max_examples=60, deadline=None)
@given(now=moments, zone_name=st.sampled_from(ZONES), window=quiet_windows)
def test_quiet_hours_defer_always_lands_outside_the_window_and_within_a_day(now, zone_name, window):
    tz = timezones.zone(zone_name)
    until = window.defer_until(now, tz)
    if until is None:
        assert not window.contains(timezones.local(now, tz).time())
    else:
        assert window.contains(timezones.local(now, tz).time())
        assert now < until <= now + timedelta(hours=26)
        assert not window.contains(timezones.local(until, tz).time())


@settings(max_examples=60, deadline=None)
@given(
    recipient=recipients,
    channels=channel_orders,
    strategy=st.sampled_from(["all", "first", "fallback"]),
    window=quiet_windows,
    now=moments,
    sent=st.integers(0, 5),
)
def test_transactional_is_never_capped_deferred_or_topic_skipped(recipient, channels, strategy, window, now, sent):
    policy = SendPolicy(
        category="transactional",
        channels=channels,
        strategy=strategy,
        topic="deals",
        quiet_hours=window,
        frequency_caps=[FrequencyCap(1, 3600), FrequencyCap(1, 3600, per_channel=True)],
    )
    recent = RecentSends(times={c: [now - timedelta(minutes=1)] * sent for c in channels})
    result = decide(recipient, policy, recent, now)
    for decision in result.decisions:
        assert decision.action != DEFER
        assert decision.reason not in (CAPPED, TOPIC_OPTED_OUT, UNSUBSCRIBED)
        # A hard opt-out of the channel still wins.
        if recipient.channel_opt_ins.get(decision.channel) is False:
            assert decision.action == SKIP


@settings(max_examples=60, deadline=None)
@given(
    recipient=recipients,
    channels=channel_orders,
    strategy=st.sampled_from(["all", "first", "fallback"]),
    with_window=st.booleans(),
    window=quiet_windows,
    now=moments,
)
def test_strategy_shapes_the_result(recipient, channels, strategy, with_window, window, now):
    policy = SendPolicy(channels=channels, strategy=strategy, quiet_hours=window if with_window else None)
    result = decide(recipient, policy, None, now)
    assert tuple(d.channel for d in result.decisions) == channels
    eligible = [d.channel for d in result.decisions if d.eligible]
    picked = list(result.attempt) + [d.channel for d in result.deferred]
    if strategy == "all":
        assert sorted(picked) == sorted(eligible)
    else:
        assert picked == eligible[:1]
    if strategy == "fallback":
        assert list(result.fallback) == eligible[1:]
    else:
        assert result.fallback == ()
    for decision in result.decisions:
        if decision.action == SKIP and decision.reason == NO_ADDRESS:
            assert recipient.address(decision.channel) is None
        if recipient.unsubscribed_all:
            assert decision.action == SKIP
