"""Twilio webhooks, signed by the real RequestValidator: status state machine and STOP/START/HELP."""
from __future__ import annotations

from sqlalchemy import select

from orchestrator.db import db
from orchestrator.models import AuditEntry, Contact, Message, MessageEvent, SmsOptOut
from orchestrator.services import status as status_service
from tests.orchestrator.webhooks.conftest import add_contact, add_message, twilio_post

STATUS = "/webhooks/twilio/status"
INBOUND = "/webhooks/twilio/inbound"


def callback(sid: str, status: str, **extra) -> dict:
    return {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC123", "To": "+14155552671", **extra}


def reload(message: Message) -> Message:
    db.session.expire_all()
    return db.session.get(Message, message.id)


def statuses(message: Message) -> list[str]:
    return list(db.session.scalars(select(MessageEvent.status).where(MessageEvent.message_id == message.id)
                                   .order_by(MessageEvent.id)))


def test_delivered_duplicate_and_late_sent_never_regress(twilio_app):
    client = twilio_app.test_client()
    message = add_message("s1", provider_id="SM1", status="sent")
    assert twilio_post(client, STATUS, callback("SM1", "delivered")).status_code == 200
    assert twilio_post(client, STATUS, callback("SM1", "delivered")).status_code == 200
    assert twilio_post(client, STATUS, callback("SM1", "sent")).status_code == 200
    assert twilio_post(client, STATUS, callback("SM1", "failed", ErrorCode="30001")).status_code == 200
    message = reload(message)
    assert message.status == "delivered" and message.delivered_at is not None
    assert message.error_code is None
    assert statuses(message) == ["delivered"]


def test_failed_with_carrier_code_is_undelivered_and_records_the_code(twilio_app):
    message = add_message("s2", provider_id="SM2", status="sent")
    r = twilio_post(twilio_app.test_client(), STATUS,
                    callback("SM2", "failed", ErrorCode="30006", ErrorMessage="Landline or unreachable carrier"))
    assert r.status_code == 200
    message = reload(message)
    assert (message.status, message.error_code) == ("undelivered", "30006")
    detail = db.session.scalar(select(MessageEvent.detail).where(MessageEvent.message_id == message.id))
    assert detail == {"twilio_status": "failed", "error_code": "30006"}


def test_opt_out_error_marks_the_contact(twilio_app):
    contact = add_contact("c21610", phone="+14155550100")
    add_message("s3", provider_id="SM3", status="sending", contact=contact)
    twilio_post(twilio_app.test_client(), STATUS, callback("SM3", "failed", ErrorCode="21610"))
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).sms_opted_out is True


def test_opt_out_error_on_an_inline_recipient_puts_the_number_on_the_list(twilio_app):
    message = add_message("s10", provider_id="SM10", status="sending")
    db.session.execute(Message.__table__.update().where(Message.id == message.id).values(address="+14155550131"))
    db.session.commit()
    twilio_post(twilio_app.test_client(), STATUS, callback("SM10", "failed", ErrorCode="21610"))
    db.session.expire_all()
    assert reload(message).status == "failed"
    assert db.session.get(SmsOptOut, "+14155550131").source == "twilio_error"


def test_status_change_is_announced_after_commit(twilio_app):
    seen = []
    listener = status_service.connect(lambda kind, payload: seen.append((kind, payload["message_id"])))
    try:
        message = add_message("s4", provider_id="SM4", status="sent")
        twilio_post(twilio_app.test_client(), STATUS, callback("SM4", "delivered"))
        twilio_post(twilio_app.test_client(), STATUS, callback("SM4", "delivered"))
    finally:
        status_service.disconnect(listener)
    assert seen == [("message.delivered", message.id)]


def test_unknown_sid_and_inbound_statuses_are_acknowledged(twilio_app):
    client = twilio_app.test_client()
    assert twilio_post(client, STATUS, callback("SMnope", "delivered")).status_code == 200
    assert twilio_post(client, STATUS, callback("SMnope", "received")).status_code == 200


def test_a_callback_that_outruns_the_recorded_provider_id_finds_its_message_by_the_signed_url(twilio_app):
    client = twilio_app.test_client()
    message = add_message("s8", provider_id=None, status="sending")
    r = twilio_post(client, f"{STATUS}?m={message.id}", callback("SM8", "failed", ErrorCode="30003"))
    assert r.status_code == 200
    message = reload(message)
    assert (message.status, message.provider_id, message.error_code) == ("undelivered", "SM8", "30003")
    # A later callback finds it by its sid; one naming another message's id changes nothing.
    other = add_message("s9", provider_id="SM9", status="sent")
    assert twilio_post(client, f"{STATUS}?m={other.id}", callback("SMforged", "delivered")).status_code == 200
    assert reload(other).status == "sent"


