"""The sandbox outbox: what sandbox channels would have sent, for the API and the UI.

`DbOutboxSink` writes in its own short transaction on the app's engine: the outbox stands in
for a provider, and a provider keeps what it was given whatever the caller's transaction does
later (a retried send is recorded again, as a real provider would send it again).
"""
from __future__ import annotations

import json
from typing import Sequence

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session

from channels import OutboxEntry as SandboxEntry
from orchestrator.models import OutboxEntry
from orchestrator.services.pagination import decode_cursor, page


def _plain(value):
    # Rendered content may hold tuples or other dataclass leftovers; the column holds JSON.
    return json.loads(json.dumps(value, default=str))


class DbOutboxSink:
    """`channels.OutboxSink` on the outbox table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, entries: Sequence[SandboxEntry]) -> None:
        rows = [{
            "channel": entry.channel,
            "address": entry.address,
            "message_id": entry.message_id,
            "provider_id": entry.provider_id,
            "content": _plain(entry.content),
            "created_at": entry.recorded_at,
        } for entry in entries]
        with self.engine.begin() as connection:
            connection.execute(insert(OutboxEntry.__table__), rows)


def list_outbox(session: Session, *, limit: int = 50, cursor: str | None = None, channel: str | None = None,
                message_id: int | None = None, address: str | None = None) -> tuple[list[OutboxEntry], str | None]:
    """Newest first, by keyset cursor on id."""
    query = select(OutboxEntry)
    if channel:
        query = query.where(OutboxEntry.channel == channel)
    if message_id is not None:
        query = query.where(OutboxEntry.message_id == message_id)
    if address:
        query = query.where(OutboxEntry.address == address)
    before = decode_cursor(cursor)
    if before is not None:
        query = query.where(OutboxEntry.id < before)
    rows = list(session.scalars(query.order_by(OutboxEntry.id.desc()).limit(limit + 1)))
    return page(rows, limit)
