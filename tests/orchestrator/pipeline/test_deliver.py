"""deliver_batch end to end on the app (SQLite and PostgreSQL) with the sandbox channels."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select, update

from orchestrator.db import db
from orchestrator.models import Contact, Device, OutboxEntry
from orchestrator.pipeline import deliver_batch
from tests.orchestrator.pipeline.conftest import add_contacts, drain, job, messages, set_preference, timeline


def test_every_decision_leaves_a_row_with_its_reason(app, template):
    normal, no_phone, unsubscribed, email_off, stopped = (
        add_contacts(1, start=0)[0], add_contacts(1, start=1, phone=False)[0],
        add_contacts(1, start=2, unsubscribed_all=True)[0], add_contacts(1, start=3)[0],
        add_contacts(1, start=4, sms_opted_out=True)[0])
    set_preference(email_off, "channel", "email", False)

    report = deliver_batch(db.session, job([normal, no_phone, unsubscribed, email_off, stopped]))

    rows = {(m.contact_id, m.channel): (m.status, m.reason) for m in messages()}
    assert rows[(normal, "sms")] == ("queued", None)
    assert rows[(no_phone, "sms")] == ("skipped", "no_address")
    assert rows[(no_phone, "push")] == ("queued", None)
    assert {rows[(unsubscribed, c)] for c in ("sms", "push", "email")} == {("suppressed", "unsubscribed")}
    assert rows[(email_off, "email")] == ("suppressed", "opted_out")
    assert rows[(stopped, "sms")] == ("suppressed", "sms_opted_out")
    assert len(rows) == 15
    assert report.by_status() == {"queued": 9, "skipped": 1, "suppressed": 5}
    assert messages(contact_id=normal, channel="email")[0].idempotency_key == f"campaign:7:0:{normal}:email"


def test_a_batch_is_sent_once_with_a_timeline_even_when_the_job_runs_again(app, template):
    ids = add_contacts(20)
    first = deliver_batch(db.session, job(ids))
    assert first.enqueued >= 3
    again = deliver_batch(db.session, job(ids))  # redelivered before any send: same rows
    assert [m.id for m in again.messages] == [m.id for m in first.messages]
    drain(app)

    rows = messages()
    assert len(rows) == 60 and {m.status for m in rows} == {"sent"}
    assert all(m.attempts == 1 and m.provider_id and m.sent_at for m in rows)
    assert timeline(rows[0].id) == ["queued", "sending", "sent"]
    assert db.session.scalar(select(func.count()).select_from(OutboxEntry)) == 60

    late = deliver_batch(db.session, job(ids))  # redelivered after the sends: nothing to do
    assert late.enqueued == 0
    drain(app)
    assert db.session.scalar(select(func.count()).select_from(OutboxEntry)) == 60


def test_transient_errors_back_off_then_expire_as_dead_letters(app, template):
    [contact] = add_contacts(1, email=False, phone=False, push=False)
    db.session.add(Device(contact_id=contact, token="sandbox-quota", platform="android"))
    db.session.commit()
    from orchestrator.pipeline import send_messages

    [row] = deliver_batch(db.session, job([contact], channels=["push"]), enqueue=False).messages
    report = send_messages(db.session, [row.id], enqueue=False)
    assert report.retried == 1
    [message] = messages()
    assert message.status == "queued" and message.attempts == 1 and message.error_code == "QUOTA_EXCEEDED"
    assert message.next_attempt_at > message.updated_at

    early = send_messages(db.session, [row.id], enqueue=False)
    assert early.claimed == 0  # not due yet

    later = message.expires_at + timedelta(seconds=1)
    expired = send_messages(db.session, [row.id], enqueue=False, now=later)
    assert expired.expired == 1
    [message] = messages()
    assert (message.status, message.reason, message.attempts) == ("failed", "expired", 2)
    assert timeline(message.id) == ["queued", "sending", "queued", "sending", "failed"]


def test_a_dead_push_token_is_removed_and_the_message_falls_back_to_sms(app, template):
    [contact] = add_contacts(1, email=False, push=False)
    db.session.add(Device(contact_id=contact, token="sandbox-unregistered", platform="ios"))
    db.session.commit()

    deliver_batch(db.session, job([contact], channels=["push", "sms"], strategy="fallback",
                                  category="transactional", campaign_id=None, key_prefix="tx:1:abc"))
    assert [(m.channel, m.status) for m in messages()] == [("push", "queued")]
    drain(app)

    push, sms = messages()
    assert (push.status, push.reason) == ("failed", "UNREGISTERED")
    assert (sms.channel, sms.status, sms.reason) == ("sms", "sent", "fallback_from_push")
    assert sms.idempotency_key == "tx:1:abc:push:fallback:sms"
    assert db.session.scalar(select(func.count()).select_from(Device)) == 0


def test_a_carrier_opt_out_marks_the_number(app, template):
    [contact] = add_contacts(1, push=False, email=False)
    db.session.execute(update(Contact).where(Contact.id == contact).values(phone="+15005550004"))
    db.session.commit()
    deliver_batch(db.session, job([contact], channels=["sms"]))
    drain(app)
    [sms] = messages()
    assert (sms.status, sms.reason) == ("failed", "21610")
    assert db.session.get(Contact, contact).sms_opted_out is True


def test_frequency_caps_count_earlier_campaigns_but_not_transactional_sends(app, template):
    ids = add_contacts(3)
    cap = [{"max_messages": 1, "window_seconds": 86400, "per_channel": True}]
    deliver_batch(db.session, job(ids[:2], channels=["sms"], frequency_caps=cap, campaign_id=1))
    second = deliver_batch(db.session, job(ids, channels=["sms"], frequency_caps=cap, campaign_id=2))
    assert [(m.status) for m in second.messages] == ["skipped", "skipped", "queued"]
    assert {m.reason for m in messages(campaign_id=2, status="skipped")} == {"capped"}

    receipt = deliver_batch(db.session, job(ids[:1], channels=["sms"], frequency_caps=cap, campaign_id=None,
                                            key_prefix="tx:1:r", category="transactional"))
    assert [m.status for m in receipt.messages] == ["queued"]


def test_quiet_hours_defer_marketing_in_the_contacts_zone_but_not_transactional(app, template):
    [contact] = add_contacts(1, timezone="Asia/Tokyo")
    now = datetime(2026, 3, 2, 13, 30, tzinfo=timezone.utc)  # 22:30 in Tokyo
    quiet = {"start": "21:00", "end": "08:00"}
    marketing = deliver_batch(db.session, job([contact], channels=["sms"], quiet_hours=quiet), now=now)
    [row] = marketing.messages
    assert row.status == "deferred"
    assert row.next_attempt_at == datetime(2026, 3, 2, 23, 0, tzinfo=timezone.utc)  # 08:00 Tokyo
    assert messages()[0].reason == "quiet_hours_deferred"
    assert marketing.enqueued == 0  # hours away: the sweeper sends it when it comes due

    otp = deliver_batch(db.session, job([contact], channels=["sms"], quiet_hours=quiet, campaign_id=None,
                                        key_prefix="tx:1:otp", category="transactional"), now=now)
    assert [m.status for m in otp.messages] == ["queued"]


def test_a_holdout_contact_gets_a_row_but_no_message(app, template):
    [contact] = add_contacts(1)
    report = deliver_batch(db.session, job([contact], variants={str(contact): "holdout"}))
    assert [(m.status, m.channel) for m in report.messages] == [("skipped", "push")]
    assert messages()[0].reason == "holdout"


def test_the_bulk_path_records_its_rows_claimed_and_sends_them_itself(app, template):
    ids = add_contacts(20)
    report = deliver_batch(db.session, job(ids), send_now=True)

    assert report.enqueued == 0 and report.sent.sent == 60
    assert app.extensions["chorus_broker"].queues["bulk"].qsize() == 0  # no send_messages hop
    rows = messages()
    assert len(rows) == 60 and {m.status for m in rows} == {"sent"}
    assert all(m.attempts == 1 and m.provider_id and m.sent_at for m in rows)
    assert timeline(rows[0].id) == ["sending", "sent"]
    again = deliver_batch(db.session, job(ids), send_now=True)  # redelivered: nothing goes twice
    assert again.sent.claimed == 0 and [m.id for m in again.messages] == [m.id for m in report.messages]
    assert db.session.scalar(select(func.count()).select_from(OutboxEntry)) == 60


def test_the_bulk_path_hands_a_rate_limited_channel_to_the_senders(app, template, monkeypatch):
    monkeypatch.setitem(app.config, "CHANNEL_RATES", "sms=1")
    ids = add_contacts(150, email=False, push=False)  # two SMS chunks; the second would wait ~99 s
    report = deliver_batch(db.session, job(ids), send_now=True)

    assert report.sent.sent == 100
    waiting = messages(status="queued")
    assert len(waiting) == 50 and all(m.channel == "sms" for m in waiting)
    assert timeline(waiting[0].id) == ["sending", "queued"]
    assert app.extensions["chorus_broker"].queues["bulk"].qsize() >= 1


def test_the_bulk_path_hands_slow_sends_to_the_senders_well_inside_the_sweepers_timeout(app, template, monkeypatch):
    monkeypatch.setitem(app.config, "SENDING_TIMEOUT_SECONDS", 0)  # out of inline time at once
    ids = add_contacts(20)
    report = deliver_batch(db.session, job(ids), send_now=True)

    assert report.sent.sent == 0
    rows = messages()
    assert {m.status for m in rows} == {"queued"} and timeline(rows[0].id) == ["sending", "queued"]
    drain(app)
    assert {m.status for m in messages()} == {"sent"}
    assert db.session.scalar(select(func.count()).select_from(OutboxEntry)) == 60
    assert {m.attempts for m in messages()} == {1}  # the handed-over claim was no attempt
