import pytest

from campaigns.segments import (
    AllOf, Reachable, SegmentRuleError, event_names, expand_segments, parse_rules,
    referenced_segments,
)


def test_references_and_event_names_are_listed():
    rule = parse_rules({"any": [{"segment": 3}, {"not": {"segment": 5}},
                                {"event": "opened", "did_not": True}]})
    assert referenced_segments(rule) == {3, 5}
    assert event_names(rule) == {"opened"}


def test_references_are_inlined_from_json_or_rules():
    stored = {3: {"reachable": "sms"}}
    expanded = expand_segments(parse_rules({"all": [{"segment": 3}]}),
                               resolve_segment=lambda i: stored[i])
    assert expanded == AllOf((Reachable("sms"),))


def test_saving_a_segment_that_would_contain_itself_is_refused():
    stored = {7: {"any": [{"segment": 9}]}}
    with pytest.raises(SegmentRuleError) as raised:
        expand_segments(parse_rules({"all": [{"reachable": "sms"}, {"segment": 7}]}),
                        resolve_segment=lambda i: stored[i], segment_id=9)
    assert raised.value.as_dicts() == [
        {"path": "all[1].segment", "message": "segment 9 refers back to itself (9 → 7 → 9)"}]


def test_unknown_and_broken_segments_are_reported_together():
    stored = {2: {"reachable": "fax"}}
    with pytest.raises(SegmentRuleError) as raised:
        expand_segments(parse_rules({"any": [{"segment": 1}, {"segment": 2}]}),
                        resolve_segment=lambda i: stored[i])
    messages = {issue.path: issue.message for issue in raised.value.errors}
    assert messages["any[0].segment"] == "segment 1 does not exist"
    assert messages["any[1].segment"].startswith("segment 2 has invalid rules")


def test_exponential_inlining_is_bounded():
    stored = {i: {"all": [{"segment": i + 1}, {"segment": i + 1}]} for i in range(1, 20)}
    stored[20] = {"reachable": "sms"}
    with pytest.raises(SegmentRuleError, match="more than"):
        expand_segments(parse_rules({"segment": 1}), resolve_segment=lambda i: stored[i])
