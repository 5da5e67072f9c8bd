"""Triggered campaigns on both databases: entry on ingest, delay, exit event, re-entry, audience
at send time, and zero delay sent right after the commit."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from orchestrator.db import db
from orchestrator.models import Message, TriggerEntry
from orchestrator.services import campaigns as service
from orchestrator.services import segments, triggers
from orchestrator.services.events import ingest_events
from tests.orchestrator.pipeline.conftest import add_contacts, drain, make_template

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
CART = {"event_name": "cart_updated", "where": [{"property": "total", "op": "gte", "value": 10}],
        "delay_seconds": 3600, "exit_event": {"name": "order_completed"}, "reentry": "once"}


@pytest.fixture(autouse=True)
def clean_broker(app):
    app.extensions["chorus_broker"].flush_all()
    yield
    app.extensions["chorus_broker"].flush_all()


def triggered(trigger=CART, **overrides) -> int:
    make_template()
    body = {"name": "Cart", "template": "welcome", "channels": ["email"], "trigger": trigger, **overrides}
    campaign = service.create_campaign(db.session, **body)
    db.session.commit()
    service.launch(db.session, campaign.id)
    return campaign.id


def track(external_id: str, name: str, at: datetime, **properties) -> None:
    ingest_events(db.session, [{"external_id": external_id, "name": name, "timestamp": at, "properties": properties}])
    db.session.commit()


def entries() -> list[tuple[str, str]]:
    db.session.expire_all()
    return [(e.status, e.due_at) for e in db.session.scalars(select(TriggerEntry).order_by(TriggerEntry.id))]


def due(now: datetime) -> dict:
    ids = db.session.scalars(select(TriggerEntry.id)).all()
    return triggers.send_entries(db.session, ids, now=now, enqueue=False)


def test_cart_abandonment_waits_then_sends_unless_the_order_came(app):
    add_contacts(2, phone=False)
    campaign_id = triggered()
    track("c0", "cart_updated", T0, total=25)
    track("c1", "cart_updated", T0, total=40)
    track("c1", "cart_updated", T0, total=5)  # below the filter: no entry
    assert [status for status, _ in entries()] == ["pending", "pending"]
    assert entries()[0][1] == T0 + timedelta(hours=1)

    assert due(T0 + timedelta(minutes=59)) == {}  # not due yet
    track("c1", "order_completed", T0 + timedelta(minutes=30))
    assert due(T0 + timedelta(hours=1)) == {"sent": 1, "exited": 1}
    [message] = db.session.scalars(select(Message).where(Message.campaign_id == campaign_id)).all()
    assert message.contact_id == db.session.scalar(select(TriggerEntry.contact_id).where(TriggerEntry.status == "sent"))
    assert message.idempotency_key.startswith(f"campaign:{campaign_id}:t")
    assert due(T0 + timedelta(hours=2)) == {}  # sent once


def test_an_exit_before_entry_does_not_count(app):
    add_contacts(1, phone=False)
    triggered()
    track("c0", "order_completed", T0 - timedelta(minutes=5))
    track("c0", "cart_updated", T0, total=25)
    assert due(T0 + timedelta(hours=1)) == {"sent": 1}


def test_reentry_once_ever_or_every_n_days(app):
    add_contacts(2, phone=False)
    once = triggered()
    every = service.create_campaign(db.session, name="Weekly", template="welcome", channels=["email"],
                                    trigger={**CART, "reentry": {"every_days": 7}})
    db.session.commit()
    service.launch(db.session, every.id)
    for day in (0, 3, 8):
        track("c0", "cart_updated", T0 + timedelta(days=day), total=20)
    by_campaign = {}
    for entry in db.session.scalars(select(TriggerEntry).order_by(TriggerEntry.id)):
        by_campaign.setdefault(entry.campaign_id, []).append(entry.entered_at)
    assert by_campaign[once] == [T0]
    assert by_campaign[every.id] == [T0, T0 + timedelta(days=8)]


def test_the_audience_is_checked_at_send_time(app):
    add_contacts(2, phone=False)
    vip = segments.create_segment(db.session, name="VIP", rules={"field": "attributes.vip", "op": "eq", "value": True})
    db.session.commit()
    triggered(segment_id=vip.id)
    track("c0", "cart_updated", T0, total=25)
    track("c1", "cart_updated", T0, total=25)
    from orchestrator.services.contacts import upsert_contacts

    upsert_contacts(db.session, [{"external_id": "c1", "attributes": {"vip": True}}])
    db.session.commit()
    assert due(T0 + timedelta(hours=1)) == {"sent": 1, "skipped": 1}


def test_paused_campaigns_hold_entries_and_draft_ones_take_none(app):
    add_contacts(1, phone=False)
    campaign_id = triggered()
    track("c0", "cart_updated", T0, total=25)
    service.pause(db.session, campaign_id)
    assert due(T0 + timedelta(hours=1)) == {"held": 1}
    track("c0", "cart_updated", T0 + timedelta(minutes=1), total=25)  # not running: no entry
    assert len(entries()) == 1
    service.resume(db.session, campaign_id)
    assert due(T0 + timedelta(hours=1)) == {"sent": 1}


def test_zero_delay_is_sent_right_after_the_commit(app):
    add_contacts(1, phone=False)
    campaign_id = triggered(trigger={"event_name": "back_in_stock"})
    track("c0", "back_in_stock", datetime.now(timezone.utc), sku="X1")
    drain(app)
    assert [s for s, _ in entries()] == ["sent"]
    assert db.session.scalar(select(Message.status).where(Message.campaign_id == campaign_id)) == "sent"


def test_the_scheduler_hands_out_due_entries_once_until_they_go_stale(app):
    add_contacts(1, phone=False)
    triggered()
    track("c0", "cart_updated", T0, total=25)
    assert triggers.hand_out_due(db.session, T0) == []
    assert len(triggers.hand_out_due(db.session, T0 + timedelta(hours=1))) == 1
    assert triggers.hand_out_due(db.session, T0 + timedelta(hours=1, seconds=5)) == []
    assert len(triggers.hand_out_due(db.session, T0 + timedelta(hours=1) + triggers.REDELIVER_AFTER * 2)) == 1
