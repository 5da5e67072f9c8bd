"""Delivering in-app messages: the inbox card goes through the app's in-app channel."""
from __future__ import annotations

import dramatiq
from flask import current_app
from sqlalchemy import select

from channels import INAPP, Envelope
from channels import status as machine
from orchestrator.db import db
from orchestrator.models import Message, utcnow
from orchestrator.services.channels import channels_for
from orchestrator.services.status import StatusChange, apply_statuses


@dramatiq.actor(queue_name="transactional", max_retries=5, min_backoff=500)
def deliver_inbox_messages(message_ids: list[int]) -> None:
    """Post the cards of queued in-app messages. Idempotent: a message already past `sending`
    is skipped, and the store keeps one card per message however often this runs."""
    messages = db.session.scalars(select(Message).where(
        Message.id.in_(message_ids), Message.channel == INAPP,
        Message.status.in_((machine.QUEUED, machine.DEFERRED, machine.SENDING)))).all()
    if not messages:
        return
    envelopes = [Envelope(m.id, m.idempotency_key, str(m.contact_id), m.content or {},
                          {"data": m.data or {}, "category": m.category}) for m in messages]
    db.session.commit()  # the store writes on its own connection: hold no write lock meanwhile
    results = channels_for(current_app._get_current_object())[INAPP].send_batch(envelopes)
    now = utcnow()
    changes = []
    retry = False
    for result in results:
        if result.ok:
            changes.append(StatusChange(result.message_id, machine.SENT, now, "inapp",
                                        values={"provider_id": result.provider_id}))
        elif result.transient:
            retry = True
        else:
            changes.append(StatusChange(result.message_id, machine.FAILED, now, "inapp",
                                        detail={"error_code": result.error.code},
                                        values={"error_code": result.error.code,
                                                "error_detail": result.error.reason[:1000]}))
    apply_statuses(db.session, changes)
    db.session.commit()
    if retry:
        raise RuntimeError("the inbox store is unavailable; Dramatiq retries with back-off")
