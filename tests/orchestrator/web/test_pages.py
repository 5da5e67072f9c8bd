"""Dashboard, messages, outbox and audit pages with data in them; the charts they draw."""
from __future__ import annotations

from datetime import timedelta

from orchestrator.db import db
from orchestrator.models import Contact, Message, MessageEvent, OutboxEntry, utcnow
from orchestrator.web.charts import grouped_bars, horizontal_bars, nice_max, stacked_bars


def seed_messages():
    now = utcnow()
    contact = Contact(external_id="ana", attributes={})
    db.session.add(contact)
    db.session.flush()
    sms = Message(idempotency_key="a", contact_id=contact.id, channel="sms", status="delivered", address="+14155550100",
                  content={"text": "Hi Ana", "encoding": "GSM-7", "segments": 1}, sent_at=now, delivered_at=now)
    dead = Message(idempotency_key="b", contact_id=contact.id, channel="email", status="failed",
                   address="ana@example.com", error_code="550", created_at=now - timedelta(days=2),
                   content={"subject": "Spring <sale>", "preheader": "", "html": "<p>Hello</p>", "text": "Hello"})
    db.session.add_all([sms, dead])
    db.session.flush()
    db.session.add_all([MessageEvent(message_id=sms.id, status="sent", source="sandbox"),
                        MessageEvent(message_id=sms.id, status="delivered", source="sandbox"),
                        OutboxEntry(channel="email", address="ana@example.com", message_id=dead.id, provider_id="p",
                                    content={"subject": "Spring <sale>", "preheader": "", "html": "<p>Hello</p>",
                                             "text": "Hello"})])
    db.session.commit()
    return sms, dead


def test_charts_scale_to_round_maxima_and_escape_labels():
    assert [nice_max(v) for v in (0, 3, 12, 99, 101)] == [1, 5, 20, 100, 200]
    svg = stacked_bars(["<d1>", "d2"], {"sms": [1, 0], "email": [2, 3]}, "Per day")
    assert svg.count("<rect") == 3 and "&lt;d1&gt;" in svg and 'role="img"' in svg
    assert grouped_bars(["h1", "h2"], {"sent": [4, 2], "opened": [1, 0]}, "t").count("<rect") == 4
    assert horizontal_bars([("Sent", 3, "#000"), ("Delivered", 0, "#111")], "f").count("<rect") == 2


def test_empty_pages_say_what_to_do_next(as_role):
    browser = as_role("editor")
    assert "Welcome to Chorus" in browser.get("/").get_data(as_text=True)
    assert "No messages yet" in browser.get("/messages").get_data(as_text=True)
    assert "The outbox is empty" in browser.get("/outbox").get_data(as_text=True)
    assert "No dead letters" in browser.get("/messages/dead-letters").get_data(as_text=True)


def test_dashboard_draws_its_charts(as_role):
    seed_messages()
    page = as_role("viewer").get("/").get_data(as_text=True)
    assert "Welcome to Chorus" not in page
    assert page.count('<svg class="chart') == 2 and "Messages per day" in page


def test_message_log_filters_and_timeline(as_role):
    sms, dead = seed_messages()
    browser = as_role("viewer")
    page = browser.get("/messages?channel=sms").get_data(as_text=True)
    assert f"/messages/{sms.id}" in page and f"/messages/{dead.id}\"" not in page
    dead_page = browser.get("/messages/dead-letters").get_data(as_text=True)
    assert f"/messages/{dead.id}" in dead_page and f"/messages/{sms.id}\"" not in dead_page
    detail = browser.get(f"/messages/{sms.id}").get_data(as_text=True)
    assert detail.count("status-sent") >= 1 and "sms-bubble" in detail and "Hi Ana" in detail
    assert browser.get("/messages/999999").status_code == 404
    assert browser.get("/messages?cursor=garbage").status_code == 200
    assert "Retry" not in detail


def test_a_dead_letter_is_retried_by_an_editor_only(as_role):
    _, dead = seed_messages()
    viewer, editor = as_role("viewer"), as_role("editor")
    assert "Retry" not in viewer.get(f"/messages/{dead.id}").get_data(as_text=True)
    assert viewer.post(f"/messages/{dead.id}/retry").status_code == 403
    page = editor.get(f"/messages/{dead.id}").get_data(as_text=True)
    assert "Retry" in page
    assert editor.post(f"/messages/{dead.id}/retry").status_code == 302
    db.session.expire_all()
    assert db.session.get(Message, dead.id).status == "queued"
    assert "is queued again" in editor.get(f"/messages/{dead.id}").get_data(as_text=True)
    assert editor.post(f"/messages/{dead.id}/retry").status_code == 302, "a second retry is refused politely"


def test_outbox_renders_each_channel_as_it_would_look(as_role):
    seed_messages()
    page = as_role("viewer").get("/outbox?channel=email").get_data(as_text=True)
    assert 'class="email-frame"' in page and "Spring &lt;sale&gt;" in page
    assert 'sandbox="allow-same-origin"' in page and "srcdoc=\"&lt;p&gt;Hello&lt;/p&gt;\"" in page
    assert "The outbox is empty" in as_role("viewer").get("/outbox?channel=push").get_data(as_text=True)


def test_audit_log_lists_who_did_what(as_role):
    admin = as_role("admin")
    page = admin.get("/audit").get_data(as_text=True)
    assert "user.signed_in" in page and "admin@chorus.test" in page
