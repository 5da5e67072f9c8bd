"""Contact search, the profile's single timeline, edits validated by the API's schemas."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from orchestrator.db import db
from orchestrator.models import AuditEntry, Contact, Message, utcnow
from orchestrator.services.contacts import upsert_contacts
from orchestrator.services.events import ingest_events
from orchestrator.services.preferences import read_preferences


def seed_people(count=3):
    upsert_contacts(db.session, [
        {"external_id": f"u{n}", "email": f"person{n}@example.com", "attributes": {"first_name": f"P{n}"}}
        for n in range(count)])
    db.session.commit()


def test_empty_list_tells_what_to_do(as_role):
    page = as_role("editor").get("/contacts").get_data(as_text=True)
    assert "No contacts yet" in page and "/contacts/imports/new" in page


def test_search_by_prefix_and_paginate(as_role, monkeypatch):
    from orchestrator.web import contacts as view

    monkeypatch.setattr(view, "PAGE_SIZE", 2)
    seed_people(3)
    browser = as_role("viewer")
    page = browser.get("/contacts").get_data(as_text=True)
    assert "u0" in page and "u1" in page and "u2" not in page and "Next page" in page
    assert "u2" in browser.get("/contacts?q=person2").get_data(as_text=True)
    assert "No contact matches" in browser.get("/contacts?q=zzz").get_data(as_text=True)


def test_profile_shows_events_and_messages_in_one_timeline(as_role):
    seed_people(1)
    now = utcnow()
    ingest_events(db.session, [{"external_id": "u0", "name": "order_completed",
                                "properties": {"value": 42}, "timestamp": now - timedelta(hours=2)}])
    contact = db.session.scalar(select(Contact).where(Contact.external_id == "u0"))
    db.session.add(Message(idempotency_key="k1", contact_id=contact.id, channel="sms", status="delivered",
                           template_key="welcome", created_at=now - timedelta(hours=1)))
    db.session.commit()
    page = as_role("viewer").get("/contacts/u0").get_data(as_text=True)
    assert page.index("Message #") < page.index("order_completed"), "newest first"
    assert "status-delivered" in page and "welcome" in page
    assert "Save preferences" not in page, "a viewer reads only"


def test_edit_form_shows_schema_errors_next_to_fields_and_saves_nothing(as_role):
    seed_people(1)
    browser = as_role("editor")
    response = browser.post("/contacts/u0/edit", {"email": "not-an-email", "phone": "12",
                                                   "timezone": "Mars/Olympus", "attributes": "{"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="attributes-error"' in page and "Not valid JSON" in page
    response = browser.post("/contacts/u0/edit", {"email": "not-an-email", "phone": "12",
                                                   "timezone": "Mars/Olympus"})
    page = response.get_data(as_text=True)
    for name in ("email", "phone", "timezone"):
        assert f'id="{name}-error"' in page
    assert db.session.scalar(select(Contact.email).where(Contact.external_id == "u0")) == "person0@example.com"


def test_edit_normalises_like_the_api_and_audits(as_role, users):
    seed_people(1)
    response = as_role("editor").post("/contacts/u0/edit", {
        "email": "New@Example.COM", "phone": "(415) 555-2671", "locale": "pt_br", "timezone": "",
        "attributes": '{"plan": "pro"}'})
    assert response.status_code == 302
    db.session.expire_all()
    contact = db.session.scalar(select(Contact).where(Contact.external_id == "u0"))
    assert (contact.email, contact.phone, contact.locale) == ("New@example.com", "+14155552671", "pt-BR")
    assert contact.attributes == {"first_name": "P0", "plan": "pro"}
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "contact.updated"))
    assert entry.user_id == users["editor"].id


def test_new_contact_needs_an_external_id(as_role):
    response = as_role("editor").post("/contacts/new", {"email": "a@example.com"})
    assert response.status_code == 422 and 'id="external_id-error"' in response.get_data(as_text=True)


def test_preferences_form_writes_through_the_service(as_role):
    seed_people(1)
    response = as_role("editor").post("/contacts/u0/preferences", {"channels.sms": "on", "channels.email": "on"})
    assert response.status_code == 302
    contact = db.session.scalar(select(Contact).where(Contact.external_id == "u0"))
    assert read_preferences(db.session, contact)["channels"] == {
        "sms": True, "push": False, "email": True, "inapp": False}


def test_missing_contact_is_an_html_404(as_role):
    response = as_role("viewer").get("/contacts/nobody")
    assert response.status_code == 404 and "No contact" in response.get_data(as_text=True)
