"""The segment builder: form ⇄ rules, live count, errors at the builder's inputs."""
from __future__ import annotations

import re

from sqlalchemy import select

from orchestrator.db import db
from orchestrator.models import Segment
from orchestrator.services.contacts import upsert_contacts
from orchestrator.web.segments import builder_from_form, builder_from_rules, errors_at_inputs, rules_from_builder

PRO = {"name": "Pro", "match": "all", "mode": "builder", "g0.match": "all", "g0.c0.kind": "field",
       "g0.c0.field": "attributes.plan", "g0.c0.op": "eq", "g0.c0.value": "pro"}


def people():
    upsert_contacts(db.session, [{"external_id": f"u{n}", "email": f"u{n}@example.com",
                                  "attributes": {"plan": "pro" if n % 2 else "free", "ltv": n * 10}}
                                 for n in range(10)])
    db.session.commit()


def test_builder_form_makes_typed_rules_and_back():
    form = {**PRO, "g0.c1.kind": "field", "g0.c1.field": "attributes.ltv", "g0.c1.op": "in", "g0.c1.value": "10, 20",
            "g1.match": "any", "g1.c0.kind": "event", "g1.c0.event": "order_completed", "g1.c0.within_days": "30",
            "g1.c0.count": "2", "g1.c1.kind": "reachable", "g1.c1.reachable": "sms"}
    rules = rules_from_builder(builder_from_form(form))
    assert rules == {"all": [
        {"all": [{"field": "attributes.plan", "op": "eq", "value": "pro"},
                 {"field": "attributes.ltv", "op": "in", "value": [10, 20]}]},
        {"any": [{"event": "order_completed", "within_days": 30, "count": {"op": "gte", "value": 2}},
                 {"reachable": "sms"}]}]}
    assert rules_from_builder(builder_from_rules(rules)) == rules
    assert builder_from_rules({"not": {"reachable": "sms"}}) is None, "shapes the builder lacks go to JSON"
    assert errors_at_inputs([{"field": "rules.all[1].any[0].within_days", "message": "m"}]) == {
        "g1.c0.within_days": ["m"]}


def test_live_count_and_save(as_role, users):
    people()
    editor = as_role("editor")
    editor.get("/segments/new")
    count = editor.post("/segments/count", PRO).get_data(as_text=True)
    assert re.search(r'data-testid="audience-count">5<', count)
    response = editor.post("/segments/new", {**PRO, "action": "save"})
    assert response.status_code == 302
    segment = db.session.scalar(select(Segment))
    assert segment.rules == {"all": [{"all": [{"field": "attributes.plan", "op": "eq", "value": "pro"}]}]}
    page = editor.get(f"/segments/{segment.id}").get_data(as_text=True)
    assert 'value="attributes.plan"' in page
    assert "plan" in as_role("viewer").get("/segments").get_data(as_text=True)


def test_rule_errors_show_at_the_condition_and_nothing_is_saved(as_role):
    editor = as_role("editor")
    response = editor.post("/segments/new", {**PRO, "g0.c0.op": "gt", "g0.c0.value": "abc", "action": "save"})
    assert response.status_code == 422
    assert "value: gt needs a number" in response.get_data(as_text=True)
    assert db.session.scalar(select(Segment)) is None
    count = editor.post("/segments/count", {**PRO, "g0.c0.op": "gt", "g0.c0.value": "abc"}).get_data(as_text=True)
    assert "g0.c0.value" in count


def test_add_and_remove_conditions_without_script(as_role):
    editor = as_role("editor")
    page = editor.post("/segments/new", {**PRO, "action": "add_condition:0"}).get_data(as_text=True)
    assert page.count('class="condition') == 2
    page = editor.post("/segments/new", {**PRO, "action": "add_group"}).get_data(as_text=True)
    assert "Group 2" in page
    page = editor.post("/segments/new", {**PRO, "action": "remove:0:0"}).get_data(as_text=True)
    assert 'class="condition' not in page
    page = editor.post("/segments/new", {**PRO, "action": "json"}).get_data(as_text=True)
    assert 'name="rules_json"' in page and "attributes.plan" in page


