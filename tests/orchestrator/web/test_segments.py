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
