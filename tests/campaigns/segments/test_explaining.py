from campaigns.segments import explain, parse_rules


def test_a_segment_reads_as_one_line():
    rule = parse_rules({"all": [
        {"field": "attributes.plan", "op": "in", "value": ["pro", "team"]},
        {"any": [{"reachable": "sms"}, {"reachable": "push"}]},
        {"event": "viewed_product", "where": [{"property": "category", "op": "eq",
                                                 "value": "shoes"}],
         "count": {"op": "gte", "value": 2}, "within_days": 7},
        {"event": "order_completed", "did_not": True, "since": "2026-01-01"},
        {"not": {"topic": "promotions", "subscribed": False}},
        {"field": "attributes.age", "op": "between", "value": [18, 30]},
        {"segment": 4},
    ]})
    assert explain(rule) == (
        'attributes.plan is one of "pro", "team" and (reachable by sms or reachable by push) '
        'and did viewed_product with category is "shoes" at least 2 times in the last 7 days '
        'and did not do order_completed since 2026-01-01 and not not subscribed to promotions '
        'and attributes.age is between 18 and 30 and in segment #4')


def test_empty_groups_name_who_they_match():
    assert explain(parse_rules({"all": []})) == "everyone"
    assert explain(parse_rules({"any": []})) == "no one"
