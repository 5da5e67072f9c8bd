from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.variants import HOLDOUT, VariantError, assign, bucket


def test_assignment_is_stable_and_depends_on_campaign():
    variants = [("a", 1), ("b", 1)]
    first = [assign(42, contact, variants, 10) for contact in range(500)]
    assert first == [assign(42, contact, variants, 10) for contact in range(500)]
    assert first != [assign(43, contact, variants, 10) for contact in range(500)]


def test_bucket_matches_blake2b_of_campaign_and_contact():
    import hashlib

    digest = hashlib.blake2b(b"c1:99", digest_size=8).digest()
    assert bucket("c1", 99) == int.from_bytes(digest, "big") / 2**64
    assert 0 <= bucket("c1", 99) < 1


def test_split_is_within_one_percent_of_weights_over_100k_contacts():
    variants = [("control", 50), ("subject_b", 30), ("subject_c", 20)]
    n = 100_000
    counts = Counter(assign("spring-sale", contact, variants, holdout_percent=10) for contact in range(n))
    expected = {HOLDOUT: 0.10, "control": 0.45, "subject_b": 0.27, "subject_c": 0.18}
    for name, share in expected.items():
        assert abs(counts[name] / n - share) < 0.01, (name, counts[name])


def test_changing_weights_never_moves_people_in_or_out_of_the_holdout():
    before = {c for c in range(5000) if assign(9, c, [("a", 1), ("b", 1)], 20) == HOLDOUT}
    after = {c for c in range(5000) if assign(9, c, [("a", 9), ("b", 1), ("c", 5)], 20) == HOLDOUT}
    assert before == after


def test_zero_weight_variant_never_gets_anyone():
    assert {assign(1, c, [("a", 0), ("b", 1), ("c", 0)]) for c in range(2000)} == {"b"}


@pytest.mark.parametrize(
    "variants, holdout",
    [
        ([], 0),
        ([("a", 1), ("a", 1)], 0),
        ([("holdout", 1)], 0),
        ([("", 1)], 0),
        ([("a", -1), ("b", 2)], 0),
        ([("a", 0)], 0),
        ([("a", 1)], 100),
        ([("a", 1)], -5),
    ],
)
def test_bad_variant_lists_are_refused(variants, holdout):
    with pytest.raises(VariantError):
        assign(1, 1, variants, holdout)


@settings(max_examples=100, deadline=None)
@given(
    campaign=st.integers(0, 10**6),
    contact=st.integers(0, 10**12),
    weights=st.lists(st.integers(0, 100), min_size=1, max_size=5).filter(lambda w: sum(w) > 0),
    holdout=st.floats(0, 99.9),
)
def test_result_is_always_a_weighted_variant_or_the_holdout(campaign, contact, weights, holdout):
    variants = [(f"v{i}", w) for i, w in enumerate(weights)]
    result = assign(campaign, contact, variants, holdout)
    assert result == assign(campaign, contact, variants, holdout)
    assert result == HOLDOUT or dict(variants)[result] > 0
    if holdout == 0:
        assert result != HOLDOUT
