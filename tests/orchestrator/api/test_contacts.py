"""Contacts API: upsert, read, patch, erase, batch, list; and every kind of bad input."""
from __future__ import annotations

from sqlalchemy import func, select

from orchestrator.db import db
from orchestrator.models import Contact, Event, Message


def problem_fields(response) -> set[str]:
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.get_json()
    assert body["status"] == response.status_code
    assert body["title"] and body["type"]
    return {e["field"] for e in body.get("errors", [])}


def test_upsert_normalises_and_merges_attributes(api):
    r = api.post("/v1/contacts", json={
        "external_id": "u1", "email": "Ana@Example.COM", "phone": "(415) 555-2671",
        "locale": "pt_br", "timezone": "America/Sao_Paulo", "attributes": {"plan": "pro", "age": 31},
    })
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["email"] == "Ana@example.com"
    assert body["phone"] == "+14155552671"
    assert body["locale"] == "pt-BR"
    r = api.post("/v1/contacts", json={"external_id": "u1", "attributes": {"age": None, "city": "Porto"}})
    body = r.get_json()
    assert body["attributes"] == {"plan": "pro", "city": "Porto"}
    assert body["email"] == "Ana@example.com", "fields not sent are kept"
    assert db.session.scalar(select(func.count(Contact.id))) == 1


def test_get_patch_and_missing_contact(api):
    api.post("/v1/contacts", json={"external_id": "u2", "email": "b@example.com"})
    r = api.patch("/v1/contacts/u2", json={"phone": "+351912345678"})
    assert r.status_code == 200
    assert r.get_json()["phone"] == "+351912345678"
    assert api.get("/v1/contacts/u2").get_json()["email"] == "b@example.com"
    missing = api.get("/v1/contacts/nobody")
    assert missing.status_code == 404
    problem_fields(missing)
    assert api.patch("/v1/contacts/nobody", json={"email": "x@example.com"}).status_code == 404


def test_bad_inputs_name_each_field_and_write_nothing(api):
    r = api.post("/v1/contacts", json={
        "external_id": "u3", "email": "not-an-email", "phone": "12", "timezone": "Mars/Olympus",
        "locale": "zz-QQ", "attributes": "nope", "unknown": 1,
    })
    assert r.status_code == 422
    assert problem_fields(r) == {"email", "phone", "timezone", "locale", "attributes", "unknown"}
    assert db.session.scalar(select(func.count(Contact.id))) == 0
    assert problem_fields(api.post("/v1/contacts", json={"email": "a@example.com"})) == {"external_id"}
    r = api.post("/v1/contacts", data="{broken", headers={"Content-Type": "application/json"})
    assert 400 <= r.status_code < 500
    r = api.post("/v1/contacts", json={"external_id": "x" * 256})
    assert problem_fields(r) == {"external_id"}


def test_batch_is_all_or_nothing_and_reports_rows_by_index(api):
    rows = [{"external_id": f"b{i}", "email": f"b{i}@example.com"} for i in range(5)]
    rows[3]["email"] = "broken"
    r = api.post("/v1/contacts/batch", json={"contacts": rows})
    assert r.status_code == 422
    assert problem_fields(r) == {"contacts.3.email"}
    assert db.session.scalar(select(func.count(Contact.id))) == 0
    rows[3]["email"] = "b3@example.com"
    r = api.post("/v1/contacts/batch", json={"contacts": rows})
    assert r.get_json() == {"created": 5, "updated": 0}
    rows.append({"external_id": "b0", "attributes": {"vip": True}})
    r = api.post("/v1/contacts/batch", json={"contacts": rows})
    assert r.get_json() == {"created": 0, "updated": 5}
    assert api.get("/v1/contacts/b0").get_json()["attributes"] == {"vip": True}


def test_batch_of_ten_thousand(api):
    rows = [{"external_id": f"big{i}", "attributes": {"n": i}} for i in range(10_000)]
    r = api.post("/v1/contacts/batch", json={"contacts": rows})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["created"] == 10_000
    assert db.session.scalar(select(func.count(Contact.id))) == 10_000
    too_many = api.post("/v1/contacts/batch", json={"contacts": rows + [{"external_id": "one-more"}]})
    assert too_many.status_code == 422
    assert problem_fields(too_many) == {"contacts"}


