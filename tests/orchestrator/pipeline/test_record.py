"""Message rows in bulk (orchestrator.pipeline.record), on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

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


@pytest.mark.parametrize("size", [3, record.COPY_ABOVE + 7], ids=["arrays", "copy"])
def test_insert_records_new_rows_with_their_first_line_and_reads_back_old_ones(app, size):
    """An API send's few rows and a broadcast's many take different roads on PostgreSQL (one
    array per column, or COPY); both write the same rows and timeline lines."""
    now = utcnow()
    contacts = add_contacts(size)

    def rows(status_of):
        return [{"idempotency_key": f"t:{i}", "channel": "sms" if i % 2 else "email", "contact_id": contact,
                 "category": "marketing", "address": f"a{i}", "content": {"text": f"hi {i}"} if i % 3 else None,
                 "fallback_channels": [{"channel": "sms"}] if i == 1 else None, **status_of(i)}
                for i, contact in enumerate(contacts)]

    first = record.insert_messages(db.session, rows(lambda i: (
        {"status": "skipped", "reason": "no_address"} if i == 0 else
        {"status": "sending", "attempts": 1} if i == 1 else {"status": "queued"})), now)
    db.session.commit()
    assert [m.created for m in first] == [True] * size
    stored = {m.idempotency_key: m for m in db.session.scalars(select(Message))}
    assert [m.id for m in first] == [stored[f"t:{i}"].id for i in range(size)]
    assert stored["t:1"].fallback_channels == [{"channel": "sms"}] and stored["t:1"].attempts == 1
    assert stored["t:2"].content == {"text": "hi 2"} and stored["t:0"].content is None
    assert stored["t:0"].reason == "no_address" and stored["t:2"].address == "a2"
    lines = dict(db.session.execute(select(MessageEvent.message_id, MessageEvent.detail)).all())
    assert lines[stored["t:0"].id] == {"reason": "no_address"} and lines[stored["t:1"].id] == {"attempt": 1}
    assert lines[stored["t:2"].id] == {} and len(lines) == size

    # A redelivery writes nothing and reports the rows as they are now, not as decided again.
    db.session.execute(update(Message).where(Message.id == stored["t:2"].id).values(status="sent"))
    db.session.commit()
    again = record.insert_messages(db.session, rows(lambda i: {"status": "queued"}), now + timedelta(seconds=1))
    db.session.commit()
    assert [m.created for m in again] == [False] * size and again[2].status == "sent" and again[0].status == "skipped"
    assert db.session.scalar(select(func.count()).select_from(MessageEvent)) == size


# PostgreSQL only: SQLite enforces no lengths (the schemas in front of it do).
@pytest.mark.parametrize("app", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
@pytest.mark.parametrize("size", [1, record.COPY_ABOVE + 1], ids=["arrays", "copy"])
@pytest.mark.parametrize("column", ["idempotency_key", "template_key"])
def test_a_value_longer_than_its_column_is_refused_not_cut_short(app, size, column):
    """Cut to 400 characters, two long keys would be one: the second message never recorded."""
    assert db.engine.dialect.name == "postgresql"
    import psycopg
    from sqlalchemy.exc import DataError

    long = {"idempotency_key": "k" * 401, "template_key": "t" * 129}[column]
    rows = [{"idempotency_key": f"long:{i}", "channel": "sms", "category": "marketing", "status": "queued",
             "template_key": "welcome", **{column: long if column == "template_key" else f"{long}{i}"}}
            for i in range(size)]
    with pytest.raises((DataError, psycopg.errors.StringDataRightTruncation)):
        record.insert_messages(db.session, rows, utcnow())
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0
