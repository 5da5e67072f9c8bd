"""Twilio webhooks: message status callbacks and inbound SMS (STOP, START, HELP).

STOP (and a 21610 "recipient opted out" error) puts the number on the `sms_opt_outs` list,
whether or not a contact has it, and marks every contact with it; START takes it off again.

Both are verified with twilio's own RequestValidator against the URL Twilio signed, which is
CHORUS_PUBLIC_URL plus the path and query (behind a proxy the Host header is not the public
one). Without an auth token there is nothing to verify with, so the endpoints do not exist.
"""
from __future__ import annotations

import logging
from xml.sax.saxutils import escape

from flask import Blueprint, Response, current_app, request
from sqlalchemy import select
from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)

from channels import TWILIO_STATUS_MAP
from channels import status as machine
from orchestrator.api.problems import problem
from orchestrator.db import db
from orchestrator.models import AuditEntry, Contact, Message, utcnow
from orchestrator.services import sms_opt_outs
from orchestrator.services.channels import channel_settings
from orchestrator.services.status import apply_status, emit_after_commit

log = logging.getLogger(__name__)

bp = Blueprint("twilio_webhooks", __name__, url_prefix="/webhooks/twilio")

# Carrier-side failures: the provider took the message but it never reached the handset.
UNDELIVERED_CODES = frozenset({"30003", "30004", "30005", "30006", "30007", "30008", "30034"})
OPT_OUT_CODE = "21610"

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP", "INFO"})


def signed_url() -> str:
    """The URL Twilio computed its signature over."""
    url = current_app.config["PUBLIC_URL"].rstrip("/") + request.path
    query = request.query_string.decode("latin-1")
    return f"{url}?{query}" if query else url


@bp.before_request
def verify_signature():
    token = channel_settings().twilio_auth_token
    if not token:
        return problem(404, "Not Found", "Twilio is not configured on this Chorus.")
    signature = request.headers.get(SIGNATURE_HEADER, "")
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    if not signature or not RequestValidator(token).validate(signed_url(), request.form, signature, algorithm):
        log.warning("twilio webhook with a missing or bad signature on %s", request.path)
        return problem(403, "Forbidden", "The X-Twilio-Signature header is missing or does not match.")
    return None


def callback_status(twilio_status: str, error_code: str | None) -> str | None:
    """The Chorus status a Twilio status callback reports, or None when it is not one."""
    status = TWILIO_STATUS_MAP.get((twilio_status or "").lower())
    if status in machine.FAILURES and error_code in UNDELIVERED_CODES:
        return machine.UNDELIVERED
    return status


@bp.post("/status")
def status_callback():
    form = request.form
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    error_code = (form.get("ErrorCode") or "").strip() or None
    new_status = callback_status(form.get("MessageStatus") or form.get("SmsStatus") or "", error_code)
    if new_status is None or not sid:
        return Response(status=200)
    message = db.session.scalar(select(Message).where(Message.provider_id == sid, Message.channel == "sms"))
    values: dict = {}
    if message is None:
        message = _not_yet_recorded(request.args.get("m"))
        values = {"provider_id": sid}
    if message is None:
        # Answer 2xx anyway: Twilio would retry a message Chorus will never know.
        log.warning("twilio status for unknown message sid %s", sid)
        return Response(status=200)
    detail = {"twilio_status": form.get("MessageStatus") or form.get("SmsStatus")}
    if error_code and new_status in machine.FAILURES:
        detail["error_code"] = error_code
        values.update(error_code=error_code, error_detail=(form.get("ErrorMessage") or "")[:1000] or None)
    elif error_code:
        detail["error_code"] = error_code
    moved = apply_status(db.session, message, new_status, at=utcnow(), source="twilio", detail=detail, values=values)
    if error_code == OPT_OUT_CODE:
        sms_opt_outs.opt_out(db.session, [message.address], source="twilio_error")
        if message.contact_id is not None:
            _set_opt_out(db.session, [message.contact_id], True, source="twilio_error")
    db.session.commit()
    log.info("twilio status %s (%s)", new_status, "applied" if moved else "ignored",
             extra={"message_id": message.id, "contact_id": message.contact_id})
    return Response(status=200)


def _not_yet_recorded(message_id: str | None) -> Message | None:
    """The SMS a callback's signed URL names, while its provider id is still unrecorded (the
    sender records results a group at a time, and Twilio can be quicker)."""
    if not message_id or not message_id.isdigit():
        return None
    return db.session.scalar(select(Message).where(Message.id == int(message_id), Message.channel == "sms",
                                                   Message.provider_id.is_(None)))


def _set_opt_out(session, contact_ids: list[int], opted_out: bool, *, source: str) -> None:
    contacts = session.scalars(select(Contact).where(Contact.id.in_(contact_ids))).all()
    for contact in contacts:
        if contact.sms_opted_out == opted_out:
            continue
        contact.sms_opted_out = opted_out
        action = "contact.sms_opted_out" if opted_out else "contact.sms_opted_in"
        session.add(AuditEntry(action=action, target_type="contact", target_id=contact.external_id,
                               details={"source": source, "phone": contact.phone}))
        emit_after_commit(session, action, {"contact_id": contact.id, "external_id": contact.external_id,
                                            "phone": contact.phone, "source": source})


def twiml(text: str | None = None) -> Response:
    body = f"<Message>{escape(text)}</Message>" if text else ""
    return Response(f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>',
                    mimetype="text/xml")


def keyword(body: str) -> str:
    return (body or "").strip().strip(".!").upper()


@bp.post("/inbound")
def inbound():
    sender = (request.form.get("From") or "").strip()
    word = keyword(request.form.get("Body") or "")
    if word in STOP_WORDS or word in START_WORDS:
        opted_out = word in STOP_WORDS
        ids: list[int] = []
        if sender:
            if opted_out:
                sms_opt_outs.opt_out(db.session, [sender], source="inbound_sms")
            else:
                sms_opt_outs.opt_in(db.session, [sender])
            ids = list(db.session.scalars(select(Contact.id).where(Contact.phone == sender)))
            if ids:
                _set_opt_out(db.session, ids, opted_out, source="inbound_sms")
            db.session.commit()
        log.info("inbound %s for %d contact(s)", "STOP" if opted_out else "START", len(ids))
        # Twilio itself answers STOP/START on long codes with its standard confirmation.
        return twiml()
    if word in HELP_WORDS:
        return twiml(current_app.config["SMS_HELP_TEXT"])
    return twiml()
