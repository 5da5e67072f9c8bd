"""apply_status: monotonic moves, timestamps, timeline rows, after-commit events, bulk order."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from channels.status import UnknownStatus
from orchestrator.db import db
from orchestrator.models import Message, MessageEvent, utcnow
from orchestrator.services import status as service
from orchestrator.services.status import StatusChange, apply_status, apply_statuses


def make_message(key="m1", status="queued", channel="email") -> Message:
    message = Message(idempotency_key=key, channel=channel, status=status)
    db.session.add(message)
    db.session.commit()
    return message


def timeline(message_id):
    return db.session.execute(select(MessageEvent.status, MessageEvent.source, MessageEvent.detail)
                              .where(MessageEvent.message_id == message_id).order_by(MessageEvent.id)).all()


def test_moves_forward_sets_timestamps_and_writes_timeline(app):
    message = make_message()
    at = utcnow()
    assert apply_status(db.session, message, "sent", at=at, source="pipeline", values={"provider_id": "p1"})
    db.session.commit()
    assert (message.status, message.provider_id) == ("sent", "p1")
    assert abs((message.sent_at - at).total_seconds()) < 1
    later = at + timedelta(seconds=5)
    assert apply_status(db.session, message, "clicked", at=later, source="tracking", detail={"url": "https://x.test"})
    db.session.commit()
    assert message.status == "clicked"
    # A click implies an open and a delivery; the send time stays the first one.
    assert message.opened_at is not None and message.delivered_at is not None and message.clicked_at is not None
    assert abs((message.sent_at - at).total_seconds()) < 1
    assert [row.status for row in timeline(message.id)] == ["sent", "clicked"]
    assert timeline(message.id)[1].detail == {"url": "https://x.test"}


def test_duplicates_and_out_of_order_never_regress(app):
    message = make_message()
    at = utcnow()
    assert apply_status(db.session, message, "delivered", at=at, source="twilio")
    assert not apply_status(db.session, message, "sent", at=at, source="twilio")
    assert not apply_status(db.session, message, "delivered", at=at, source="twilio")
    assert not apply_status(db.session, message, "failed", at=at, source="twilio")
    db.session.commit()
    assert message.status == "delivered"
    assert [row.status for row in timeline(message.id)] == ["delivered"]


def test_repeat_is_recorded_without_moving(app):
    message = make_message(status="sent")
    at = utcnow()
    assert apply_status(db.session, message, "clicked", at=at, source="tracking", detail={"url": "a"}, record_repeat=True)
    assert not apply_status(db.session, message, "clicked", at=at, source="tracking", detail={"url": "b"},
                            record_repeat=True)
    db.session.commit()
    rows = timeline(message.id)
    assert [r.detail for r in rows] == [{"url": "a"}, {"url": "b", "repeat": True}]


def test_bulk_applies_in_order_and_skips_unknown_ids(app):
    a, b = make_message("a"), make_message("b", status="sending")
    at = utcnow()
    moved = apply_statuses(db.session, [
        StatusChange(a.id, "sent", at, values={"provider_id": "pa"}),
        StatusChange(b.id, "failed", at, values={"error_code": "21211", "error_detail": "bad number"}),
        StatusChange(a.id, "delivered", at),
        StatusChange(a.id, "sent", at),
        StatusChange(999_999, "sent", at),
    ])
    db.session.commit()
    assert moved == [True, True, True, False, False]
    db.session.expire_all()
    a, b = db.session.get(Message, a.id), db.session.get(Message, b.id)
    assert (a.status, a.provider_id, a.sent_at is not None, a.delivered_at is not None) == ("delivered", "pa", True, True)
    assert (b.status, b.error_code, b.sent_at) == ("failed", "21211", None)


def test_unknown_status_and_columns_are_refused(app):
    message = make_message()
    with pytest.raises(UnknownStatus):
        apply_status(db.session, message, "teleported", at=utcnow())
    with pytest.raises(ValueError):
        apply_status(db.session, message, "sent", at=utcnow(), values={"content": {}})


def test_events_fire_after_commit_only(app):
    seen = []
    listener = service.connect(lambda kind, payload: seen.append((kind, payload["status"], payload["previous"])))
    try:
        message = make_message()
        apply_status(db.session, message, "sent", at=utcnow())
        assert seen == []
        db.session.commit()
        assert seen == [("message.sent", "sent", "queued")]
        apply_status(db.session, message, "delivered", at=utcnow())
        db.session.rollback()
        db.session.commit()
        assert seen == [("message.sent", "sent", "queued")]
    finally:
        service.disconnect(listener)