def test_viewers_cannot_save_segments(as_role):
    assert as_role("viewer").post("/segments/new", {**PRO, "action": "save"}).status_code == 403


# Event property filters, counts, "did not … since", topics, opt-ins, membership -------------

SHOES = {"name": "Shoe fans", "match": "all", "mode": "builder", "g0.match": "all", "g0.c0.kind": "event",
         "g0.c0.did_not": "", "g0.c0.event": "viewed_product", "g0.c0.count_op": "gte", "g0.c0.count": "2",
         "g0.c0.window": "days", "g0.c0.within_days": "7",
         "g0.c0.where.0.property": "category", "g0.c0.where.0.op": "eq", "g0.c0.where.0.value": "shoes",
         "g0.c0.where.1.property": "", "g0.c0.where.1.op": "eq", "g0.c0.where.1.value": ""}
SHOES_RULES = {"all": [{"all": [{"event": "viewed_product", "where": [{"property": "category", "op": "eq",
                                                                      "value": "shoes"}],
                                 "within_days": 7, "count": {"op": "gte", "value": 2}}]}]}


def test_an_event_with_a_property_filter_a_count_and_a_window():
    assert rules_from_builder(builder_from_form(SHOES)) == SHOES_RULES
    assert rules_from_builder(builder_from_rules(SHOES_RULES)) == SHOES_RULES


def test_every_condition_kind_the_builder_makes_round_trips():
    conditions = [
        {"event": "viewed_product", "where": [{"property": "price", "op": "between", "value": [10, 20]},
                                              {"property": "sku", "op": "eq", "value": "42"},
                                              {"property": "gift", "op": "exists"}],
         "count": {"op": "eq", "value": 3}},
        {"event": "order_completed", "count": {"op": "lte", "value": 1}, "since": "2026-01-01"},
        {"event": "opened_app", "did_not": True, "since": "2026-01-01T09:00:00Z"},
        {"event": "churned", "did_not": True},
        {"topic": "promotions", "subscribed": True}, {"topic": "news", "subscribed": False},
        {"channel_opt_in": "sms", "value": False}, {"channel_opt_in": "email", "value": True},
        {"segment": 3}, {"reachable": "push"},
        {"field": "external_id", "op": "eq", "value": "42"}, {"field": "attributes.size", "op": "eq", "value": "42"},
        {"field": "attributes.size", "op": "in", "value": [41, "42"]},
        {"field": "attributes.signup", "op": "before", "value": "2026-01-01"},
    ]
    rules = {"any": [{"all": conditions}]}
    state = builder_from_rules(rules)
    assert state is not None, "the builder can show all of these"
    assert rules_from_builder(state) == rules
    # And through the form as the browser posts it.
    form = {"match": "any", "g0.match": "all"}
    for n, condition in enumerate(state["groups"][0]["conditions"]):
        for key, value in condition.items():
            if key == "where":
                for w, row in enumerate(value):
                    form.update({f"g0.c{n}.where.{w}.{part}": text for part, text in row.items()})
            else:
                form[f"g0.c{n}.{key}"] = value
    assert rules_from_builder(builder_from_form(form)) == rules


def test_did_not_since_and_exact_counts_from_the_form():
    form = {"match": "all", "g0.match": "all",
            "g0.c0.kind": "event", "g0.c0.event": "ordered", "g0.c0.did_not": "on", "g0.c0.count": "5",
            "g0.c0.window": "since", "g0.c0.since": "2026-03-01", "g0.c0.within_days": "9",
            "g0.c1.kind": "event", "g0.c1.event": "ordered", "g0.c1.count_op": "eq", "g0.c1.count": "",
            "g0.c1.window": "ever", "g0.c1.within_days": "9"}
    assert rules_from_builder(builder_from_form(form)) == {"all": [{"all": [
        {"event": "ordered", "since": "2026-03-01", "did_not": True},
        {"event": "ordered", "count": {"op": "eq", "value": 1}}]}]}