def test_bad_missing_and_foreign_signatures_are_refused(twilio_app):
    client = twilio_app.test_client()
    message = add_message("s5", provider_id="SM5", status="sent")
    params = callback("SM5", "delivered")
    assert twilio_post(client, STATUS, params, signature="").status_code == 403
    assert twilio_post(client, STATUS, params, signature="bm90IGEgc2lnbmF0dXJl").status_code == 403
    assert twilio_post(client, STATUS, params, token="another-account-token").status_code == 403
    # Signed for another host: the URL is part of what Twilio signs.
    assert twilio_post(client, STATUS, params, public_url="https://evil.test").status_code == 403
    # Signed, then a parameter changed on the way.
    from twilio.request_validator import RequestValidator

    signature = RequestValidator("twilio-test-auth-token").compute_signature("https://chorus.test" + STATUS, params)
    r = client.post(STATUS, data={**params, "MessageStatus": "read"}, headers={"X-Twilio-Signature": signature})
    assert r.status_code == 403
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert reload(message).status == "sent"


def test_query_string_is_part_of_the_signed_url(twilio_app):
    message = add_message("s6", provider_id="SM6", status="sent")
    r = twilio_post(twilio_app.test_client(), STATUS + "?tenant=a", callback("SM6", "delivered"))
    assert r.status_code == 200
    assert reload(message).status == "delivered"


def test_without_twilio_configured_the_endpoints_refuse_everything(app):
    r = twilio_post(app.test_client(), STATUS, callback("SM7", "delivered"), token="anything")
    assert r.status_code == 404


def test_stop_and_start_opt_every_contact_with_the_number_out_and_in(twilio_app):
    client = twilio_app.test_client()
    a = add_contact("a", phone="+14155550111")
    b = add_contact("b", phone="+14155550111")
    other = add_contact("c", phone="+14155550999")
    r = twilio_post(client, INBOUND, {"From": "+14155550111", "Body": "  stop ", "MessageSid": "SMin1"})
    assert r.status_code == 200
    assert r.mimetype == "text/xml" and "<Response></Response>" in r.get_data(as_text=True)
    db.session.expire_all()
    assert [db.session.get(Contact, c.id).sms_opted_out for c in (a, b, other)] == [True, True, False]
    audit = db.session.scalars(select(AuditEntry.action).where(AuditEntry.target_id.in_(["a", "b"]))).all()
    assert sorted(audit) == ["contact.sms_opted_out", "contact.sms_opted_out"]

    for word in ("Unsubscribe", "QUIT", "end", "cancel", "stopall"):
        twilio_post(client, INBOUND, {"From": "+14155550999", "Body": word})
        db.session.expire_all()
        assert db.session.get(Contact, other.id).sms_opted_out is True, word
        twilio_post(client, INBOUND, {"From": "+14155550999", "Body": "Start"})
        db.session.expire_all()
        assert db.session.get(Contact, other.id).sms_opted_out is False

    twilio_post(client, INBOUND, {"From": "+14155550111", "Body": "UNSTOP"})
    db.session.expire_all()
    assert [db.session.get(Contact, c.id).sms_opted_out for c in (a, b)] == [False, False]


def test_help_answers_the_configured_text_and_other_words_change_nothing(twilio_app, monkeypatch):
    monkeypatch.setitem(twilio_app.config, "SMS_HELP_TEXT", "Acme alerts <help@acme.test>. Reply STOP to stop.")
    client = twilio_app.test_client()
    contact = add_contact("h", phone="+14155550123")
    r = twilio_post(client, INBOUND, {"From": "+14155550123", "Body": "help"})
    assert r.get_data(as_text=True).endswith(
        "<Response><Message>Acme alerts &lt;help@acme.test&gt;. Reply STOP to stop.</Message></Response>")
    r = twilio_post(client, INBOUND, {"From": "+14155550123", "Body": "please stop sending me these"})
    assert "<Message>" not in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).sms_opted_out is False
    assert twilio_post(client, INBOUND, {"From": "+14155550123", "Body": "STOP"}, signature="").status_code == 403


def test_stop_from_a_number_no_contact_has_is_kept_and_start_clears_it(twilio_app, api):
    client = twilio_app.test_client()
    assert twilio_post(client, INBOUND, {"From": "+14155550142", "Body": "STOP"}).status_code == 200
    db.session.expire_all()
    stored = db.session.get(SmsOptOut, "+14155550142")
    assert stored is not None and stored.source == "inbound_sms" and stored.opted_out_at is not None
    # Whoever is given the number later starts opted out: one by one, in a batch, or a new number.
    assert api.post("/v1/contacts", json={"external_id": "later", "phone": "+1 415 555 0142"}
                    ).get_json()["sms_opted_out"] is True
    api.post("/v1/contacts/batch", json={"contacts": [{"external_id": "batch", "phone": "+14155550142"},
                                                      {"external_id": "clean", "phone": "+14155550143"}]})
    api.post("/v1/contacts", json={"external_id": "moved"})
    api.patch("/v1/contacts/moved", json={"phone": "+14155550142"})
    assert [api.get(f"/v1/contacts/{e}").get_json()["sms_opted_out"] for e in ("batch", "clean", "moved")] == \
        [True, False, True]

    twilio_post(client, INBOUND, {"From": "+14155550142", "Body": "start"})
    db.session.expire_all()
    assert db.session.get(SmsOptOut, "+14155550142") is None
    assert api.get("/v1/contacts/later").get_json()["sms_opted_out"] is False, "START opts its contacts in too"
    assert api.post("/v1/contacts", json={"external_id": "after", "phone": "+14155550142"}
                    ).get_json()["sms_opted_out"] is False
