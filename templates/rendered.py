"""Rendered, channel-shaped output: what a channel adapter sends and a preview shows."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RenderedSms:
    text: str
    encoding: str  # "GSM-7" | "UCS-2"
    segments: int


@dataclass(frozen=True)
class RenderedPush:
    title: str
    body: str
    image_url: str | None
    deep_link: str | None
    data: dict[str, str] = field(default_factory=dict)
    sound: str | None = None
    badge: int | None = None
    priority: str | None = None
    ttl_seconds: int | None = None
    collapse_key: str | None = None
    payload_size: int = 0  # bytes of the FCM v1 message JSON, token excluded


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    preheader: str
    html: str
    text: str
    from_name: str | None = None
    from_address: str | None = None
    reply_to: str | None = None


@dataclass(frozen=True)
class RenderedAction:
    label: str
    url: str


@dataclass(frozen=True)
class RenderedInapp:
    title: str
    body: str
    image_url: str | None = None
    primary_action: RenderedAction | None = None
    secondary_action: RenderedAction | None = None


Rendered = RenderedSms | RenderedPush | RenderedEmail | RenderedInapp
