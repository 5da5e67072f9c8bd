"""Event ingestion: one or many, de-duplicated by id, validated as a whole."""
from __future__ import annotations

from sqlalchemy import func, select

from orchestrator.db import db
from orchestrator.models import Contact, Event
from tests.orchestrator.api.test_contacts import problem_fields


def test_single_and_batch_events_create_contacts_and_dedupe(api):
    r = api.post("/v1/events", json={"external_id": "e1", "name": "viewed_product",
                                     "properties": {"category": "shoes"}, "id": "evt-1",
                                     "timestamp": "2026-11-01T10:00:00+01:00"})
    assert r.status_code == 202
    assert r.get_json() == {"accepted": 1, "duplicates": 0}
    batch = [{"external_id": f"e{i % 3}", "name": "app_opened", "id": f"evt-b{i}"} for i in range(50)]
    batch.append({"external_id": "e1", "name": "viewed_product", "id": "evt-1"})
    r = api.post("/v1/events", json={"events": batch})
    assert r.get_json() == {"accepted": 50, "duplicates": 1}
    assert db.session.scalar(select(func.count(Event.id))) == 51
    assert db.session.scalar(select(func.count(Contact.id))) == 3
    events = api.get("/v1/contacts/e1/events", query_string={"name": "viewed_product"}).get_json()["data"]
    assert len(events) == 1
    assert events[0]["properties"] == {"category": "shoes"}
    assert events[0]["occurred_at"].startswith("2026-11-01T09:00:00")


def test_events_without_id_are_all_kept(api):
    for _ in range(2):
        api.post("/v1/events", json={"external_id": "e", "name": "tap"})
    assert db.session.scalar(select(func.count(Event.id))) == 2


def test_bad_event_rows_are_reported_by_index_and_nothing_is_stored(api):
    batch = [{"external_id": "ok", "name": "a"}, {"external_id": "bad", "name": ""},
             {"external_id": "bad2", "name": "x", "timestamp": "yesterday"}]
    r = api.post("/v1/events", json={"events": batch})
    assert r.status_code == 422
    assert problem_fields(r) == {"events.1.name", "events.2.timestamp"}
    assert db.session.scalar(select(func.count(Event.id))) == 0
    assert problem_fields(api.post("/v1/events", json={"events": []})) == {"events"}
    too_many = [{"external_id": "x", "name": "n"}] * 1001
    assert problem_fields(api.post("/v1/events", json={"events": too_many})) == {"events"}
    assert api.post("/v1/events", json=[1, 2]).status_code == 422


def test_event_listing_pages_newest_first(api):
    api.post("/v1/events", json={"events": [{"external_id": "p", "name": f"n{i}"} for i in range(7)]})
    first = api.get("/v1/contacts/p/events", query_string={"limit": 5}).get_json()
    assert [e["name"] for e in first["data"]] == ["n6", "n5", "n4", "n3", "n2"]
    rest = api.get("/v1/contacts/p/events", query_string={"cursor": first["next_cursor"]}).get_json()
    assert [e["name"] for e in rest["data"]] == ["n1", "n0"]
    assert rest["next_cursor"] is None
