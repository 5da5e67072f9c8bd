"""Marshmallow fields for the values Chorus normalises: phones, emails, zones, locales.

Every API input goes through one of these (or a marshmallow field that cannot carry text), so
what no database column stores is refused here, as a 422 naming the field, and never reaches
the database as a 500: NUL characters (PostgreSQL's text and JSONB refuse them), lone UTF-16
surrogates (`"\\ud800"` in JSON; no UTF-8 encodes them), NaN and ±Infinity (not JSON), instants
that overflow when moved to UTC, ids beyond a BIGINT.
"""
from __future__ import annotations

import json
import math
import re
import sys
from datetime import datetime, timezone as dt_timezone
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, validate_email
from flask import current_app, has_app_context
from marshmallow import ValidationError, fields, validate

_ZONES = frozenset(available_timezones())

NUL = "\x00"
NUL_MESSAGE = "Must not contain NUL (U+0000) characters."
SURROGATE_MESSAGE = "Must be valid Unicode: a lone surrogate (U+D800 to U+DFFF) is not a character."
NOT_FINITE_MESSAGE = "Must be a finite number (not NaN or Infinity)."
MAX_ID = 2**63 - 1  # ids are BIGINT on PostgreSQL, 64-bit INTEGER on SQLite
MAX_JSON_DEPTH = 32
# A JSON number PostgreSQL can CAST(... AS FLOAT) when a segment compares it: a double's range.
MAX_JSON_NUMBER = sys.float_info.max
# Numbers every JSON reader holds exactly (RFC 7493, I-JSON), for values compared in SQL as integers.
MAX_SAFE_INTEGER = 2**53 - 1
# Instants Chorus schedules from (an event's time, a send_at) stay well clear of year 9999, so
# adding a delay, a window or a retry age to one never overflows.
LATEST_SCHEDULED = datetime(9000, 1, 1, tzinfo=dt_timezone.utc)


def text_problem(text: str) -> str | None:
    """Why a text column cannot store `text`, or None."""
    if NUL in text:
        return NUL_MESSAGE
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return SURROGATE_MESSAGE
    return None


def unstorable(value, max_depth: int = MAX_JSON_DEPTH, max_number: float = MAX_JSON_NUMBER) -> dict | list | None:
    """What in a parsed JSON value no column can store: NUL characters and lone surrogates in
    strings or keys, non-finite numbers (NaN, Infinity, 1e999), numbers beyond `max_number` in
    magnitude, nesting deeper than `max_depth`. Answers marshmallow-shaped errors
    (`{"a": {"0": [message]}}`, so each names its path) or None.

    Iterative: a body nested a thousand deep must not end in a RecursionError."""
    errors: dict = {}
    stack = [(value, (), 0)]
    while stack:
        item, path, depth = stack.pop()
        message = None
        if isinstance(item, str):
            message = text_problem(item)
        elif isinstance(item, float) and not math.isfinite(item):
            message = NOT_FINITE_MESSAGE
        elif isinstance(item, (int, float)) and not isinstance(item, bool) and abs(item) > max_number:
            bound = max_number if isinstance(max_number, int) else f"{max_number:.6g}"
            message = f"Must be at most {bound} in magnitude."
        elif isinstance(item, (dict, list)):
            if depth >= max_depth:
                message = f"Nested deeper than {max_depth} levels."
            elif isinstance(item, list):
                stack.extend((v, path + (str(i),), depth + 1) for i, v in enumerate(item))
            elif (problem := _key_problem(item)) is not None:
                message = problem
            else:
                stack.extend((v, path + (str(k),), depth + 1) for k, v in item.items())
        if message is None:
            continue
        if not path:
            return [message]
        node = errors
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node.setdefault(path[-1], []).append(message)
    return errors or None


def _key_problem(obj: dict) -> str | None:
    for key in obj:
        problem = text_problem(key) if isinstance(key, str) else None
        if problem:
            return "Keys " + problem[0].lower() + problem[1:]
    return None


