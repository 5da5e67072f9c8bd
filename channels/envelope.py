"""What goes into a channel and what comes out of it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from channels.errors import PermanentError, TransientError


@dataclass(frozen=True)
class Envelope:
    """One rendered message for one address.

    ``content`` is the channel's rendered content: a ``templates`` Rendered* dataclass
    (RenderedSms, RenderedPush, RenderedEmail, RenderedInapp) or a plain dict with the same
    keys; adapters read it through :func:`content_field`, so either works.
    ``metadata`` carries send options the template does not own, for example
    ``category`` ("marketing" or "transactional"), ``unsubscribe_url``, ``platform``,
    ``priority``, ``contact_id``, ``campaign_id``.
    """

    message_id: int
    idempotency_key: str
    address: str
    content: Any
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Accepted:
    """The provider took the message; ``provider_id`` is its id for status callbacks."""

    message_id: int
    provider_id: str
    ok = True


@dataclass(frozen=True)
class Failed:
    """The provider (or the adapter's own checks) refused the message."""

    message_id: int
    error: TransientError | PermanentError
    ok = False

    @property
    def transient(self) -> bool:
        return isinstance(self.error, TransientError)


SendResult = Accepted | Failed


def content_field(content: Any, name: str, default: Any = None) -> Any:
    """Read one field of rendered content, whether it is a dataclass, an object or a dict."""
    if isinstance(content, Mapping):
        value = content.get(name, default)
    else:
        value = getattr(content, name, default)
    return default if value is None else value


def content_as_dict(content: Any) -> dict[str, Any]:
    """Rendered content as a JSON-friendly dict (for the sandbox outbox and the inbox)."""
    if isinstance(content, Mapping):
        return dict(content)
    if dataclasses.is_dataclass(content) and not isinstance(content, type):
        return dataclasses.asdict(content)
    return {k: v for k, v in vars(content).items() if not k.startswith("_")}
