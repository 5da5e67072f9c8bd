"""Marshmallow schemas the API loads and dumps template content with.

Channel schemas load into the content dataclasses; their ``*Fields`` bases load the same
fields into a plain dict, which is what a locale override is (any subset of the fields).
Requiredness (an email needs a subject) is left to :func:`templates.validate`, which can say
which channel, field and line; these schemas check shapes and sizes.
"""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates

from .content import (
    CATEGORIES,
    EmailContent,
    InappAction,
    InappContent,
    LocaleOverride,
    PushContent,
    SampleData,
    SmsContent,
    TemplateContent,
)
from .locales import is_locale_tag
from .push_payload import MAX_PUSH_TTL_SECONDS, PUSH_PRIORITIES

MAX_SOURCE = 1_000_000  # characters of one field's source (a long email HTML fits)
MAX_SHORT = 10_000
NAME = validate.Regexp(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", error="must be an identifier (letters, digits, _)")


def _source(max_length: int = MAX_SHORT, **kwargs) -> fields.String:
    return fields.String(validate=validate.Length(max=max_length), **kwargs)


class SmsFields(Schema):
    body = _source()


class SmsSchema(SmsFields):
    @post_load
    def make(self, data: dict, **_: object) -> SmsContent:
        return SmsContent(**data)


class PushFields(Schema):
    title = _source()
    body = _source()
    image_url = _source(2048, allow_none=True)
    deep_link = _source(2048, allow_none=True)
    data = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=256)),
        values=_source(),
        validate=validate.Length(max=100),
    )
    sound = fields.String(allow_none=True, validate=validate.Length(max=256))
    badge = fields.Integer(allow_none=True, strict=True, validate=validate.Range(min=0, max=99_999))
    priority = fields.String(allow_none=True, validate=validate.OneOf(PUSH_PRIORITIES))
    ttl_seconds = fields.Integer(allow_none=True, strict=True, validate=validate.Range(min=0, max=MAX_PUSH_TTL_SECONDS))
    # APNs caps apns-collapse-id at 64 bytes; FCM keeps at most four collapse keys a device.
    collapse_key = fields.String(allow_none=True, validate=validate.Length(min=1, max=64))


class PushSchema(PushFields):
    @post_load
    def make(self, data: dict, **_: object) -> PushContent:
        return PushContent(**data)


class EmailFields(Schema):
    subject = _source(2000)
    preheader = _source(2000)
    html = _source(MAX_SOURCE)
    text = _source(MAX_SOURCE, allow_none=True)
    from_name = _source(256, allow_none=True)
    from_address = fields.Email(allow_none=True)
    reply_to = fields.Email(allow_none=True)


class EmailSchema(EmailFields):
    @post_load
    def make(self, data: dict, **_: object) -> EmailContent:
        return EmailContent(**data)


class InappActionFields(Schema):
    label = _source(256)
    url = _source(2048)


class InappActionSchema(InappActionFields):
    @post_load
    def make(self, data: dict, **_: object) -> InappAction:
        return InappAction(**data)


class InappFields(Schema):
    title = _source()
    body = _source()
    image_url = _source(2048, allow_none=True)
    primary_action = fields.Nested(InappActionFields, allow_none=True)
    secondary_action = fields.Nested(InappActionFields, allow_none=True)


class InappSchema(InappFields):
    primary_action = fields.Nested(InappActionSchema, allow_none=True)
    secondary_action = fields.Nested(InappActionSchema, allow_none=True)

    @post_load
    def make(self, data: dict, **_: object) -> InappContent:
        return InappContent(**data)


def _blocks() -> fields.Dict:
    return fields.Dict(keys=fields.String(validate=NAME), values=_source(MAX_SOURCE))


def _variables() -> fields.Dict:
    return fields.Dict(keys=fields.String(validate=NAME), values=fields.Raw())


class LocaleOverrideSchema(Schema):
    sms = fields.Nested(SmsFields)
    push = fields.Nested(PushFields)
    email = fields.Nested(EmailFields)
    inapp = fields.Nested(InappFields)
    blocks = _blocks()
    variables = _variables()

    @validates("variables")
    def _scalars(self, value: dict, **_: object) -> None:
        _check_scalars(value)

    @post_load
    def make(self, data: dict, **_: object) -> LocaleOverride:
        return LocaleOverride(**data)


class SampleDataSchema(Schema):
    contact = fields.Dict(keys=fields.String())
    data = fields.Dict(keys=fields.String())

    @post_load
    def make(self, data: dict, **_: object) -> SampleData:
        return SampleData(**data)


class TemplateContentSchema(Schema):
    """One template version's content, as the API accepts and returns it."""

    category = fields.String(validate=validate.OneOf(CATEGORIES), load_default="marketing")
    topic = fields.String(allow_none=True, validate=validate.Length(max=64))
    sms = fields.Nested(SmsSchema, allow_none=True)
    push = fields.Nested(PushSchema, allow_none=True)
    email = fields.Nested(EmailSchema, allow_none=True)
    inapp = fields.Nested(InappSchema, allow_none=True)
    blocks = _blocks()
    variables = _variables()
    locales = fields.Dict(keys=fields.String(), values=fields.Nested(LocaleOverrideSchema))
    sample_data = fields.Nested(SampleDataSchema)

    @validates("locales")
    def _locale_tags(self, value: dict, **_: object) -> None:
        bad = [tag for tag in value if not is_locale_tag(tag)]
        if bad:
            raise ValidationError(f"not locale tags (like 'pt-BR'): {', '.join(map(repr, bad))}")

    @validates("variables")
    def _scalars(self, value: dict, **_: object) -> None:
        _check_scalars(value)

    @post_load
    def make(self, data: dict, **_: object) -> TemplateContent:
        return TemplateContent(**data)


def _check_scalars(value: dict) -> None:
    bad = [name for name, item in value.items() if not isinstance(item, (str, int, float, bool))]
    if bad:
        raise ValidationError(f"variables must be text, numbers or booleans: {', '.join(bad)}")