class Text(fields.String):
    """A string a text column can store (see `text_problem`). Every API string is one."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = text_problem(text)
        if problem:
            raise ValidationError(problem)
        return text


class Url(Text, fields.Url):
    """A URL with no NUL characters (marshmallow's URL check lets one through in the path) and
    a port that exists (it lets `:99999` through, which urllib then refuses to read)."""

    def _deserialize(self, value, attr, data, **kwargs):
        url = super()._deserialize(value, attr, data, **kwargs)
        try:
            urlsplit(url).port
        except ValueError as error:
            raise ValidationError(f"Not a valid URL: {error}.") from None
        return url


class Id(fields.Integer):
    """A row id: a positive integer that fits the BIGINT it is compared with."""

    def __init__(self, **kwargs):
        kwargs.setdefault("validate", validate.Range(min=1, max=MAX_ID))
        super().__init__(**kwargs)


class Phone(Text):
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


class Email(Text):
    def _deserialize(self, value, attr, data, **kwargs):
        raw = super()._deserialize(value, attr, data, **kwargs).strip()
        try:
            return validate_email(raw, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValidationError(f"Not a valid email address: {exc}") from None


class TimeZone(Text):
    def _deserialize(self, value, attr, data, **kwargs):
        raw = super()._deserialize(value, attr, data, **kwargs).strip()
        if raw not in _ZONES:
            raise ValidationError("Not an IANA time zone (for example Europe/Lisbon).")
        return raw


class LocaleTag(Text):
    """A BCP 47 locale tag (`pt-BR`), normalised to language-REGION form."""

    def _deserialize(self, value, attr, data, **kwargs):
        raw = super()._deserialize(value, attr, data, **kwargs).strip().replace("_", "-")
        try:
            locale = Locale.parse(raw, sep="-")
        except (UnknownLocaleError, ValueError, TypeError):
            raise ValidationError("Not a known locale (for example en, pt-BR).") from None
        return "-".join(p for p in (locale.language, locale.script, locale.territory) if p)


class AwareDateTime(fields.AwareDateTime):
    """ISO 8601 datetimes; a missing offset means UTC. Always returns UTC.

    `before`: the instant must be earlier (LATEST_SCHEDULED for instants Chorus computes from)."""

    def __init__(self, before: datetime | None = None, **kwargs):
        super().__init__(default_timezone=dt_timezone.utc, **kwargs)
        self.before = before

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            moment = moment.astimezone(dt_timezone.utc)
        except OverflowError:  # 0001-01-01T00:00+14:00 is before the first representable instant
            raise ValidationError("Outside the range of representable instants (years 1 to 9999 in UTC).") from None
        if self.before is not None and moment >= self.before:
            raise ValidationError(f"Must be before {self.before.isoformat().replace('+00:00', 'Z')}.")
        return moment


class JsonObject(fields.Dict):
    """A free JSON object with string keys, bounded in size so one row cannot bloat a table,
    holding nothing a JSON column refuses (see `unstorable`); errors name the nested path
    (`attributes.address.lines.0`).

    A `Dict` for the OpenAPI document (an object), but checked directly rather than through
    `fields.Dict(keys=...)`: this field sits on every event of a 1,000-event batch, and per-key
    field machinery was most of the request's cost. For the same reason the compact JSON the
    size check needs anyway answers for the usual object (see `_plainly_storable`), and only a
    suspect one is walked.
    """

    def __init__(self, max_bytes: int = 64 * 1024, max_key_length: int = 128,
                 max_depth: int = MAX_JSON_DEPTH, max_number: float = MAX_JSON_NUMBER, **kwargs):
        super().__init__(**kwargs)
        self.max_bytes = max_bytes
        self.max_key_length = max_key_length
        self.max_depth = max_depth
        self.max_number = max_number

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ValidationError("Not a JSON object.")
        for key in value:
            if not isinstance(key, str) or not key or len(key) > self.max_key_length:
                raise ValidationError(f"Keys must be 1 to {self.max_key_length} characters.")
        if value:
            encoded = _plainly_storable(value, self.max_depth, self.max_number)
            if encoded is None:
                errors = unstorable(value, self.max_depth, self.max_number)
                if errors:
                    raise ValidationError(errors)
                encoded = _compact_json(value).encode("utf-8")
            if len(encoded) > self.max_bytes:
                raise ValidationError(f"Larger than {self.max_bytes} bytes.")
        return value

    def _serialize(self, value, attr, obj, **kwargs):
        return value


_DOUBLE_DIGITS = re.compile(rb"\d{%d}" % len(str(int(MAX_JSON_NUMBER))))


def _compact_json(value, **kwargs) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, **kwargs)


def _plainly_storable(value, max_depth: int, max_number: float) -> bytes | None:
    """The compact UTF-8 JSON of `value` when a look at it shows `unstorable` would find
    nothing; None when it might (then walk the value). C-speed checks only: NaN and Infinity
    fail the dumping and a lone surrogate the UTF-8 encoding, a NUL is dumped `\\u0000`,
    nesting needs brackets, and an integer past a double's range has 309 digits. A false
    alarm only costs the walk."""
    if max_number != MAX_JSON_NUMBER:
        return None
    try:
        encoded = _compact_json(value, allow_nan=False).encode("utf-8")
    except (ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        return None
    if b"\\u0000" in encoded or encoded.count(b"[") + encoded.count(b"{") > max_depth \
            or _DOUBLE_DIGITS.search(encoded):
        return None
    return encoded


def zone(name: str | None, default: str = "UTC") -> ZoneInfo:
    return ZoneInfo(name if name in _ZONES else default)