def test_where_and_count_errors_land_at_their_inputs():
    assert errors_at_inputs([
        {"field": "rules.all[0].all[1].where[2].value", "message": "a"},
        {"field": "rules.all[0].all[1].count.value", "message": "b"},
        {"field": "rules.all[0].all[1].channel_opt_in", "message": "c"},
    ]) == {"g0.c1.where.2": ["a"], "g0.c1.count": ["b"], "g0.c1.channel": ["c"]}


def shoppers():
    from datetime import timedelta

    from orchestrator.models import utcnow
    from orchestrator.services.events import ingest_events

    now = utcnow()
    people()
    events = []
    for n in range(10):
        for _ in range(n % 4):  # shoes: u1 once, u2 twice, u3 three times, u5 once; hats: u6, u7, u9
            events.append({"external_id": f"u{n}", "name": "viewed_product", "timestamp": now - timedelta(days=1),
                           "properties": {"category": "shoes" if n < 6 else "hats"}})
    events.append({"external_id": "u0", "name": "viewed_product", "timestamp": now - timedelta(days=30),
                   "properties": {"category": "shoes"}})
    ingest_events(db.session, events)
    db.session.commit()


def test_live_count_with_an_event_property_filter(as_role):
    shoppers()
    editor = as_role("editor")
    editor.get("/segments/new")
    count = editor.post("/segments/count", SHOES).get_data(as_text=True)
    assert re.search(r'data-testid="audience-count">2<', count), count  # u2 and u3
    assert "did viewed_product with category is &#34;shoes&#34; at least 2 times in the last 7 days" in count
    exactly = editor.post("/segments/count", {**SHOES, "g0.c0.count_op": "eq", "g0.c0.count": "3"})
    assert re.search(r'data-testid="audience-count">1<', exactly.get_data(as_text=True))  # u3
    never = editor.post("/segments/count", {**SHOES, "g0.c0.did_not": "on", "g0.c0.window": "ever"})
    assert re.search(r'data-testid="audience-count">5<', never.get_data(as_text=True))  # u0 too, a month ago
    bad = editor.post("/segments/count", {**SHOES, "g0.c0.where.0.op": "gt"}).get_data(as_text=True)
    assert "g0.c0.where.0" in bad and "needs a number" in bad
    assert editor.post("/segments/new", {**SHOES, "action": "save"}).status_code == 302
    segment = db.session.scalar(select(Segment))
    assert segment.rules == SHOES_RULES
    page = editor.get(f"/segments/{segment.id}").get_data(as_text=True)
    assert 'name="g0.c0.where.0.property" value="category"' in page and 'name="rules_json"' not in page


def test_membership_topic_and_opt_in_conditions_count(as_role):
    people()
    editor = as_role("editor")
    editor.post("/segments/new", {**PRO, "action": "save"})
    pro = db.session.scalar(select(Segment))
    form = {"name": "Pro, reachable", "match": "all", "mode": "builder", "g0.match": "all",
            "g0.c0.kind": "segment", "g0.c0.segment": str(pro.id),
            "g0.c1.kind": "channel_opt_in", "g0.c1.opted_in": "true", "g0.c1.channel": "email"}
    count = editor.post("/segments/count", form).get_data(as_text=True)
    assert re.search(r'data-testid="audience-count">5<', count), count
    page = editor.get(f"/segments/{pro.id}").get_data(as_text=True)
    assert f'<option value="{pro.id}"' not in page, "a segment cannot contain itself"


def test_a_property_row_is_added_without_script(as_role):
    editor = as_role("editor")
    page = editor.post("/segments/new", {**SHOES, "action": "add_where:0:0"}).get_data(as_text=True)
    assert page.count('name="g0.c0.where.') == 3 * 3, "the filled row, the added one and the spare"
