"""The number-level SMS opt-out list in the pipeline: inline `to.phone` recipients are checked
against it (one query per batch), and a carrier opt-out on an inline send writes it."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, select

from orchestrator.db import db, driver_rows
from orchestrator.models import Contact, SmsOptOut, utcnow
from orchestrator.pipeline import deliver_batch, send_messages
from orchestrator.services import sms_opt_outs
from tests.orchestrator.pipeline.conftest import add_contacts, drain, job, messages, timeline

STOPPED, OTHER, CARRIER_OPT_OUT = "+14155550161", "+14155550162", "+15005550004"


def inline_job(*recipients, **overrides) -> dict:
    return job([], **{"recipients": list(recipients), "campaign_id": None, "key_prefix": "tx:1:k",
                      "category": "transactional", **overrides})


def test_an_inline_number_that_texted_stop_is_suppressed_with_one_query_per_batch(app, template, monkeypatch):
    sms_opt_outs.opt_out(db.session, [STOPPED], source="inbound_sms")
    db.session.commit()
    lookups = []

    def count(conn, cursor, statement, *args):
        if "sms_opt_outs" in statement:
            lookups.append(statement)

    def counted_driver_rows(session, sql, params):  # PostgreSQL reads the list on the driver
        count(None, None, sql)
        return driver_rows(session, sql, params)

    monkeypatch.setattr(sms_opt_outs, "driver_rows", counted_driver_rows)
    engine = app.extensions["chorus_engine"]
    event.listen(engine, "before_cursor_execute", count)
    try:
        deliver_batch(db.session, inline_job({"phone": STOPPED, "email": "s@example.com"}, {"phone": OTHER},
                                             {"phone": STOPPED}, channels=["sms", "email"]))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(lookups) == 1
    rows = {(m.idempotency_key, m.channel): (m.status, m.reason, m.address) for m in messages()}
    assert rows[("tx:1:k:inline0:sms", "sms")] == ("suppressed", "sms_opted_out", STOPPED)
    assert rows[("tx:1:k:inline0:email", "email")] == ("queued", None, "s@example.com")
    assert rows[("tx:1:k:inline1:sms", "sms")] == ("queued", None, OTHER)
    assert rows[("tx:1:k:inline2:sms", "sms")] == ("suppressed", "sms_opted_out", STOPPED)


def test_a_carrier_opt_out_on_an_inline_send_puts_the_number_on_the_list(app, template):
    deliver_batch(db.session, inline_job({"phone": CARRIER_OPT_OUT}, channels=["sms"]))
    drain(app)
    [failed] = messages()
    assert (failed.status, failed.reason, failed.contact_id) == ("failed", "21610", None)
    stored = db.session.get(SmsOptOut, CARRIER_OPT_OUT)
    assert stored is not None and stored.source == "provider"

    deliver_batch(db.session, inline_job({"phone": CARRIER_OPT_OUT}, channels=["sms"], key_prefix="tx:1:again"))
    assert [(m.status, m.reason) for m in messages(idempotency_key="tx:1:again:sms")] == \
        [("suppressed", "sms_opted_out")]


def test_a_carrier_opt_out_on_a_contact_marks_both_the_contact_and_the_number(app, template):
    [contact] = add_contacts(1, push=False, email=False, phone=False)
    db.session.execute(Contact.__table__.update().where(Contact.id == contact).values(phone=CARRIER_OPT_OUT))
    db.session.commit()
    deliver_batch(db.session, job([contact], channels=["sms"]))
    drain(app)
    db.session.expire_all()
    assert db.session.get(Contact, contact).sms_opted_out is True
    assert db.session.get(SmsOptOut, CARRIER_OPT_OUT).source == "provider"


def test_a_waiting_inline_sms_is_suppressed_when_the_number_texts_stop_before_it_goes(app, template):
    now = utcnow()
    later = now + timedelta(hours=2)
    deliver_batch(db.session, inline_job({"phone": STOPPED}, {"phone": OTHER}, channels=["sms"],
                                         send_at=later.isoformat()), now=now)
    assert {m.status for m in messages()} == {"deferred"}
    sms_opt_outs.opt_out(db.session, [STOPPED], source="inbound_sms")
    db.session.commit()

    send_messages(db.session, [m.id for m in messages()], app=app, now=later + timedelta(seconds=1), enqueue=False)
    rows = {m.address: m for m in messages()}
    assert (rows[STOPPED].status, rows[STOPPED].reason) == ("suppressed", "sms_opted_out")
    assert timeline(rows[STOPPED].id) == ["deferred", "suppressed"]
    assert rows[OTHER].status == "sent"


def test_the_list_keeps_the_first_opt_out_and_start_removes_it(app):
    first = utcnow() - timedelta(days=3)
    sms_opt_outs.opt_out(db.session, [STOPPED, " ", None], source="inbound_sms", at=first)
    sms_opt_outs.opt_out(db.session, [STOPPED, OTHER], source="provider")
    db.session.commit()
    rows = {r.phone: (r.source, r.opted_out_at) for r in db.session.scalars(select(SmsOptOut))}
    assert rows == {STOPPED: ("inbound_sms", first), OTHER: ("provider", rows[OTHER][1])}
    assert sms_opt_outs.opted_out(db.session, [STOPPED, "+10000000000"]) == {STOPPED}
    sms_opt_outs.opt_in(db.session, [STOPPED])
    db.session.commit()
    assert sms_opt_outs.opted_out(db.session, [STOPPED, OTHER]) == {OTHER}
