"""/v1/messages: the transactional send, message status and timeline, lists, dead letters, retry."""
from __future__ import annotations

import uuid

from flask import g, request
from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from orchestrator.api.auth import protect
from orchestrator.api.parsing import ID, Blueprint
from orchestrator.db import db
from orchestrator.models import utcnow
from orchestrator.schemas.fields import LATEST_SCHEDULED, AwareDateTime, Email, Id, JsonObject, LocaleTag, Phone, Text
from orchestrator.services import idempotency
from orchestrator.services import messages as service

CHANNELS = ("sms", "push", "email", "inapp")
STATUSES = ("queued", "deferred", "sending", "sent", "delivered", "opened", "clicked", "failed",
            "undelivered", "bounced", "suppressed", "skipped")

blp = Blueprint("messages", __name__, url_prefix="/v1/messages",
                description="Messages: transactional sends, delivery status and timelines.")
protect(blp)


class RecipientSchema(Schema):
    external_id = Text(validate=validate.Length(min=1, max=255),
                       metadata={"description": "A contact's external_id."})
    email = Email(validate=validate.Length(max=320))
    phone = Phone()
    push_token = Text(validate=validate.Length(min=1, max=4096))
    locale = LocaleTag()

    @validates_schema
    def _one_way(self, data, **_):
        if data.get("external_id") and len(data) > 1 + ("locale" in data):
            raise ValidationError("Give an external_id or inline addresses, not both.")
        if not any(data.get(k) for k in ("external_id", "email", "phone", "push_token")):
            raise ValidationError("Give an external_id, or an email, phone or push_token.")


class SendSchema(Schema):
    template = Text(required=True, validate=validate.Length(min=1, max=128),
                    metadata={"description": "Template key; its published version is sent."})
    to = fields.Nested(RecipientSchema, required=True)
    data = JsonObject(load_default=dict)
    channels = fields.List(Text(validate=validate.OneOf(CHANNELS)), validate=validate.Length(min=1, max=4),
                           metadata={"description": "Priority order; default: every channel the template has."})
    strategy = Text(validate=validate.OneOf(("all", "first", "fallback")), load_default="all")
    send_at = AwareDateTime(before=LATEST_SCHEDULED,
                            metadata={"description": "Send later; the messages wait as `deferred`."})

    @validates_schema
    def _distinct(self, data, **_):
        channels = data.get("channels") or []
        if len(set(channels)) != len(channels):
            raise ValidationError("A channel is listed twice.", "channels")


class MessageSummarySchema(Schema):
    id = fields.Integer()
    channel = fields.String()
    status = fields.String()
    reason = fields.String(allow_none=True)


class SendResultSchema(Schema):
    messages = fields.List(fields.Nested(MessageSummarySchema))


class TimelineEntrySchema(Schema):
    status = fields.String()
    at = fields.DateTime()
    source = fields.String()
    detail = fields.Dict()


class MessageSchema(Schema):
    id = fields.Integer()
    idempotency_key = fields.String()
    contact_id = fields.Integer(allow_none=True)
    campaign_id = fields.Integer(allow_none=True)
    variant = fields.String(allow_none=True)
    template_key = fields.String(allow_none=True)
    category = fields.String()
    topic = fields.String(allow_none=True)
    channel = fields.String()
    address = fields.String(allow_none=True)
    status = fields.String()
    reason = fields.String(allow_none=True)
    provider_id = fields.String(allow_none=True)
    error_code = fields.String(allow_none=True)
    error_detail = fields.String(allow_none=True)
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime(allow_none=True)
    expires_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)
    opened_at = fields.DateTime(allow_none=True)
    clicked_at = fields.DateTime(allow_none=True)


class MessageDetailSchema(MessageSchema):
    timeline = fields.List(fields.Nested(TimelineEntrySchema))


class MessagePageSchema(Schema):
    data = fields.List(fields.Nested(MessageSchema))
    next_cursor = fields.String(allow_none=True)


class MessageListQuerySchema(Schema):
    cursor = Text()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    contact = Text(validate=validate.Length(min=1, max=255), metadata={"description": "external_id"})
    campaign_id = Id()
    channel = Text(validate=validate.OneOf(CHANNELS))
    status = Text(validate=validate.OneOf(STATUSES))
    reason = Text(validate=validate.Length(min=1, max=64))
    since = AwareDateTime()
    until = AwareDateTime()


class DeadLetterQuerySchema(Schema):
    cursor = Text()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    channel = Text(validate=validate.OneOf(CHANNELS))


@blp.route("")
class Messages(MethodView):
    @blp.arguments(MessageListQuerySchema, location="query")
    @blp.response(200, MessagePageSchema)
    def get(self, args):
        """Messages, newest first, filtered by contact, campaign, channel, status, reason, time range."""
        rows, cursor = service.list_messages(db.session, **args)
        return {"data": rows, "next_cursor": cursor}

    @blp.arguments(SendSchema)
    @blp.response(202, SendResultSchema)
    @blp.doc(parameters=[{"in": "header", "name": "Idempotency-Key", "required": False,
                          "schema": {"type": "string", "maxLength": 255},
                          "description": "Replays within 24 hours return the first answer."}])
    def post(self, body):
        """Send a message to one recipient; answers 202 with the message id per channel."""
        now = utcnow()
        supplied = request.headers.get("Idempotency-Key")
        key = idempotency.check_key(supplied) if supplied is not None else f"auto-{uuid.uuid4()}"
        claim = None
        if supplied is not None:
            digest = idempotency.request_hash("POST", "/v1/messages", request.get_json(silent=True))
            claim = idempotency.begin(db.session, g.api_key.id, key, digest, now)
            if isinstance(claim, idempotency.Replay):
                db.session.rollback()
                return claim.body, claim.status, {"Idempotent-Replayed": "true"}

        def keep_answer(answer):  # the claim and its answer commit with the message rows
            if claim is not None:
                idempotency.finish(db.session, claim, 202, answer)

        # The claim's time joins the messages' keys: the same Idempotency-Key reused after it
        # expired is a new request, and must not find the first request's messages. (Not the
        # claim's id: SQLite hands a deleted row's id out again.)
        message_key = key if claim is None else f"{key}@{int(now.timestamp() * 1_000_000)}"
        try:
            return service.send_transactional(db.session, api_key_id=g.api_key.id, idempotency_key=message_key,
                                              body=body, now=now, before_commit=keep_answer)
        except Exception:  # a refused request frees its key: the client may fix the body and retry
            db.session.rollback()
            raise


@blp.route("/dead-letters")
class DeadLetters(MethodView):
    @blp.arguments(DeadLetterQuerySchema, location="query")
    @blp.response(200, MessagePageSchema)
    def get(self, args):
        """Messages whose transient failures outlasted CHORUS_MESSAGE_MAX_AGE (failed, reason `expired`)."""
        rows, cursor = service.list_messages(db.session, status="failed", reason="expired", **args)
        return {"data": rows, "next_cursor": cursor}


@blp.route(f"/<{ID}:message_id>")
class MessageItem(MethodView):
    @blp.response(200, MessageDetailSchema)
    def get(self, message_id):
        """A message's status and its timeline of every change."""
        return service.get_message(db.session, message_id)


@blp.route(f"/<{ID}:message_id>/retry")
class MessageRetry(MethodView):
    @blp.response(202, MessageDetailSchema)
    def post(self, message_id):
        """Queue a failed message again (same row, a new attempt, a fresh max age)."""
        return service.retry_message(db.session, message_id, utcnow())
