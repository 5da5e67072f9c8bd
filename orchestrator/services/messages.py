"""Messages: the transactional send, reading status and timelines, listing, dead letters, retry."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from orchestrator.errors import Conflict, InvalidInput, NotFound
from orchestrator.models import Contact, Message, MessageEvent
from orchestrator.pipeline import record
from orchestrator.pipeline.deliver import deliver_batch, enqueue_recorded
from orchestrator.pipeline.dispatch import API_KEY_PREFIX, enqueue_sends
from orchestrator.pipeline.render import LoadedTemplate
from orchestrator.services import templates as template_service
from orchestrator.services.pagination import decode_cursor, encode_cursor

DEFAULT_ORDER = ("push", "sms", "email", "inapp")


def send_transactional(session: Session, *, api_key_id: int, idempotency_key: str, body: Mapping[str, Any],
                       now: datetime, before_commit: Callable[[dict], None] | None = None) -> dict:
    """Record one recipient's messages now (so the answer carries their ids) and enqueue them on
    the transactional queue. Keys are `tx:{api_key_id}:{Idempotency-Key}:{channel}`.

    `before_commit(answer)` runs inside the transaction that records the rows (the API stores
    its idempotent answer there: one commit, and never rows without their answer)."""
    try:
        version, content = template_service.load_for_send(session, body["template"])
    except (NotFound, Conflict) as error:
        raise InvalidInput.field("template", error.detail) from None
    channels = body.get("channels") or [c for c in DEFAULT_ORDER if c in content.channels]
    missing = [c for c in channels if c not in content.channels]
    if missing:
        raise InvalidInput.field("channels", f"The template has no content for {', '.join(missing)}.")
    to = body["to"]
    job: dict[str, Any] = {
        "template_key": body["template"], "template_version_id": version.id, "channels": channels,
        "strategy": body.get("strategy") or "all", "category": content.category, "topic": content.topic,
        "data": body.get("data") or {}, "key_prefix": f"{API_KEY_PREFIX}{api_key_id}:{idempotency_key}", "priority": "high",
        "send_at": body["send_at"].isoformat() if body.get("send_at") else None,
    }
    if to.get("external_id"):
        contact_id = session.scalar(select(Contact.id).where(Contact.external_id == to["external_id"]))
        if contact_id is None:
            raise InvalidInput.field("to.external_id", f"No contact with external_id {to['external_id']!r}.")
        job["contact_ids"] = [contact_id]
    else:
        job["recipients"] = [{k: to.get(k) for k in ("email", "phone", "push_token", "locale") if to.get(k)}]
    report = deliver_batch(session, job, now=now, commit=False,
                           template=LoadedTemplate(version.id, version.cache_key, content))
    reasons = _reasons(session, report)
    answer = {"messages": [{"id": m.id, "channel": m.channel, "status": m.status, "reason": reasons.get(m.id)}
                           for m in report.messages]}
    if before_commit is not None:
        before_commit(answer)
    session.commit()
    enqueue_recorded(report, now, urgent=True)
    return answer


def _reasons(session: Session, report) -> dict[int, str | None]:
    """Why a message is not simply on its way; a queued one (the usual answer) needs no query."""
    explained = [m.id for m in report.messages if m.status != "queued"]
    if not explained:
        return {}
    return dict(session.execute(select(Message.id, Message.reason).where(Message.id.in_(explained))).all())


def get_message(session: Session, message_id: int) -> dict:
    message = session.get(Message, message_id)
    if message is None:
        raise NotFound(f"No message {message_id}.")
    events = session.scalars(select(MessageEvent).where(MessageEvent.message_id == message_id)
                             .order_by(MessageEvent.at, MessageEvent.id))
    return {**describe(message), "timeline": [
        {"status": e.status, "at": e.at, "source": e.source, "detail": e.detail} for e in events]}


def describe(message: Message) -> dict:
    return {name: getattr(message, name) for name in (
        "id", "idempotency_key", "contact_id", "campaign_id", "variant", "template_key", "category", "topic",
        "channel", "address", "status", "reason", "provider_id", "error_code", "error_detail", "attempts",
        "next_attempt_at", "expires_at", "created_at", "updated_at", "sent_at", "delivered_at", "opened_at",
        "clicked_at")}


def list_messages(session: Session, *, limit: int = 50, cursor: str | None = None, contact: str | None = None,
                  campaign_id: int | None = None, channel: str | None = None, status: str | None = None,
                  reason: str | None = None, since: datetime | None = None,
                  until: datetime | None = None) -> tuple[list[dict], str | None]:
    """Newest first, with a keyset cursor."""
    query = select(Message)
    if contact is not None:
        query = query.join(Contact, Contact.id == Message.contact_id).where(Contact.external_id == contact)
    for column, value in ((Message.campaign_id, campaign_id), (Message.channel, channel),
                          (Message.status, status), (Message.reason, reason)):
        if value is not None:
            query = query.where(column == value)
    if since is not None:
        query = query.where(Message.created_at >= since)
    if until is not None:
        query = query.where(Message.created_at < until)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(Message.id < after)
    rows = list(session.scalars(query.order_by(Message.id.desc()).limit(limit + 1)))
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return [describe(m) for m in rows[:limit]], next_cursor


def retry_message(session: Session, message_id: int, now: datetime) -> dict:
    """A failed message (a dead letter) goes back to the queue: same row, a new attempt."""
    message = session.get(Message, message_id)
    if message is None:
        raise NotFound(f"No message {message_id}.")
    max_age = timedelta(seconds=current_app.config["MESSAGE_MAX_AGE"])
    moved = session.execute(
        update(Message).where(Message.id == message_id, Message.status == "failed", Message.content.is_not(None),
                                    Message.provider_id.is_(None))  # a provider-side failure would resend
        .values(status="queued", reason=None, error_code=None, error_detail=None, next_attempt_at=now,
                expires_at=now + max_age, updated_at=now)
        .returning(Message.id, Message.channel, Message.category, Message.next_attempt_at)).all()
    if not moved:
        raise Conflict(f"Message {message_id} is {message.status}; only a message that failed before the "
                       "provider took it can be retried.")
    record.add_events(session, [{"message_id": message_id, "status": "queued", "at": now, "source": "api",
                                 "detail": {"retry": "manual"}}])
    session.commit()
    enqueue_sends(moved, now, urgent=True)
    session.expire(message)
    return get_message(session, message_id)
