"""The sweeper hands out again what a dead worker or a lost broker message left behind."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from orchestrator.db import db
from orchestrator.models import Contact, Message, OutboxEntry, utcnow
from orchestrator.pipeline import deliver_batch
from orchestrator.pipeline.sweeper import sweep
from tests.orchestrator.pipeline.conftest import add_contacts, drain, job, messages, set_preference, timeline


def test_rows_stuck_in_sending_and_lost_queued_rows_are_sent_once(app, template):
    ids = add_contacts(4)
    report = deliver_batch(db.session, job(ids, channels=["email"]), enqueue=False)  # broker lost them
    stuck_id, *lost = [m.id for m in report.messages]
    long_ago = utcnow() - timedelta(hours=1)
    db.session.execute(update(Message).where(Message.id == stuck_id).values(status="sending", attempts=1,
                                                                             updated_at=long_ago))
    db.session.execute(update(Message).where(Message.id.in_(lost)).values(updated_at=long_ago))
    db.session.commit()

    swept = sweep(db.session, now=utcnow(), sending_timeout=120, grace=300)
    assert (swept.stuck, swept.due) == (1, 4)
    again = sweep(db.session, now=utcnow(), sending_timeout=120, grace=300)
    assert again.due == 0  # stamped: not handed out twice within the grace period
    drain(app)

    assert {m.status for m in messages()} == {"sent"}
    assert messages(id=stuck_id)[0].attempts == 2
    assert timeline(stuck_id) == ["queued", "queued", "sending", "sent"]
    assert db.session.scalar(select(func.count()).select_from(OutboxEntry)) == 4


def test_deferred_rows_go_when_due(app, template):
    [contact] = add_contacts(1)
    later = utcnow() + timedelta(hours=3)
    deliver_batch(db.session, job([contact], channels=["sms"], send_at=later.isoformat()))
    assert sweep(db.session, now=utcnow(), sending_timeout=120, grace=300).due == 0
    assert sweep(db.session, now=later + timedelta(seconds=1), sending_timeout=120, grace=300).due == 1


def test_consent_withdrawn_while_a_message_waits_suppresses_it_when_it_comes_due(app, template):
    from orchestrator.pipeline import send_messages

    keeps, unsubscribes, texts_stop, drops_email = add_contacts(4)
    later = utcnow() + timedelta(hours=3)
    report = deliver_batch(db.session, job([keeps, unsubscribes, texts_stop, drops_email], channels=["sms", "email"],
                                           send_at=later.isoformat()), enqueue=False)
    assert {m.status for m in report.messages} == {"deferred"}
    # While they wait: a global unsubscribe, a STOP, an email opt-out.
    db.session.execute(update(Contact).where(Contact.id == unsubscribes).values(unsubscribed_all=True))
    db.session.execute(update(Contact).where(Contact.id == texts_stop).values(sms_opted_out=True))
    db.session.commit()
    set_preference(drops_email, "channel", "email", False)

    sent = send_messages(db.session, [m.id for m in report.messages], app=app, now=later + timedelta(seconds=1))

    rows = {(m.contact_id, m.channel): (m.status, m.reason) for m in messages()}
    assert rows[(keeps, "sms")][0] == rows[(keeps, "email")][0] == "sent"
    assert rows[(unsubscribes, "sms")] == rows[(unsubscribes, "email")] == ("suppressed", "unsubscribed")
    assert rows[(texts_stop, "sms")] == ("suppressed", "sms_opted_out")
    assert rows[(texts_stop, "email")][0] == "sent"
    assert rows[(drops_email, "email")] == ("suppressed", "opted_out")
    assert rows[(drops_email, "sms")][0] == "sent"
    assert sent.sent == 4
    suppressed_id = messages(contact_id=unsubscribes, channel="sms")[0].id
    assert timeline(suppressed_id) == ["deferred", "suppressed"]
