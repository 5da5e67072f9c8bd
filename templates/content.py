"""What a template version holds: per-channel content, shared blocks and variables,
per-locale overrides and sample data.

Every channel's content flattens to *field paths* (``"body"``, ``"data.order_id"``,
``"primary_action.url"``) mapped to their source. Locale overrides flatten the same way,
so resolving a locale is a per-path lookup along the fallback chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, Mapping

from .locales import locale_chain, normalize_locale

Category = Literal["marketing", "transactional"]
CATEGORIES: tuple[str, ...] = ("marketing", "transactional")
CHANNELS: tuple[str, ...] = ("sms", "push", "email", "inapp")

# Fields whose value is used as written rather than rendered as a template.
LITERAL_FIELDS: dict[str, frozenset[str]] = {
    "sms": frozenset(),
    "push": frozenset({"sound", "badge", "priority", "ttl_seconds", "collapse_key"}),
    "email": frozenset({"from_address", "reply_to"}),
    "inapp": frozenset(),
}
# Fields rendered with HTML autoescaping; everything else is plain text.
HTML_FIELDS: dict[str, frozenset[str]] = {"email": frozenset({"html"})}


@dataclass(frozen=True)
class SmsContent:
    body: str = ""


@dataclass(frozen=True)
class PushContent:
    title: str = ""
    body: str = ""
    image_url: str | None = None
    deep_link: str | None = None
    data: dict[str, str] = field(default_factory=dict)
    sound: str | None = None
    badge: int | None = None
    # Delivery options, not content: how urgently and for how long the push services try.
    priority: str | None = None  # "high" | "normal"; unset: high
    ttl_seconds: int | None = None  # unset: the push service's default (FCM: 4 weeks)
    collapse_key: str | None = None  # a newer push with the same key replaces an undelivered one


@dataclass(frozen=True)
class EmailContent:
    subject: str = ""
    preheader: str = ""
    html: str = ""
    text: str | None = None  # generated from the HTML when absent
    from_name: str | None = None
    from_address: str | None = None
    reply_to: str | None = None


@dataclass(frozen=True)
class InappAction:
    label: str = ""
    url: str = ""


@dataclass(frozen=True)
class InappContent:
    title: str = ""
    body: str = ""
    image_url: str | None = None
    primary_action: InappAction | None = None
    secondary_action: InappAction | None = None


ChannelContent = SmsContent | PushContent | EmailContent | InappContent


@dataclass(frozen=True)
class LocaleOverride:
    """Partial content for one locale: channel → {field path → source}, plus blocks and variables."""

    sms: dict[str, Any] = field(default_factory=dict)
    push: dict[str, Any] = field(default_factory=dict)
    email: dict[str, Any] = field(default_factory=dict)
    inapp: dict[str, Any] = field(default_factory=dict)
    blocks: dict[str, str] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def paths(self) -> dict[str, dict[str, Any]]:
        return {channel: flatten_fields(getattr(self, channel)) for channel in CHANNELS}


@dataclass(frozen=True)
class SampleData:
    """Data a preview and the publish check render with."""

    contact: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ResolvedField:
    path: str
    source: Any
    origin: str | None  # the locale override it came from; None for the default content


@dataclass(frozen=True)
class TemplateContent:
    """The content of one immutable template version."""

    category: Category = "marketing"
    topic: str | None = None
    sms: SmsContent | None = None
    push: PushContent | None = None
    email: EmailContent | None = None
    inapp: InappContent | None = None
    blocks: dict[str, str] = field(default_factory=dict)
    variables: dict[str, Any] = field(default_factory=dict)
    locales: dict[str, LocaleOverride] = field(default_factory=dict)
    sample_data: SampleData = field(default_factory=SampleData)

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(channel for channel in CHANNELS if getattr(self, channel) is not None)

    @cached_property
    def locale_index(self) -> dict[str, tuple[str, LocaleOverride]]:
        """Normalized tag → (tag as written, override)."""
        index = {}
        for tag, override in self.locales.items():
            normalized = normalize_locale(tag)
            if normalized is not None:
                index[normalized] = (tag, override)
        return index

    @cached_property
    def _resolved(self) -> dict[tuple[str, str | None], dict[str, ResolvedField]]:
        return {}

    def overrides_for(self, locale: str | None) -> tuple[tuple[str, LocaleOverride], ...]:
        """(tag as written, override) that apply to ``locale``, most specific first."""
        index = self.locale_index
        return tuple(index[tag] for tag in locale_chain(locale) if tag in index)

    def resolve(self, channel: str, locale: str | None) -> dict[str, ResolvedField]:
        """Field path → source for ``channel`` in ``locale``, after fallback. Memoized."""
        key = (channel, normalize_locale(locale))
        resolved = self._resolved.get(key)
        if resolved is None:
            resolved = self._resolve(channel, key[1])
            self._resolved[key] = resolved
        return resolved

    def _resolve(self, channel: str, locale: str | None) -> dict[str, ResolvedField]:
        # "blocks" and "variables" resolve like a channel whose paths are their names.
        if channel in ("blocks", "variables"):
            base_paths = dict(getattr(self, channel))
        else:
            base_paths = flatten_fields(getattr(self, channel))
        layers = [(None, base_paths)]
        for tag, override in reversed(self.overrides_for(locale)):
            if channel in ("blocks", "variables"):
                layers.append((tag, getattr(override, channel)))
            else:
                layers.append((tag, override.paths[channel]))
        resolved: dict[str, ResolvedField] = {}
        for origin, paths in layers:
            for path, source in paths.items():
                resolved[path] = ResolvedField(path, source, origin)
        return resolved


def flatten_fields(content: Any) -> dict[str, Any]:
    """Channel content (dataclass or partial dict) → {field path: value}, skipping absent values."""
    if content is None:
        return {}
    items = content.items() if isinstance(content, Mapping) else vars(content).items()
    flat: dict[str, Any] = {}
    for name, value in items:
        if value is None:
            continue
        if name == "data" and isinstance(value, Mapping):
            for key, item in value.items():
                flat[f"data.{key}"] = item
        elif name in ("primary_action", "secondary_action"):
            action = flatten_fields(value)
            for part, item in action.items():
                flat[f"{name}.{part}"] = item
        else:
            flat[name] = value
    return flat


def empty_channel(channel: str) -> ChannelContent:
    return {"sms": SmsContent, "push": PushContent, "email": EmailContent, "inapp": InappContent}[
        channel
    ]()
