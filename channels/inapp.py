"""The in-app inbox: no provider; items go to Chorus's own store and its live stream.

The adapter shapes the inbox card from the rendered content and hands it to an
:class:`InboxStore`, which the orchestrator implements (inbox table + Redis pub/sub).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence

from channels.addresses import inbox_address
from channels.channel import INAPP, DeclaredChannel, check_batch
from channels.envelope import Accepted, Envelope, Failed, SendResult, content_field
from channels.errors import InvalidAddress, PermanentError, TransientError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InboxItem:
    """One card in a contact's inbox. ``address`` is the contact id as a string."""

    message_id: int
    idempotency_key: str
    address: str
    title: str
    body: str
    image_url: str | None = None
    primary_action: Any = None  # {"label": ..., "url": ...} as the template renders it
    secondary_action: Any = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


class InboxStore(Protocol):
    def add_items(self, items: Sequence[InboxItem]) -> list[Any]:
        """Persist the items (idempotently, by idempotency key) and return their ids in order."""

    def publish(self, items: Sequence[InboxItem], item_ids: Sequence[Any]) -> None:
        """Announce stored items to live clients (Redis pub/sub)."""


def inbox_item(envelope: Envelope, address: str) -> InboxItem:
    content = envelope.content
    return InboxItem(
        message_id=envelope.message_id,
        idempotency_key=envelope.idempotency_key,
        address=address,
        title=content_field(content, "title", ""),
        body=content_field(content, "body", ""),
        image_url=content_field(content, "image_url"),
        primary_action=content_field(content, "primary_action"),
        secondary_action=content_field(content, "secondary_action"),
        metadata=dict(envelope.metadata),
    )


class InappChannel(DeclaredChannel):
    key = INAPP

    def __init__(self, store: InboxStore):
        self.store = store

    def validate_address(self, address: str) -> str:
        return inbox_address(address)

    def send_batch(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        check_batch(self, envelopes)
        results: list[SendResult | None] = [None] * len(envelopes)
        items: list[InboxItem] = []
        positions: list[int] = []
        for index, envelope in enumerate(envelopes):
            try:
                item = inbox_item(envelope, self.validate_address(envelope.address))
            except InvalidAddress as error:
                results[index] = Failed(envelope.message_id, error)
                continue
            if not (item.title or item.body):
                results[index] = Failed(envelope.message_id, PermanentError("empty", "the card has no title or body"))
                continue
            items.append(item)
            positions.append(index)
        if items:
            try:
                ids = self.store.add_items(items)
            except Exception as error:  # the store is a database: any failure there is worth a retry
                log.warning("inbox store failed: %s", type(error).__name__)
                for index in positions:
                    results[index] = Failed(envelopes[index].message_id, TransientError(f"inbox store: {error}", code="store"))
                return results  # type: ignore[return-value]
            for index, item_id in zip(positions, ids, strict=True):
                results[index] = Accepted(envelopes[index].message_id, f"inbox-{item_id}")
            try:
                self.store.publish(items, ids)
            except Exception as error:  # the items are stored; a live client catches up on its next fetch
                log.warning("inbox publish failed: %s", type(error).__name__)
        return results  # type: ignore[return-value]
