"""/v1/segments: rules validated with their paths, counts, members by keyset, references."""
from __future__ import annotations

from orchestrator.db import db
from orchestrator.models import AuditEntry
from sqlalchemy import select


def _contacts(api, n=5):
    rows = [{"external_id": f"s{i}", "email": f"s{i}@example.com" if i % 2 == 0 else None,
             "attributes": {"plan": "pro" if i < 3 else "free"}} for i in range(n)]
    assert api.post("/v1/contacts/batch", json={"contacts": rows}).status_code == 200


PRO = {"field": "attributes.plan", "op": "eq", "value": "pro"}


def test_create_count_and_page_members(api):
    _contacts(api)
    created = api.post("/v1/segments", json={"name": "Pro", "rules": {"all": [PRO, {"reachable": "email"}]}})
    assert created.status_code == 201, created.json
    segment = created.json
    assert "pro" in segment["summary"] and "reachable by email" in segment["summary"]
    count = api.get(f"/v1/segments/{segment['id']}/count").json
    assert count == {"count": 2, "exact": True}
    first = api.get(f"/v1/segments/{segment['id']}/contacts?limit=1").json
    assert [c["external_id"] for c in first["data"]] == ["s0"] and first["next_cursor"]
    second = api.get(f"/v1/segments/{segment['id']}/contacts?limit=1&cursor={first['next_cursor']}").json
    assert [c["external_id"] for c in second["data"]] == ["s2"] and second["next_cursor"] is None
    assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.target_type == "segment")) == "segment.created"


def test_bad_rules_are_422_naming_the_rule_path(api):
    response = api.post("/v1/segments", json={"name": "Bad", "rules": {"all": [PRO, {"field": "email", "op": "gt",
                                                                                  "value": 3}]}})
    assert response.status_code == 422
    fields = [e["field"] for e in response.json["errors"]]
    assert any(f.startswith("rules.all[1]") for f in fields), fields


def test_references_must_exist_and_cycles_are_refused(api):
    missing = api.post("/v1/segments", json={"name": "Ref", "rules": {"segment": 999}})
    assert missing.status_code == 422 and missing.json["errors"][0]["field"] == "rules.segment"
    a = api.post("/v1/segments", json={"name": "A", "rules": PRO}).json
    b = api.post("/v1/segments", json={"name": "B", "rules": {"segment": a["id"]}}).json
    cycle = api.patch(f"/v1/segments/{a['id']}", json={"rules": {"segment": b["id"]}})
    assert cycle.status_code == 422 and "refers back" in cycle.json["errors"][0]["message"]
    assert api.delete(f"/v1/segments/{a['id']}").status_code == 409
    assert api.delete(f"/v1/segments/{b['id']}").status_code == 204


def test_list_patch_and_unknown(api):
    api.post("/v1/segments", json={"name": "One", "rules": {"all": []}})
    api.post("/v1/segments", json={"name": "Two", "rules": PRO})
    page = api.get("/v1/segments?limit=1").json
    assert [s["name"] for s in page["data"]] == ["One"] and page["next_cursor"]
    segment_id = page["data"][0]["id"]
    assert api.patch(f"/v1/segments/{segment_id}", json={"name": "Uno"}).json["name"] == "Uno"
    assert api.get("/v1/segments/424242").status_code == 404
    assert api.post("/v1/segments", json={"name": "X"}).status_code == 422
