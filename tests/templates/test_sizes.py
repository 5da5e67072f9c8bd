"""Measuring values before C code turns them into text, compares or hashes them."""

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from templates.errors import RenderLimitExceeded
from templates.limits import RenderLimits, render_budget
from templates.sizes import (
    BoundedNamespace,
    SizedList,
    SizedTuple,
    check_text,
    concatenated,
    repeated,
    short_repr,
    sized,
    sized_dict,
    sized_list,
    sized_tuple,
    summed,
    text_chars,
    value_chars,
)

HUGE = 10**12


def _dag(depth: int) -> list:
    value = [1]
    for _ in range(depth):
        value = [value, value]
    return value


SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
    | st.text(max_size=6).map(Markup) | st.sampled_from([2**100, -(2**64), 10**30])
)  # fmt: skip
VALUES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=4) | st.integers(), children, max_size=3),
        st.dictionaries(st.text(max_size=4), children, max_size=3).map(lambda d: d.items()),
        st.lists(children, max_size=3).map(sized_list),
        st.lists(children, max_size=3).map(tuple).map(sized_tuple),
        st.dictionaries(st.text(max_size=4), children, max_size=3).map(sized_dict),
        st.dictionaries(st.text(max_size=4).filter(str.isidentifier), children, max_size=3).map(
            lambda d: BoundedNamespace(**d)
        ),
        st.tuples(children, children).map(lambda p: slice(*p)),
    ),
    max_leaves=20,
)
PLAIN = st.recursive(  # no escapes in strings, no big numbers: the estimate is exact
    st.none() | st.booleans() | st.integers(0, 9) | st.text("abc xyz", max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.lists(children, max_size=4).map(tuple).filter(lambda t: len(t) != 1)
    | st.dictionaries(st.text("abc", max_size=3), children, max_size=3),
    max_leaves=20,
)


@given(VALUES)
@settings(max_examples=300, deadline=None)
def test_the_estimate_never_exceeds_the_real_text(value):
    real = len(str(value))
    assert text_chars(value, HUGE) <= real
    assert value_chars(value) <= len(repr(value))
    # so a refusal is never wrong: what is refused really is longer than the limit
    try:
        check_text(value)
    except RenderLimitExceeded:
        assert real > RenderLimits.max_field_chars


@given(PLAIN)
@settings(max_examples=200, deadline=None)
def test_the_estimate_is_exact_for_plain_data(value):
    if isinstance(value, (str, list, tuple, dict)):  # a number or None at the top counts 0: short
        assert text_chars(value, HUGE) == len(str(value))
    assert sized(value) == value
    if isinstance(value, (list, tuple, dict)):
        assert sized(value)._chorus_chars == len(repr(value))


@given(st.lists(PLAIN, max_size=4), st.lists(PLAIN, max_size=4), st.integers(0, 5))
@settings(max_examples=200, deadline=None)
def test_built_values_carry_their_weight(left, right, times):
    for kind in (list, tuple):
        a, b = sized(kind(left)), sized(kind(right))
        for built, plain in (
            (concatenated(a, b), kind(left) + kind(right)),
            (repeated(a, times), kind(left) * times),
            (summed(a, [b, b]), kind(left) + kind(right) * 2),
        ):
            assert built == plain and type(built) in (SizedList, SizedTuple)
            assert built._chorus_chars <= len(repr(plain))
            assert built._chorus_chars >= len(repr(plain)) - 1  # a 1-tuple's comma


def test_shared_references_count_each_time_they_are_visited():
    assert text_chars(_dag(10), HUGE) == len(repr(_dag(10)))
    started = time.thread_time()
    with pytest.raises(RenderLimitExceeded, match="would be more than 1000 characters"):
        text_chars(_dag(60), 1000)  # 2**60 references: refused after about 1000 characters
    with pytest.raises(RenderLimitExceeded):
        value_chars(_dag(60))
    with pytest.raises(RenderLimitExceeded):
        sized_list([_dag(60)])
    assert time.thread_time() - started < 0.5


def test_a_built_value_is_weighed_from_its_parts_not_walked_again():
    value = sized_list([1])
    started = time.thread_time()
    with pytest.raises(RenderLimitExceeded, match="a list built by the template"):
        for _ in range(100):
            value = sized_list([value, value])
    # the last one accepted is over the field limit as text: its weight says so at once
    assert value._chorus_chars > RenderLimits.max_field_chars
    with pytest.raises(RenderLimitExceeded):
        check_text(value)
    assert time.thread_time() - started < 0.05


def test_built_values_look_like_the_builtin_types():
    assert type(sized_list([1])).__name__ == "list" and repr(sized_list([1, "a"])) == "[1, 'a']"
    assert repr(sized_tuple((1,))) == "(1,)" and repr(sized_dict({"a": (1,)})) == "{'a': (1,)}"
    assert sized_tuple((1, 2)) == (1, 2) and hash(sized_tuple((1, 2))) == hash((1, 2))
    assert {sized_tuple((1, 2)): "x"}[(1, 2)] == "x"


def test_a_cycle_through_a_namespace_is_measured_as_repr_prints_it():
    ns = BoundedNamespace(a=1)
    ns["me"] = ns
    ns["pair"] = sized_tuple((ns, ns))
    assert text_chars(ns, HUGE) == len(repr(ns))
    assert value_chars(sized_list([ns])) <= len(repr([ns]))


def test_the_text_of_namespaces_is_paid_for_from_a_per_render_allowance():
    ns = BoundedNamespace(body="x" * 1000)
    with render_budget(RenderLimits(max_value_chars=10_000)):
        for _ in range(9):
            repr(ns)
        with pytest.raises(RenderLimitExceeded, match="namespaces"):
            repr(ns)
    with render_budget(RenderLimits(max_value_chars=10_000)):
        with pytest.raises(RenderLimitExceeded, match="namespace"):
            repr(BoundedNamespace(items=(ns,) * 20))  # inner namespaces measured with it
        assert repr(BoundedNamespace(inner=ns)).count("x") == 1000


def test_sum_of_lists_is_linear_and_checks_types():
    assert summed([], [[1], [2, 3]]) == [1, 2, 3]
    with pytest.raises(TypeError, match="can only concatenate list"):
        summed([], [[1], (2,)])
    started = time.thread_time()
    with pytest.raises(RenderLimitExceeded):
        summed([], [sized_list([1] * 1000)] * 100_000)
    assert time.thread_time() - started < 0.5


def test_short_repr_never_builds_a_long_text():
    assert short_repr([1, "a"]) == "[1, 'a']"
    assert short_repr("x" * 500).endswith("…") and len(short_repr("x" * 500)) < 100
    started = time.thread_time()
    assert short_repr(_dag(60)) == "a list too long to show"
    assert time.thread_time() - started < 0.1
