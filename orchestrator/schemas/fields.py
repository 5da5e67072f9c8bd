"""Marshmallow fields for the values Chorus normalises: phones, emails, zones, locales."""
from __future__ import annotations

import json
from datetime import timezone as dt_timezone
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, validate_email
from flask import current_app, has_app_context
from marshmallow import ValidationError, fields

_ZONES = frozenset(available_timezones())


class Phone(fields.String):
    """A phone number, stored in E.164; numbers without a country code use the default region."""

    def _deserialize(self, value, attr, data, **kwargs):
        raw = super()._deserialize(value, attr, data, **kwargs).strip()
        region = current_app.config["DEFAULT_PHONE_REGION"] if has_app_context() else "US"
        try:
            number = phonenumbers.parse(raw, None if raw.startswith("+") else region)
        except phonenumbers.NumberParseException as exc:
            raise ValidationError(f"Not a phone number: {exc}") from None
        if not phonenumbers.is_valid_number(number):
            raise ValidationError("Not a valid phone number.")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class Email(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        raw = super()._deserialize(value, attr, data, **kwargs).strip()
        try:
            return validate_email(raw, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValidationError(f"Not a valid email address: {exc}") from None


class TimeZone(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        raw = super()._deserialize(value, attr, data, **kwargs).strip()
        if raw not in _ZONES:
            raise ValidationError("Not an IANA time zone (for example Europe/Lisbon).")
        return raw


class LocaleTag(fields.String):
    """A BCP 47 locale tag (`pt-BR`), normalised to language-REGION form."""

    def _deserialize(self, value, attr, data, **kwargs):
        raw = super()._deserialize(value, attr, data, **kwargs).strip().replace("_", "-")
        try:
            locale = Locale.parse(raw, sep="-")
        except (UnknownLocaleError, ValueError, TypeError):
            raise ValidationError("Not a known locale (for example en, pt-BR).") from None
        return "-".join(p for p in (locale.language, locale.script, locale.territory) if p)


class AwareDateTime(fields.AwareDateTime):
    """ISO 8601 datetimes; a missing offset means UTC. Always returns UTC."""

    def __init__(self, **kwargs):
        super().__init__(default_timezone=dt_timezone.utc, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).astimezone(dt_timezone.utc)


class JsonObject(fields.Field):
    """A free JSON object with string keys, bounded in size so one row cannot bloat a table.

    Checked directly rather than through `fields.Dict(keys=...)`: this field sits on every
    event of a 1,000-event batch, and per-key field machinery was most of the request's cost.
    """

    def __init__(self, max_bytes: int = 64 * 1024, max_key_length: int = 128, **kwargs):
        super().__init__(**kwargs)
        self.max_bytes = max_bytes
        self.max_key_length = max_key_length

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("Not a JSON object.")
        for key in value:
            if not isinstance(key, str) or not key or len(key) > self.max_key_length:
                raise ValidationError(f"Keys must be 1 to {self.max_key_length} characters.")
        if len(value) and len(json.dumps(value, separators=(",", ":"))) > self.max_bytes:
            raise ValidationError(f"Larger than {self.max_bytes} bytes.")
        return value

    def _serialize(self, value, attr, obj, **kwargs):
        return value


def zone(name: str | None, default: str = "UTC") -> ZoneInfo:
    return ZoneInfo(name if name in _ZONES else default)
