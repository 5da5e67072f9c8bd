"""The sandbox twin of every channel: records what would have been sent.

It is what a fresh install uses when a provider's credentials are absent, so every channel
works from the first minute and the outbox page shows the result. Addresses are validated
exactly as the real adapter does. A few magic addresses fail the way the real provider
would, for demos and tests of the failure paths (the SMS ones are Twilio's own test
numbers).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Protocol, Sequence

from channels.addresses import VALIDATORS
from channels.channel import CHANNEL_KEYS, EMAIL, LIMITS, PUSH, SMS, check_batch
from channels.envelope import Accepted, Envelope, Failed, SendResult, content_as_dict
from channels.errors import InvalidAddress, PermanentError, TransientError


@dataclass(frozen=True)
class OutboxEntry:
    channel: str
    message_id: int
    idempotency_key: str
    address: str
    content: dict[str, Any]
    metadata: Mapping[str, Any]
    provider_id: str
    recorded_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


class OutboxSink(Protocol):
    def record(self, entries: Sequence[OutboxEntry]) -> None:
        """Store the entries (the orchestrator writes them to the outbox table)."""


MAGIC_FAILURES: dict[str, dict[str, Callable[[], PermanentError | TransientError]]] = {
    SMS: {
        "+15005550001": lambda: PermanentError("21211", "invalid 'To' phone number", address_invalid=True),
        "+15005550002": lambda: PermanentError("21612", "'To' number is not reachable via SMS", address_invalid=True),
        "+15005550004": lambda: PermanentError("21610", "recipient opted out", opt_out=True),
        "+15005550009": lambda: PermanentError("21614", "'To' number is not a mobile number", address_invalid=True),
        "+15005550429": lambda: TransientError("too many requests", retry_after=1.0, code="20429"),
    },
    PUSH: {
        "sandbox-unregistered": lambda: PermanentError("UNREGISTERED", "token unregistered", address_invalid=True),
        "sandbox-quota": lambda: TransientError("quota exceeded", retry_after=1.0, code="QUOTA_EXCEEDED"),
    },
    EMAIL: {
        "bounce@sandbox.chorus.dev": lambda: PermanentError("550", "mailbox unavailable", address_invalid=True),
        "busy@sandbox.chorus.dev": lambda: TransientError("mailbox busy, try later", code="451"),
    },
}


class SandboxChannel:
    is_sandbox = True

    def __init__(self, key: str, outbox: OutboxSink):
        if key not in CHANNEL_KEYS:
            raise ValueError(f"no channel {key!r}")
        self.key = key
        self.outbox = outbox
        LIMITS[key].apply_to(self)
        self._validate = VALIDATORS[key]
        self._failures = MAGIC_FAILURES.get(key, {})

    def is_available(self) -> bool:
        return True

    def validate_address(self, address: str) -> str:
        return self._validate(address)

    def send_batch(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        check_batch(self, envelopes)
        results: list[SendResult] = []
        entries: list[OutboxEntry] = []
        for envelope in envelopes:
            try:
                address = self.validate_address(envelope.address)
            except InvalidAddress as error:
                results.append(Failed(envelope.message_id, error))
                continue
            if address in self._failures:
                results.append(Failed(envelope.message_id, self._failures[address]()))
                continue
            provider_id = f"sandbox-{uuid.uuid4()}"
            entries.append(
                OutboxEntry(
                    channel=self.key,
                    message_id=envelope.message_id,
                    idempotency_key=envelope.idempotency_key,
                    address=address,
                    content=content_as_dict(envelope.content),
                    metadata=dict(envelope.metadata),
                    provider_id=provider_id,
                )
            )
            results.append(Accepted(envelope.message_id, provider_id))
        if entries:
            try:
                self.outbox.record(entries)
            except Exception as error:  # the outbox is a database table: worth a retry
                failure = TransientError(f"outbox: {error}", code="store")
                results = [Failed(r.message_id, failure) if isinstance(r, Accepted) else r for r in results]
        return results

    def close(self) -> None:
        """The outbox belongs to the orchestrator."""
