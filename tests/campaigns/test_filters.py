import pytest

from campaigns.filters import FilterError, PropertyFilter, matches_all, parse_filters


def f(prop, op, value=None):
    return PropertyFilter(prop, op, value)


@pytest.mark.parametrize(
    "flt, props, expected",
    [
        (f("plan", "eq", "pro"), {"plan": "pro"}, True),
        (f("plan", "eq", "pro"), {"plan": "free"}, False),
        (f("plan", "eq", "pro"), {}, False),
        (f("plan", "neq", "pro"), {"plan": "free"}, True),
        (f("plan", "neq", "pro"), {}, True),
        (f("plan", "in", ["pro", "team"]), {"plan": "team"}, True),
        (f("plan", "in", ["pro", "team"]), {"plan": "free"}, False),
        (f("title", "contains", "shoe"), {"title": "red shoes"}, True),
        (f("skus", "contains", "A1"), {"skus": ["A1", "B2"]}, True),
        (f("skus", "contains", "C3"), {"skus": ["A1", "B2"]}, False),
        (f("meta", "contains", "k"), {"meta": {"k": 1}}, True),
        (f("total", "contains", "1"), {"total": 10}, False),
        (f("total", "gt", 50), {"total": 50.01}, True),
        (f("total", "gt", 50), {"total": 50}, False),
        (f("total", "gte", 50), {"total": 50}, True),
        (f("total", "lt", 50), {"total": "49.5"}, True),
        (f("total", "lte", 50), {"total": "n/a"}, False),
        (f("total", "gt", 50), {"total": None}, False),
        (f("total", "gt", 50), {}, False),
        (f("at", "gte", "2024-01-01"), {"at": "2024-03-01T10:00:00Z"}, True),
        (f("at", "lt", "2024-01-01"), {"at": "2024-03-01T10:00:00Z"}, False),
        (f("coupon", "exists"), {"coupon": "X"}, True),
        (f("coupon", "exists"), {"coupon": None}, False),
        (f("coupon", "exists", False), {}, True),
        (f("coupon", "exists", False), {"coupon": "X"}, False),
        (f("cart.total", "gte", 100), {"cart": {"total": 120}}, True),
        (f("cart.total", "gte", 100), {"cart": 5}, False),
        (f("a.b", "eq", 1), {"a.b": 1}, True),
        (f("paid", "eq", True), {"paid": 1}, False),
        (f("count", "eq", 1), {"count": True}, False),
        (f("count", "eq", 1), {"count": 1.0}, True),
        (f("tags", "eq", ["a", "b"]), {"tags": ["a", "b"]}, True),
    ],
)
def test_filter_semantics(flt, props, expected):
    assert flt.matches(props) is expected


def test_matches_all_requires_every_filter_and_empty_matches_everything():
    filters = parse_filters(
        [{"property": "total", "op": "gte", "value": 50}, {"property": "currency", "op": "eq", "value": "EUR"}]
    )
    assert matches_all(filters, {"total": 60, "currency": "EUR"})
    assert not matches_all(filters, {"total": 60, "currency": "USD"})
    assert matches_all((), None)


@pytest.mark.parametrize(
    "raw, index",
    [
        ([{"property": "x", "op": "like", "value": 1}], 0),
        ([{"property": "x", "op": "eq", "value": 1}, {"property": "", "op": "eq"}], 1),
        ([{"property": "x", "op": "in", "value": "abc"}], 0),
        ([{"property": "x", "op": "gt", "value": [1]}], 0),
        ([{"property": "x", "op": "exists", "value": "yes"}], 0),
        ([{"property": "x", "op": "eq", "value": 1, "extra": 2}], 0),
        (["not a dict"], 0),
    ],
)
def test_parse_rejects_bad_filters_naming_the_position(raw, index):
    with pytest.raises(FilterError) as caught:
        parse_filters(raw)
    assert caught.value.index == index


def test_round_trip_and_hashable():
    raw = {"property": "plan", "op": "in", "value": ["a", "b"]}
    flt = PropertyFilter.from_dict(raw)
    assert flt.to_dict() == raw
    assert hash(flt) == hash(PropertyFilter.from_dict(raw))
