"""The channel registry the pipeline sends through, and the null adapters of the benchmarks.

`CHORUS_CHANNELS_NULL=true` swaps every channel for a `NullChannel` that accepts instantly and
sends nothing. It exists only so bench/fanout.py can measure Chorus's own cost; never use it
for real traffic (messages would be marked sent).
"""
from __future__ import annotations

import threading
from typing import ClassVar, Sequence

from channels import LIMITS, Accepted, ChannelRegistry, Envelope, SendResult
from channels.addresses import VALIDATORS
from orchestrator.services.channels import channels_for

_lock = threading.Lock()


class NullChannel:
    is_sandbox: ClassVar[bool] = True

    def __init__(self, key: str):
        self.key = key
        limits = LIMITS[key]
        self.max_batch = limits.max_batch
        self.max_sms_segments = limits.max_sms_segments
        self.max_payload_bytes = limits.max_payload_bytes
        self.default_rate_per_second = limits.default_rate_per_second
        self.accepted = 0

    def is_available(self) -> bool:
        return True

    def validate_address(self, address: str) -> str:
        return VALIDATORS[self.key](address)

    def send_batch(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        self.accepted += len(envelopes)
        return [Accepted(e.message_id, f"null-{e.message_id}") for e in envelopes]

    def close(self) -> None:
        pass


def null_registry() -> ChannelRegistry:
    registry = ChannelRegistry()
    for key in LIMITS:
        registry.register(NullChannel(key))
    return registry


def registry_for(app) -> ChannelRegistry:
    if not app.config.get("CHANNELS_NULL"):
        return channels_for(app)
    registry = app.extensions.get("chorus_channels")
    if registry is None:
        with _lock:
            registry = app.extensions.setdefault("chorus_channels", null_registry())
    return registry
