"""Request and response schemas for /v1/templates.

The content itself is the templates package's schema; category and topic sit beside it at
the top level of the template, so they are left out of the nested content.
"""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, pre_load, validate, validates_schema

from orchestrator.schemas.fields import JsonObject, LocaleTag, Text, TimeZone, unstorable
from templates.content import CATEGORIES, CHANNELS
from templates.schemas import TemplateContentSchema

KEY = validate.Regexp(r"^[a-z0-9][a-z0-9_.-]*$", error="Lower-case letters, digits, _ . - only.")
TOPIC = [validate.Length(min=1, max=64), KEY]
MAX_CONTENT_BYTES = 4 * 1024 * 1024


class TemplateBodySchema(TemplateContentSchema):
    """The content, as the templates package's schema reads it. Its fields are plain marshmallow
    ones, so what no JSON column stores (NUL characters, NaN, too deep a nesting) is refused here
    for the whole document, each error at its path (`content.sms.body`)."""

    class Meta:
        exclude = ("category", "topic")

    @pre_load
    def _storable(self, data, **_):
        errors = unstorable(data) if isinstance(data, dict) else None
        if errors:
            raise ValidationError(errors)
        return data


class TemplateCreateSchema(Schema):
    key = Text(required=True, validate=[validate.Length(min=1, max=128), KEY])
    name = Text(required=True, validate=validate.Length(min=1, max=255))
    category = Text(load_default="marketing", validate=validate.OneOf(CATEGORIES), metadata={
        "description": "`marketing` respects preferences, topics and frequency caps; `transactional` does not."})
    topic = Text(load_default=None, allow_none=True, validate=TOPIC)
    content = fields.Nested(TemplateBodySchema, required=True)


class TemplatePatchSchema(Schema):
    name = Text(validate=validate.Length(min=1, max=255))
    category = Text(validate=validate.OneOf(CATEGORIES))
    topic = Text(allow_none=True, validate=TOPIC)
    content = JsonObject(max_bytes=MAX_CONTENT_BYTES, metadata={
        "description": "A JSON Merge Patch (RFC 7396) on the latest version's content: objects merge, "
                       "null removes. A change saves a new version; the same content saves nothing."})


class TemplateQuerySchema(Schema):
    version = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))


class TemplateListQuerySchema(Schema):
    cursor = Text()
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    category = Text(validate=validate.OneOf(CATEGORIES))


class VersionListQuerySchema(Schema):
    cursor = Text()
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class PublishSchema(Schema):
    version = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1),
                             metadata={"description": "Version number; the latest when absent."})


class PreviewContactSchema(Schema):
    external_id = Text(validate=validate.Length(min=1, max=255))
    email = Text(validate=validate.Length(max=320))
    phone = Text(validate=validate.Length(max=32))
    locale = LocaleTag()
    timezone = TimeZone()
    attributes = JsonObject()


class PreviewSchema(Schema):
    version = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    external_id = Text(validate=validate.Length(min=1, max=255),
                       metadata={"description": "Render for this stored contact."})
    contact = fields.Nested(PreviewContactSchema, metadata={"description": "Or for this inline contact."})
    data = JsonObject(metadata={"description": "The trigger payload; the template's sample data when absent."})
    locale = LocaleTag(metadata={"description": "Overrides the contact's locale."})
    channels = fields.List(Text(validate=validate.OneOf(CHANNELS)),
                           validate=validate.Length(min=1, max=len(CHANNELS)))

    @validates_schema
    def _one_contact(self, data, **_):
        if "external_id" in data and "contact" in data:
            raise ValidationError("Send external_id or contact, not both.", "contact")


class IssueSchema(Schema):
    field = fields.String()
    channel = fields.String(allow_none=True)
    line = fields.Integer(allow_none=True)
    message = fields.String()
    code = fields.String()
    locale = fields.String(allow_none=True)


class TemplateSummarySchema(Schema):
    key = fields.String()
    name = fields.String()
    category = fields.String()
    topic = fields.String(allow_none=True)
    latest_version = fields.Integer(allow_none=True)
    published_version = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class TemplateSchema(TemplateSummarySchema):
    version = fields.Integer(metadata={"description": "The version whose content is shown."})
    content = fields.Nested(TemplateBodySchema)
    warnings = fields.List(fields.Nested(IssueSchema))
    publishable = fields.Boolean()
    publish_errors = fields.List(fields.Nested(IssueSchema), metadata={
        "description": "Why this version cannot be published yet (it does not render for its sample data)."})


class TemplatePageSchema(Schema):
    data = fields.List(fields.Nested(TemplateSummarySchema))
    next_cursor = fields.String(allow_none=True)


class VersionSchema(Schema):
    number = fields.Integer()
    created_at = fields.DateTime()
    hash = fields.String()
    published = fields.Boolean()
    publishable = fields.Boolean()
    warnings = fields.Integer(metadata={"description": "How many warnings validation found."})


class VersionPageSchema(Schema):
    data = fields.List(fields.Nested(VersionSchema))
    next_cursor = fields.String(allow_none=True)


class RenderedSmsSchema(Schema):
    text = fields.String()
    encoding = fields.String()
    segments = fields.Integer()


class RenderedPushSchema(Schema):
    title = fields.String()
    body = fields.String()
    image_url = fields.String(allow_none=True)
    deep_link = fields.String(allow_none=True)
    data = fields.Dict(keys=fields.String(), values=fields.String())
    sound = fields.String(allow_none=True)
    badge = fields.Integer(allow_none=True)
    priority = fields.String(allow_none=True)
    ttl_seconds = fields.Integer(allow_none=True)
    collapse_key = fields.String(allow_none=True)
    payload_size = fields.Integer(metadata={"description": "Bytes of the FCM message; FCM allows 4096."})


class RenderedEmailSchema(Schema):
    subject = fields.String()
    preheader = fields.String()
    html = fields.String()
    text = fields.String()
    from_name = fields.String(allow_none=True)
    from_address = fields.String(allow_none=True)
    reply_to = fields.String(allow_none=True)


class RenderedActionSchema(Schema):
    label = fields.String()
    url = fields.String()


class RenderedInappSchema(Schema):
    title = fields.String()
    body = fields.String()
    image_url = fields.String(allow_none=True)
    primary_action = fields.Nested(RenderedActionSchema, allow_none=True)
    secondary_action = fields.Nested(RenderedActionSchema, allow_none=True)


class RenderedChannelsSchema(Schema):
    sms = fields.Nested(RenderedSmsSchema)
    push = fields.Nested(RenderedPushSchema)
    email = fields.Nested(RenderedEmailSchema)
    inapp = fields.Nested(RenderedInappSchema)


class PreviewResultSchema(Schema):
    version = fields.Integer()
    locale = fields.String(allow_none=True, metadata={"description": "The locale rendered for."})
    locale_used = fields.String(allow_none=True, metadata={
        "description": "The locale override applied after fallback (pt-BR → pt → default); null: the default content."})
    channels = fields.Nested(RenderedChannelsSchema)
    warnings = fields.List(fields.Nested(IssueSchema))
