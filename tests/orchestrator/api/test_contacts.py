"""Contacts API: upsert, read, patch, erase, batch, list; and every kind of bad input."""
from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select

from orchestrator.db import db
from orchestrator.models import (
    AuditEntry,
    Contact,
    ContactImport,
    IdempotencyKey,
    Message,
    MessageEvent,
    WebhookDelivery,
    WebhookEndpoint,
    metadata,
    utcnow,
)
from orchestrator.pipeline.send import send_messages
from orchestrator.services import tracking, webhooks
from orchestrator.services.csv_import import import_chunk, run_import, start_import


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


def test_list_filters_read_phone_and_email_as_the_contact_fields_are(api):
    api.post("/v1/contacts", json={"external_id": "ana", "phone": "+1 415 555 0100", "email": "Ana@Example.COM"})
    for phone in ("(415) 555-0100", "+14155550100", "415.555.0100"):
        r = api.get("/v1/contacts", query_string={"phone": phone})
        assert [c["external_id"] for c in r.get_json()["data"]] == ["ana"], phone
    r = api.get("/v1/contacts", query_string={"email": " Ana@example.com "})
    assert [c["external_id"] for c in r.get_json()["data"]] == ["ana"]


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
    assert problem_fields(api.get("/v1/contacts", query_string={"phone": "not a number"})) == {"phone"}
    assert problem_fields(api.get("/v1/contacts", query_string={"limit": 5000})) == {"limit"}


ERASED_ID, ERASED_EMAIL, ERASED_PHONE = "gdpr-subject-5f1c", "erase.me.5f1c@example.com", "+14155550199"
ERASED_TOKEN = "push-token-erase-me-5f1c"
PERSONAL = (ERASED_ID, ERASED_EMAIL, ERASED_PHONE, ERASED_TOKEN)


def tables_naming(needles) -> set[tuple[str, str]]:
    """(table, needle) for every needle found in any column of any row of any table."""
    found = set()
    for table in metadata.sorted_tables:
        for row in db.session.execute(select(table)):
            text = json.dumps(list(row), default=str, ensure_ascii=False)
            found.update((table.name, needle) for needle in needles if needle in text)
    return found


def tables_with_contact(contact_id: int) -> set[str]:
    return {table.name for table in metadata.sorted_tables if "contact_id" in table.c and db.session.scalar(
        select(func.count()).select_from(table).where(table.c.contact_id == contact_id))}


