"""Errors a channel reports, as types.

A per-recipient failure never escapes ``send_batch``: the adapter catches it and returns it
inside a :class:`channels.Failed` result, so one bad address never loses the rest of a batch.
The types are exceptions all the same, so validation code can raise them and callers can
``except`` them.
"""

from __future__ import annotations


class ChannelError(Exception):
    """Base of every error a channel reports."""


class TransientError(ChannelError):
    """The provider could not take the message now; the same send may succeed later.

    ``retry_after`` is the provider's own hint in seconds (a Retry-After header), or None.
    """

    def __init__(self, reason: str, retry_after: float | None = None, code: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.code = code

    def __repr__(self) -> str:
        return f"TransientError({self.reason!r}, retry_after={self.retry_after!r}, code={self.code!r})"


class PermanentError(ChannelError):
    """Sending this message to this address will never work; do not retry.

    ``address_invalid`` tells the caller to fix the contact: drop the push token, clear or
    flag the phone number, stop mailing the address. ``opt_out`` says the recipient refused
    the channel (Twilio 21610, a STOP reply): mark the number opted out rather than invalid.
    ``code`` is short (it fits the messages.reason column): a provider code such as
    ``"21211"``, ``"UNREGISTERED"``, ``"550"``, or one of Chorus's own such as
    ``"invalid_address"``.
    """

    def __init__(self, code: str, reason: str, address_invalid: bool = False, opt_out: bool = False):
        super().__init__(f"{code}: {reason}")
        self.code = str(code)
        self.reason = reason
        self.address_invalid = address_invalid
        self.opt_out = opt_out

    def __repr__(self) -> str:
        return (
            f"PermanentError({self.code!r}, {self.reason!r}, "
            f"address_invalid={self.address_invalid!r}, opt_out={self.opt_out!r})"
        )


class InvalidAddress(PermanentError, ValueError):
    """An address that can never be delivered to on this channel (raised by validate_address)."""

    def __init__(self, reason: str):
        super().__init__("invalid_address", reason, address_invalid=True)


class UnknownChannel(LookupError):
    """A channel key that the registry does not hold."""


class DuplicateChannel(ValueError):
    """A second channel registered under a key that is already taken."""
