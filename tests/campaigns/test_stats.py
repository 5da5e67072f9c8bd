import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.stats import Counts, StatsError, lift, rates, ratio, totals_by


def test_rates_from_counts():
    counts = Counts(targeted=1000, suppressed={"capped": 40}, sent=960, delivered=900, failed=60, opened=450, clicked=90, unsubscribed=9, converted=50)
    r = rates(counts)
    assert r.delivery == pytest.approx(900 / 960)
    assert r.failure == pytest.approx(60 / 960)
    assert r.open == pytest.approx(0.5)
    assert r.click == pytest.approx(0.1)
    assert r.click_to_open == pytest.approx(0.2)
    assert r.unsubscribe == pytest.approx(0.01)
    assert r.conversion == pytest.approx(0.05)


def test_zero_denominators_give_none_not_an_error():
    r = rates(Counts(targeted=10, suppressed={"no_address": 10}))
    assert (r.delivery, r.open, r.click, r.click_to_open, r.unsubscribe) == (None,) * 5
    assert r.conversion == 0.0
    assert rates(Counts()).conversion is None
    assert ratio(0, 0) is None


def test_counts_add_up_per_variant_and_per_channel():
    rows = {
        ("a", "email"): Counts(targeted=10, sent=9, suppressed={"capped": 1}),
        ("a", "sms"): Counts(targeted=5, sent=3, suppressed={"capped": 1, "no_address": 1}),
        ("b", "email"): Counts(targeted=7, sent=7, converted=2),
    }
    by_variant = totals_by(rows, "variant")
    assert by_variant["a"] == Counts(targeted=15, sent=12, suppressed={"capped": 2, "no_address": 1})
    assert by_variant["a"].suppressed_total == 3
    assert totals_by(rows, "channel")["email"] == Counts(targeted=17, sent=16, converted=2, suppressed={"capped": 1})


def test_lift_matches_hand_computed_values():
    # p1 = .12, p0 = .10, pooled .11, pooled SE = sqrt(.11*.89*(2/1000)) = .013993, z = 1.4293.
    result = lift(120, 1000, 100, 1000)
    assert result.absolute_diff == pytest.approx(0.02)
    assert result.relative_lift == pytest.approx(0.2)
    assert result.p_value == pytest.approx(0.1529, abs=1e-4)
    # Unpooled SE = sqrt(.12*.88/1000 + .1*.9/1000) = .013986; 1.95996 * .013986 = .027411.
    assert (result.ci_low, result.ci_high) == (pytest.approx(-0.007411, abs=1e-5), pytest.approx(0.047411, abs=1e-5))
    assert not result.significant

    # p1 = .15 (n=2000), p0 = .10 (n=1000): pooled .13333, SE .0131656, z = 3.7978.
    strong = lift(300, 2000, 100, 1000)
    assert strong.p_value == pytest.approx(1.46e-4, abs=1e-6)
    assert (strong.ci_low, strong.ci_high) == (pytest.approx(0.025697, abs=1e-5), pytest.approx(0.074303, abs=1e-5))
    assert strong.significant


def test_confidence_level_widens_the_interval():
    narrow, wide = lift(120, 1000, 100, 1000, 0.80), lift(120, 1000, 100, 1000, 0.99)
    assert wide.ci_low < narrow.ci_low and wide.ci_high > narrow.ci_high
    assert narrow.p_value == wide.p_value


def test_edge_groups():
    assert lift(5, 10, 0, 0) is None
    assert lift(0, 0, 1, 10) is None
    nobody = lift(0, 500, 0, 500)
    assert (nobody.absolute_diff, nobody.p_value, nobody.relative_lift, nobody.significant) == (0, 1.0, None, False)
    assert lift(10, 100, 0, 100).relative_lift is None
    everyone = lift(50, 50, 50, 50)
    assert everyone.p_value == 1.0 and everyone.ci_low == everyone.ci_high == 0


@pytest.mark.parametrize("args", [(-1, 10, 1, 10), (11, 10, 1, 10), (1, 10, 5, 4), (1, 10, 1, -10)])
def test_impossible_counts_are_refused(args):
    with pytest.raises(StatsError):
        lift(*args)


@pytest.mark.parametrize("confidence", [0, 1, 1.5, -0.1])
def test_bad_confidence_is_refused(confidence):
    with pytest.raises(StatsError):
        lift(1, 10, 1, 10, confidence)


groups = st.integers(1, 100_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


@settings(max_examples=80, deadline=None)
@given(treatment=groups, holdout=groups, confidence=st.floats(0.5, 0.999))
def test_lift_properties(treatment, holdout, confidence):
    result = lift(*treatment, *holdout, confidence)
    assert result.ci_low <= result.absolute_diff <= result.ci_high
    assert 0.0 <= result.p_value <= 1.0
    assert result.significant == (result.p_value < 1 - confidence)
    mirrored = lift(*holdout, *treatment, confidence)
    assert mirrored.absolute_diff == -result.absolute_diff
    assert (mirrored.ci_low, mirrored.ci_high) == (-result.ci_high, -result.ci_low)
    assert mirrored.p_value == result.p_value