def test_delete_erases_personal_data(app, api, monkeypatch):
    """Everything that names the person goes; the facts statistics and the audit trail need stay."""
    from tests.orchestrator.api.test_messages import _send
    from tests.orchestrator.pipeline.conftest import make_template
    from tests.orchestrator.webhooks.conftest import TWILIO_TOKEN, twilio_post

    make_template("otp", category="transactional")
    db.session.add(WebhookEndpoint(url="https://hooks.example.com/chorus", event_types=["*"], secret="s" * 32))
    db.session.commit()
    webhooks._subscriptions.clear()
    try:
        # Before they were a contact: an inline SMS to their number, their id in the caller's key.
        inline = _send(api, {"template": "otp", "to": {"phone": ERASED_PHONE}, "data": {"code": "1"},
                             "channels": ["sms"]}, key=f"welcome-{ERASED_ID}").json["messages"]
        # Imported from a CSV, beside a neighbour who stays, with a second (broken) row of theirs.
        upload = (f"external_id,email,phone,plan\r\n{ERASED_ID},{ERASED_EMAIL},{ERASED_PHONE},pro\r\n"
                  f"keeper,keeper@example.com,+14155550100,free\r\n{ERASED_ID},not-an-email,,\r\n")
        job = start_import(db.session, "people.csv", upload.encode())
        db.session.commit()
        assert run_import(db.session, job.id).error_rows == 1
        contact_id = db.session.scalar(select(Contact.id).where(Contact.external_id == ERASED_ID))
        assert api.post(f"/v1/contacts/{ERASED_ID}/devices", json={"token": ERASED_TOKEN, "platform": "android"}
                        ).status_code == 201
        assert api.put(f"/v1/contacts/{ERASED_ID}/preferences", json={"channels": {"sms": True}}).status_code == 200
        api.post("/v1/events", json={"external_id": ERASED_ID, "name": "app_opened",
                                     "properties": {"email": ERASED_EMAIL}})
        sent = _send(api, {"template": "otp", "to": {"external_id": ERASED_ID}, "data": {"code": "2"},
                           "channels": ["sms", "email", "push", "inapp"]}, key=f"otp-{ERASED_ID}").json["messages"]
        later = _send(api, {"template": "otp", "to": {"external_id": ERASED_ID}, "channels": ["email"],
                            "send_at": (utcnow() + timedelta(days=1)).isoformat()},
                      key=f"later-{ERASED_ID}").json["messages"]
        assert send_messages(db.session, [m["id"] for m in inline + sent], app=app, enqueue=False).sent == 5
        [email_id] = [m["id"] for m in sent if m["channel"] == "email"]
        tracking.record_click(db.session, tracking.Click(email_id, f"https://shop.example.com/?u={ERASED_EMAIL}",
                                                         True))
        tracking.unsubscribe(db.session, tracking.Unsubscribe(contact_id, email_id, None))
        db.session.commit()
        monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
        assert twilio_post(app.test_client(), "/webhooks/twilio/inbound",
                           {"From": ERASED_PHONE, "Body": "STOP"}).status_code == 200
        db.session.expire_all()
        planted = {table for table, _ in tables_naming(PERSONAL)}
        assert planted >= {"contacts", "devices", "events", "messages", "message_events", "outbox",
                           "webhook_deliveries", "audit_log", "contact_imports", "idempotency_keys", "sms_opt_outs"}
        assert tables_with_contact(contact_id) >= {"devices", "preferences", "events", "inbox_items", "messages"}
        counts = {name: db.session.scalar(select(func.count()).select_from(metadata.tables[name]))
                  for name in ("messages", "message_events", "webhook_deliveries", "audit_log")}

        assert api.delete(f"/v1/contacts/{ERASED_ID}").status_code == 204
        db.session.expire_all()

        assert api.get(f"/v1/contacts/{ERASED_ID}").status_code == 404
        # Only the number's STOP stays (a suppression list, no link to the person): it must keep working.
        assert tables_naming(PERSONAL) == {("sms_opt_outs", ERASED_PHONE)}
        assert tables_with_contact(contact_id) == set()
        # The facts stay: every message, its status and timeline, the deliveries, the audit trail.
        assert db.session.scalar(select(func.count()).select_from(Message)) == counts["messages"] == 6
        statuses = {m.id: (m.status, m.reason) for m in db.session.scalars(select(Message))}
        assert statuses[inline[0]["id"]] == ("sent", None) and statuses[email_id] == ("clicked", None)
        assert statuses[later[0]["id"]] == ("suppressed", "erased"), "a waiting message is not sent any more"
        for message in db.session.scalars(select(Message)):
            assert (message.contact_id, message.address, message.content, message.data) == (None, None, None, None)
            assert message.idempotency_key == f"erased:{message.id}"
        assert db.session.scalar(select(func.count()).select_from(MessageEvent)) == counts["message_events"] + 1
        assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) >= counts["webhook_deliveries"]
        audit = {(e.action, e.target_id): e.details for e in db.session.scalars(select(AuditEntry))}
        assert audit[("contact.unsubscribed", str(contact_id))]["message_id"] == email_id, "campaign stats count it"
        assert audit[("contact.sms_opted_out", str(contact_id))] == {"source": "inbound_sms"}
        assert ("contact.erased", str(contact_id)) in audit
        assert db.session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0
        imported = db.session.get(ContactImport, job.id)
        assert imported.source == "external_id,email,phone,plan\r\nkeeper,keeper@example.com,+14155550100,free\r\n"
        assert (imported.total_rows, imported.processed_rows, imported.created_count, imported.error_rows) == \
            (1, 1, 2, 1)
        assert [(e["row"], e["field"], e["external_id"]) for e in imported.errors] == [(4, "email", "")]
        assert api.get("/v1/contacts/keeper").get_json()["email"] == "keeper@example.com"
    finally:
        app.extensions["chorus_broker"].flush_all()
        webhooks._subscriptions.clear()


def test_an_erased_contact_in_an_import_still_running_is_not_brought_back(api):
    upload = "external_id,email\n" + "".join(f"r{i},r{i}@example.com\n" for i in range(4))
    job = start_import(db.session, "people.csv", upload.encode())
    db.session.commit()
    import_chunk(db.session, job.id, size=2)  # r0 and r1 are in, r2 and r3 wait
    assert api.delete("/v1/contacts/r0").status_code == 204
    api.post("/v1/contacts", json={"external_id": "r3", "email": "r3@example.com"})
    assert api.delete("/v1/contacts/r3").status_code == 204  # known already, and in the rows still to come
    db.session.expire_all()  # the worker reads the import afresh for its next chunk
    run_import(db.session, job.id)
    db.session.expire_all()
    assert sorted(db.session.scalars(select(Contact.external_id))) == ["r1", "r2"]
    imported = db.session.get(ContactImport, job.id)
    assert (imported.total_rows, imported.processed_rows, imported.status) == (2, 2, "done")


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
