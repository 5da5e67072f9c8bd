"""The inbox store behind the in-app channel: one card per message, published live; user hashes."""
from __future__ import annotations

from sqlalchemy import func, select

from channels import INAPP, Envelope
from orchestrator.bus import get_bus
from orchestrator.db import db
from orchestrator.models import Contact, InboxItem, OutboxEntry
from orchestrator.services.channels import channels_for
from orchestrator.services.inbox import DbInboxStore, inbox_user_hash, live_channel, user_hash_matches
from orchestrator.services.outbox import DbOutboxSink


def test_user_hash_is_an_hmac_of_the_external_id(sqlite_app):
    h = inbox_user_hash(sqlite_app, "u1")
    assert len(h) == 64 and h != inbox_user_hash(sqlite_app, "u2")
    assert user_hash_matches(sqlite_app, "u1", h) and user_hash_matches(sqlite_app, "u1", h.upper())
    assert not user_hash_matches(sqlite_app, "u2", h) and not user_hash_matches(sqlite_app, "u1", "")


def test_app_registry_uses_the_db_inbox_and_sandboxes_the_rest(sqlite_app):
    registry = channels_for(sqlite_app)
    assert channels_for(sqlite_app) is registry
    assert sorted(registry.sandboxed()) == ["email", "push", "sms"]
    assert isinstance(registry[INAPP].store, DbInboxStore)
    assert isinstance(registry["sms"].outbox, DbOutboxSink)


def test_retried_send_keeps_one_card_and_publishes_item_and_counts(app):
    contact = Contact(external_id="ib1", attributes={})
    db.session.add(contact)
    db.session.commit()
    channel = channels_for(app)[INAPP]
    envelope = Envelope(41, "k41", str(contact.id), {"title": "Hi", "body": "There",
                                                     "primary_action": {"label": "Open", "url": "https://a.test"}})
    with get_bus(app).subscribe(live_channel(contact.id)) as live:
        first = channel.send_batch([envelope])
        second = channel.send_batch([envelope])
        assert first[0].ok and first[0].provider_id == second[0].provider_id
        item = live.get(timeout=2)
        assert item["type"] == "item" and item["item"]["title"] == "Hi"
        assert item["item"]["primary_action"] == {"label": "Open", "url": "https://a.test"}
        assert live.get(timeout=2) == {"type": "counts", "unread": 1, "unseen": 1, "total": 1}
    assert db.session.scalar(select(func.count(InboxItem.id))) == 1


def test_sandbox_sends_land_in_the_outbox(app):
    results = channels_for(app)["sms"].send_batch([
        Envelope(5, "k5", "+14155552671", {"text": "Your code is 123456", "segments": 1}),
        Envelope(6, "k6", "+15005550001", {"text": "x", "segments": 1}),
    ])
    assert [r.ok for r in results] == [True, False]
    row = db.session.scalar(select(OutboxEntry))
    assert (row.channel, row.address, row.message_id, row.provider_id) == ("sms", "+14155552671", 5, results[0].provider_id)
    assert row.content["text"] == "Your code is 123456"
