"""Channel adapters: one per provider behind one protocol, each with a sandbox twin."""

from channels.addresses import email_address, inbox_address, phone_number, push_token
from channels.channel import CHANNEL_KEYS, EMAIL, INAPP, LIMITS, PUSH, SMS, BatchTooLarge, Channel, Limits
from channels.envelope import Accepted, Envelope, Failed, SendResult, content_field
from channels.errors import (
    ChannelError,
    DuplicateChannel,
    InvalidAddress,
    PermanentError,
    TransientError,
    UnknownChannel,
)
from channels.fcm_push import PushChannel
from channels.inapp import InappChannel, InboxItem, InboxStore
from channels.registry import ChannelRegistry, build_registry
from channels.sandbox import OutboxEntry, OutboxSink, SandboxChannel
from channels.settings import ChannelSettings
from channels.smtp_email import EmailChannel
from channels.status import advance, may_requeue
from channels.twilio_sms import TWILIO_STATUS_MAP, SmsChannel

__all__ = [
    "CHANNEL_KEYS", "EMAIL", "INAPP", "LIMITS", "PUSH", "SMS", "TWILIO_STATUS_MAP",
    "Accepted", "BatchTooLarge", "Channel", "ChannelError", "ChannelRegistry", "ChannelSettings",
    "DuplicateChannel", "EmailChannel", "Envelope", "Failed", "InappChannel", "InboxItem",
    "InboxStore", "InvalidAddress", "Limits", "OutboxEntry", "OutboxSink", "PermanentError",
    "PushChannel", "SandboxChannel", "SendResult", "SmsChannel", "TransientError", "UnknownChannel",
    "advance", "build_registry", "content_field", "email_address", "inbox_address", "may_requeue",
    "phone_number", "push_token",
]
