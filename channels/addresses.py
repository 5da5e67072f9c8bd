"""Address rules per channel, shared by each real adapter and its sandbox twin."""

from __future__ import annotations

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from channels.channel import EMAIL, INAPP, PUSH, SMS
from channels.errors import InvalidAddress

MAX_PUSH_TOKEN = 4096  # devices.token column width
MAX_INBOX_ADDRESS = 255


def phone_number(address: str) -> str:
    """E.164 form of a phone number given in international form (+country...)."""
    try:
        parsed = phonenumbers.parse(address, None)
    except phonenumbers.NumberParseException as error:
        raise InvalidAddress(f"not a phone number: {error}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidAddress("not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def email_address(address: str) -> str:
    """Normalised email address; syntax only, no DNS (that belongs to the mail server)."""
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise InvalidAddress(str(error)) from None


def push_token(address: str) -> str:
    token = (address or "").strip()
    if not token or len(token) > MAX_PUSH_TOKEN or any(c.isspace() for c in token):
        raise InvalidAddress("not a push token")
    return token


def inbox_address(address: str) -> str:
    """The in-app inbox is addressed by contact id (as a string)."""
    value = str(address or "").strip()
    if not value or len(value) > MAX_INBOX_ADDRESS:
        raise InvalidAddress("not an inbox address")
    return value


VALIDATORS = {SMS: phone_number, EMAIL: email_address, PUSH: push_token, INAPP: inbox_address}
