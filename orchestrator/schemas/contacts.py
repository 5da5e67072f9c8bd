"""Request and response schemas for contacts, devices, preferences, topics and events."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from orchestrator.models.contacts import CHANNEL_KEYS
from orchestrator.schemas.fields import (
    LATEST_SCHEDULED, AwareDateTime, Email, JsonObject, LocaleTag, Phone, Text, TimeZone,
)

MAX_CONTACT_BATCH = 10_000
MAX_EVENT_BATCH = 1_000

external_id = Text(required=True, validate=validate.Length(min=1, max=255))


class ContactFieldsSchema(Schema):
    email = Email(allow_none=True, validate=validate.Length(max=320))
    phone = Phone(allow_none=True)
    locale = LocaleTag(allow_none=True)
    timezone = TimeZone(allow_none=True)
    attributes = JsonObject(
        metadata={"description": "Merged into the stored attributes; a null value removes a key."}
    )


class ContactUpsertSchema(ContactFieldsSchema):
    external_id = Text(required=True, validate=validate.Length(min=1, max=255))


class ContactPatchSchema(ContactFieldsSchema):
    pass


class ContactBatchSchema(Schema):
    contacts = fields.List(
        fields.Nested(ContactUpsertSchema), required=True,
        validate=validate.Length(min=1, max=MAX_CONTACT_BATCH),
    )


class ContactSchema(Schema):
    external_id = fields.String()
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    locale = fields.String(allow_none=True)
    timezone = fields.String(allow_none=True)
    attributes = fields.Dict()
    unsubscribed_all = fields.Boolean()
    sms_opted_out = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ContactPageSchema(Schema):
    data = fields.List(fields.Nested(ContactSchema))
    next_cursor = fields.String(allow_none=True)


class ContactListQuerySchema(Schema):
    cursor = Text()
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    # Read as the contact's own fields are, so `(415) 555-0100` finds `+14155550100`.
    email = Email(validate=validate.Length(max=320))
    phone = Phone()
    q = Text(validate=validate.Length(min=1, max=255),
             metadata={"description": "Prefix of external_id or email."})
    updated_after = AwareDateTime()


class BatchResultSchema(Schema):
    created = fields.Integer()
    updated = fields.Integer()


class DeviceInSchema(Schema):
    token = Text(required=True, validate=validate.Length(min=1, max=4096))
    platform = Text(required=True, validate=validate.OneOf(["ios", "android", "web"]))


class DeviceSchema(Schema):
    token = fields.String()
    platform = fields.String()
    created_at = fields.DateTime()
    last_seen_at = fields.DateTime()


class TopicInSchema(Schema):
    key = Text(required=True, validate=[
        validate.Length(min=1, max=64),
        validate.Regexp(r"^[a-z0-9][a-z0-9_.-]*$", error="Lower-case letters, digits, _ . - only."),
    ])
    name = Text(required=True, validate=validate.Length(min=1, max=255))
    description = Text(load_default="", validate=validate.Length(max=1000))
    default_opt_in = fields.Boolean(load_default=True)


class TopicPatchSchema(Schema):
    name = Text(validate=validate.Length(min=1, max=255))
    description = Text(validate=validate.Length(max=1000))
    default_opt_in = fields.Boolean()


class TopicSchema(Schema):
    key = fields.String()
    name = fields.String()
    description = fields.String()
    default_opt_in = fields.Boolean()


class PreferencesSchema(Schema):
    unsubscribed_all = fields.Boolean(
        metadata={"description": "Global unsubscribe: no marketing on any channel."})
    channels = fields.Dict(keys=Text(validate=validate.OneOf(CHANNEL_KEYS)),
                           values=fields.Boolean())
    topics = fields.Dict(keys=Text(validate=validate.Length(min=1, max=64)),
                         values=fields.Boolean())


class EventInSchema(Schema):
    external_id = Text(required=True, validate=validate.Length(min=1, max=255))
    name = Text(required=True, validate=validate.Length(min=1, max=255))
    properties = JsonObject(load_default=dict)
    timestamp = AwareDateTime(before=LATEST_SCHEDULED, metadata={"description": "When it happened; now when absent."})
    id = Text(validate=validate.Length(min=1, max=255),
              metadata={"description": "De-duplication id: a repeat is accepted and ignored."})


class EventBatchSchema(Schema):
    """Either one event (its fields at the top level) or `{"events": [...]}`."""

    events = fields.List(fields.Nested(EventInSchema), required=True,
                         validate=validate.Length(min=1, max=MAX_EVENT_BATCH))


class EventSchema(Schema):
    name = fields.String()
    properties = fields.Dict()
    occurred_at = fields.DateTime()
    received_at = fields.DateTime()
    id = fields.String(attribute="dedup_id", allow_none=True)


class EventPageSchema(Schema):
    data = fields.List(fields.Nested(EventSchema))
    next_cursor = fields.String(allow_none=True)


class EventListQuerySchema(Schema):
    cursor = Text()
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    name = Text()


class IngestResultSchema(Schema):
    accepted = fields.Integer()
    duplicates = fields.Integer()
