"""The one protocol every channel adapter follows."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, Sequence, runtime_checkable

from channels.envelope import Envelope, SendResult

SMS, PUSH, EMAIL, INAPP = "sms", "push", "email", "inapp"
CHANNEL_KEYS: tuple[str, ...] = (SMS, PUSH, EMAIL, INAPP)


@runtime_checkable
class Channel(Protocol):
    """A way to reach a person.

    Limits are class attributes so the pipeline can size batches and rate limits before it
    builds an adapter: ``max_batch`` envelopes per ``send_batch`` call, ``max_sms_segments``
    and ``max_payload_bytes`` (None where they do not apply), ``default_rate_per_second``
    across all workers.

    ``send_batch`` returns exactly one result per envelope, in envelope order, and never
    raises for a per-recipient failure (only for a programming error such as an oversized
    batch). ``validate_address`` returns the normalised address or raises
    :class:`channels.InvalidAddress`. ``is_available`` says whether the provider credentials
    are present (a sandbox is always available; ``is_sandbox`` tells them apart).
    """

    key: ClassVar[str]
    is_sandbox: ClassVar[bool]
    max_batch: ClassVar[int]
    max_sms_segments: ClassVar[int | None]
    max_payload_bytes: ClassVar[int | None]
    default_rate_per_second: ClassVar[float]

    def validate_address(self, address: str) -> str: ...

    def is_available(self) -> bool: ...

    def send_batch(self, envelopes: Sequence[Envelope]) -> list[SendResult]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Limits:
    max_batch: int
    max_sms_segments: int | None
    max_payload_bytes: int | None
    default_rate_per_second: float

    def apply_to(self, target: Any) -> None:
        """Set the limit attributes on a channel class (or a sandbox instance)."""
        for name, value in dataclasses.asdict(self).items():
            setattr(target, name, value)


# One table, so a real adapter and its sandbox twin can never disagree.
LIMITS: dict[str, Limits] = {
    # Twilio has no batch endpoint; a batch is a run of requests on one keep-alive pool.
    # 10 segments is Twilio's advice for deliverability (their hard cap is 1600 characters).
    SMS: Limits(max_batch=100, max_sms_segments=10, max_payload_bytes=1600, default_rate_per_second=10),
    # send_each takes at most 500 messages; FCM rejects payloads over 4 KB.
    PUSH: Limits(max_batch=500, max_sms_segments=None, max_payload_bytes=4096, default_rate_per_second=1000),
    # One SMTP connection per batch; keep a batch short enough to finish within a timeout or two.
    EMAIL: Limits(max_batch=50, max_sms_segments=None, max_payload_bytes=10_000_000, default_rate_per_second=20),
    INAPP: Limits(max_batch=1000, max_sms_segments=None, max_payload_bytes=65_536, default_rate_per_second=1000),
}


class DeclaredChannel:
    """Base of the adapters: a subclass names its ``key`` and gets that key's limits from
    :data:`LIMITS` as class attributes."""

    key: ClassVar[str]
    is_sandbox: ClassVar[bool] = False
    max_batch: ClassVar[int]
    max_sms_segments: ClassVar[int | None]
    max_payload_bytes: ClassVar[int | None]
    default_rate_per_second: ClassVar[float]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "key" in cls.__dict__:
            LIMITS[cls.key].apply_to(cls)

    def is_available(self) -> bool:
        return True

    def close(self) -> None:
        pass


class BatchTooLarge(ValueError):
    """More envelopes than the channel's ``max_batch``: a bug in the caller's chunking."""


def check_batch(channel: Channel, envelopes: Sequence[Envelope]) -> None:
    if len(envelopes) > channel.max_batch:
        raise BatchTooLarge(f"{channel.key}: {len(envelopes)} envelopes > max_batch {channel.max_batch}")