def test_list_pages_with_cursor_and_filters(api):
    api.post("/v1/contacts/batch", json={"contacts": [
        {"external_id": f"p{i:02d}", "email": f"p{i}@example.com"} for i in range(25)]})
    seen, cursor = [], None
    while True:
        r = api.get("/v1/contacts", query_string={"limit": 10, **({"cursor": cursor} if cursor else {})})
        body = r.get_json()
        seen += [c["external_id"] for c in body["data"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == [f"p{i:02d}" for i in range(25)]
    r = api.get("/v1/contacts", query_string={"email": "p7@example.com"})
    assert [c["external_id"] for c in r.get_json()["data"]] == ["p07"]
    r = api.get("/v1/contacts", query_string={"q": "p1"})
    assert len(r.get_json()["data"]) == 11
    assert problem_fields(api.get("/v1/contacts", query_string={"cursor": "garbage!"})) == {"cursor"}
    assert problem_fields(api.get("/v1/contacts", query_string={"limit": 5000})) == {"limit"}


def test_delete_erases_personal_data(api):
    api.post("/v1/contacts", json={"external_id": "gone", "email": "g@example.com"})
    api.post("/v1/events", json={"external_id": "gone", "name": "app_opened"})
    contact_id = db.session.scalar(select(Contact.id).where(Contact.external_id == "gone"))
    db.session.add(Message(idempotency_key="k1", contact_id=contact_id, channel="email",
                           address="g@example.com", content={"subject": "hi"}, status="sent"))
    db.session.commit()
    assert api.delete("/v1/contacts/gone").status_code == 204
    db.session.expire_all()
    assert api.get("/v1/contacts/gone").status_code == 404
    assert db.session.scalar(select(func.count(Event.id))) == 0
    message = db.session.scalar(select(Message))
    assert (message.contact_id, message.address, message.content) == (None, None, None)
    assert message.status == "sent", "statistics keep the anonymous message"


def test_devices(api):
    api.post("/v1/contacts", json={"external_id": "d1"})
    api.post("/v1/contacts", json={"external_id": "d2"})
    r = api.post("/v1/contacts/d1/devices", json={"token": "tok-1", "platform": "ios"})
    assert r.status_code == 201
    assert problem_fields(api.post("/v1/contacts/d1/devices", json={"token": "t", "platform": "symbian"})) == {"platform"}
    # The same token registered by another person moves to them.
    api.post("/v1/contacts/d2/devices", json={"token": "tok-1", "platform": "ios"})
    assert api.get("/v1/contacts/d1/devices").get_json() == []
    assert [d["token"] for d in api.get("/v1/contacts/d2/devices").get_json()] == ["tok-1"]
    assert api.delete("/v1/contacts/d2/devices/tok-1").status_code == 204
    assert api.delete("/v1/contacts/d2/devices/tok-1").status_code == 404


def test_preferences_defaults_topics_and_partial_updates(api):
    api.post("/v1/topics", json={"key": "promotions", "name": "Promotions"})
    api.post("/v1/topics", json={"key": "digest", "name": "Digest", "default_opt_in": False})
    api.post("/v1/contacts", json={"external_id": "pref"})
    prefs = api.get("/v1/contacts/pref/preferences").get_json()
    assert prefs == {"unsubscribed_all": False,
                     "channels": {"sms": True, "push": True, "email": True, "inapp": True},
                     "topics": {"digest": False, "promotions": True}}
    r = api.put("/v1/contacts/pref/preferences", json={"channels": {"sms": False}, "topics": {"digest": True}})
    assert r.get_json()["channels"]["sms"] is False
    assert r.get_json()["topics"] == {"digest": True, "promotions": True}
    r = api.put("/v1/contacts/pref/preferences", json={"unsubscribed_all": True})
    assert r.get_json()["unsubscribed_all"] is True
    assert r.get_json()["channels"]["sms"] is False, "earlier choices stay"
    assert problem_fields(api.put("/v1/contacts/pref/preferences", json={"topics": {"nope": True}})) == {"topics.nope"}
    assert problem_fields(api.put("/v1/contacts/pref/preferences", json={"channels": {"fax": True}})) == {"channels.fax.key"}


def test_topics_crud_and_conflict(api):
    assert api.post("/v1/topics", json={"key": "promotions", "name": "P"}).status_code == 201
    assert api.post("/v1/topics", json={"key": "promotions", "name": "P"}).status_code == 409
    assert problem_fields(api.post("/v1/topics", json={"key": "Bad Key", "name": "x"})) == {"key"}
    assert api.patch("/v1/topics/promotions", json={"default_opt_in": False}).get_json()["default_opt_in"] is False
    assert [t["key"] for t in api.get("/v1/topics").get_json()] == ["promotions"]
