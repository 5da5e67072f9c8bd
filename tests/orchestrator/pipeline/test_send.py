"""send_messages (orchestrator.pipeline.send): which rows a job claims, and how."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, update

from orchestrator.db import db
from orchestrator.models import Contact, Message, utcnow
from orchestrator.pipeline import deliver_batch, send_messages
from orchestrator.pipeline.consent import FRESH
from orchestrator.pipeline.send import DIRECT_CLAIM_MAX
from tests.orchestrator.pipeline.conftest import add_contacts, job, messages, timeline


def statements_during(action) -> list[str]:
    seen: list[str] = []

    def note(conn, cursor, statement, *args):
        seen.append(" ".join(statement.split()))

    engine = db.session.get_bind()
    event.listen(engine, "before_cursor_execute", note)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return seen


def test_a_small_job_of_fresh_rows_is_claimed_without_reading_them_first(app, template):
    [contact] = add_contacts(1)
    deliver_batch(db.session, job([contact]), enqueue=False)
    ids = [m.id for m in messages()]
    assert len(ids) == 3 <= DIRECT_CLAIM_MAX

    seen = statements_during(lambda: send_messages(db.session, ids, app=app, enqueue=False))

    assert {m.status for m in messages()} == {"sent"} and all(m.attempts == 1 for m in messages())
    assert all(timeline(i) == ["queued", "sending", "sent"] for i in ids)
    messages_reads = [s for s in seen if s.startswith("SELECT") and "FROM messages" in s]
    assert messages_reads == [], "the claim's UPDATE ... RETURNING is the only read of the rows"
    again = send_messages(db.session, ids, app=app, enqueue=False)  # a redelivered job
    assert (again.claimed, again.sent) == (0, 0)


def test_a_small_job_still_rereads_consent_for_rows_decided_long_ago(app, template):
    fresh_contact, old_contact = add_contacts(2)
    deliver_batch(db.session, job([fresh_contact, old_contact], channels=["sms"]), enqueue=False)
    fresh, old = messages()
    long_ago = utcnow() - FRESH - timedelta(seconds=5)
    db.session.execute(update(Message).where(Message.id == old.id).values(created_at=long_ago))
    db.session.execute(update(Contact).where(Contact.id == old_contact).values(unsubscribed_all=True))
    db.session.commit()

    report = send_messages(db.session, [fresh.id, old.id], app=app, enqueue=False)

    rows = {m.id: m for m in messages()}
    assert rows[fresh.id].status == "sent" and report.sent == 1
    assert (rows[old.id].status, rows[old.id].reason) == ("suppressed", "unsubscribed")
    assert timeline(old.id) == ["queued", "suppressed"]


def test_a_large_job_claims_chunk_by_chunk_after_one_read(app, template):
    contacts = add_contacts(DIRECT_CLAIM_MAX + 1)
    deliver_batch(db.session, job(contacts, channels=["sms"]), enqueue=False)
    ids = [m.id for m in messages()]

    seen = statements_during(lambda: send_messages(db.session, ids, app=app, enqueue=False))

    assert {m.status for m in messages()} == {"sent"}
    assert len([s for s in seen if s.startswith("SELECT") and "FROM messages" in s]) == 1
