"""Message rows in bulk (orchestrator.pipeline.record), on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from orchestrator.db import db
from orchestrator.models import Message, MessageEvent, utcnow
from orchestrator.pipeline import deliver_batch, record
from orchestrator.services.status import pending_events
from tests.orchestrator.pipeline.conftest import add_contacts, job, messages, timeline


def test_a_claim_takes_the_due_waiting_rows_once_with_their_timeline(app, template):
    deliver_batch(db.session, job(add_contacts(3), channels=["sms"]))
    due, also_due, later = messages()
    now = utcnow()
    db.session.execute(update(Message).where(Message.id == later.id).values(next_attempt_at=now + timedelta(hours=1)))
    db.session.commit()

    claimed = record.claim(db.session, [later.id, also_due.id, due.id, 10**9], now)

    assert [row.id for row in claimed] == [due.id, also_due.id]
    assert all(row.attempts == 1 and row.channel == "sms" and row.content["text"].startswith("Hi c") for row in claimed)
    assert claimed[0].created_at.tzinfo is not None and claimed[0].idempotency_key == due.idempotency_key
    announced = [payload for kind, payload in pending_events(db.session) if kind == "message.sending"]
    assert [(p["message_id"], p["detail"]) for p in announced] == [(due.id, {"attempt": 1}), (also_due.id, {"attempt": 1})]
    db.session.commit()
    assert timeline(due.id) == ["queued", "sending"] and timeline(later.id) == ["queued"]
    detail = db.session.scalar(select(MessageEvent.detail).where(MessageEvent.message_id == due.id,
                                                                  MessageEvent.status == "sending"))
    assert detail == {"attempt": 1}
    assert [m.status for m in messages()] == ["sending", "sending", "queued"]

    assert record.claim(db.session, [due.id, also_due.id], now) == []  # a second worker gets nothing
    assert record.claim(db.session, [later.id], now + timedelta(hours=2))[0].id == later.id


def test_a_claim_can_be_limited_to_rows_recorded_since_a_time(app, template):
    deliver_batch(db.session, job(add_contacts(2), channels=["sms"]))
    old, new = messages()
    now = utcnow()
    db.session.execute(update(Message).where(Message.id == old.id).values(created_at=now - timedelta(minutes=5)))
    db.session.commit()

    claimed = record.claim(db.session, [old.id, new.id], now, created_since=now - timedelta(minutes=1))

    assert [row.id for row in claimed] == [new.id]
    db.session.commit()
    assert [row.id for row in record.claim(db.session, [old.id, new.id], now)] == [old.id]
