"""The strict channel registry: one adapter per key, no duplicates, no guessing."""

from __future__ import annotations

import ssl
from typing import Any, Iterator

from channels.channel import CHANNEL_KEYS, EMAIL, INAPP, PUSH, SMS, Channel
from channels.errors import DuplicateChannel, UnknownChannel
from channels.fcm_push import PushChannel
from channels.inapp import InappChannel, InboxStore
from channels.sandbox import OutboxSink, SandboxChannel
from channels.settings import ChannelSettings
from channels.smtp_email import EmailChannel
from channels.twilio_sms import SmsChannel


class ChannelRegistry:
    def __init__(self) -> None:
        self._channels: dict[str, Channel] = {}

    def register(self, channel: Channel) -> Channel:
        if channel.key in self._channels:
            raise DuplicateChannel(channel.key)
        self._channels[channel.key] = channel
        return channel

    def get(self, key: str) -> Channel:
        try:
            return self._channels[key]
        except KeyError:
            raise UnknownChannel(key) from None

    __getitem__ = get

    def __contains__(self, key: object) -> bool:
        return key in self._channels

    def __iter__(self) -> Iterator[str]:
        return iter(self._channels)

    def keys(self) -> list[str]:
        return list(self._channels)

    def sandboxed(self) -> list[str]:
        """Keys served by a sandbox twin (the UI says so)."""
        return [key for key, channel in self._channels.items() if channel.is_sandbox]

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()


def build_registry(
    config: Any,
    outbox: OutboxSink,
    inbox: InboxStore | None = None,
    *,
    smtp_ssl_context: ssl.SSLContext | None = None,
    sandbox_only: bool = False,
) -> ChannelRegistry:
    """A registry with the real adapter for every channel whose credentials are present and
    the sandbox twin for the rest. ``config`` is anything :meth:`ChannelSettings.from_config`
    reads; in-app is real when an inbox store is given.

    ``sandbox_only`` (the demo) sandboxes every provider whatever credentials the environment
    holds: demo data must never reach a real phone or mailbox."""
    settings = ChannelSettings.from_config(config)
    live = not sandbox_only
    registry = ChannelRegistry()
    registry.register(SmsChannel(settings) if live and settings.twilio_configured else SandboxChannel(SMS, outbox))
    registry.register(PushChannel(settings) if live and settings.fcm_configured else SandboxChannel(PUSH, outbox))
    registry.register(
        EmailChannel(settings, smtp_ssl_context) if live and settings.smtp_configured
        else SandboxChannel(EMAIL, outbox)
    )
    registry.register(InappChannel(inbox) if inbox is not None else SandboxChannel(INAPP, outbox))
    missing = set(CHANNEL_KEYS) - set(registry.keys())
    if missing:  # a new key added to CHANNEL_KEYS without an adapter
        raise UnknownChannel(", ".join(sorted(missing)))
    return registry
