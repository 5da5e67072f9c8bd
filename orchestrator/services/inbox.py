"""The in-app inbox: storing cards, reading and marking them, counts, the live channel, and the
user hash that keeps one person out of another's inbox.

`DbInboxStore` is the `channels.InboxStore` the in-app adapter writes through. It writes in its
own short transaction on the app's engine and commits before it publishes, so a live client
that fetches on an `item` event finds the card, and a retried send finds the card it already
made (`message_id` is unique) instead of adding a second one. Callers must therefore not hold
an open write transaction on SQLite while sending (the pipeline commits before it calls a
provider anyway: no transaction may wait on a network call).
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import Engine, and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

import channels
from orchestrator import bus
from orchestrator.errors import NotFound
from orchestrator.models import Contact, InboxItem, utcnow
from orchestrator.services.pagination import decode_cursor, page

HASH_CONTEXT = b"chorus.inbox.user-hash"
ACTIONS = ("seen", "read", "unread", "archive", "unarchive")


def inbox_secret(app) -> bytes:
    """The key of user hashes, derived from SECRET_KEY (rotating that key rotates this one)."""
    return hmac.new(app.config["SECRET_KEY"].encode(), HASH_CONTEXT, hashlib.sha256).digest()


def inbox_user_hash(app, external_id: str) -> str:
    """hex HMAC-SHA256(inbox secret, external_id): the backend hands it to its app with the
    external_id; the inbox API refuses any pair that does not match."""
    return hmac.new(inbox_secret(app), external_id.encode(), hashlib.sha256).hexdigest()


def user_hash_matches(app, external_id: str, user_hash: str) -> bool:
    return hmac.compare_digest(inbox_user_hash(app, external_id), (user_hash or "").strip().lower())


def live_channel(contact_id: int) -> str:
    return f"inbox:{contact_id}"


def item_json(item: InboxItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "title": item.title,
        "body": item.body,
        "image_url": item.image_url,
        "primary_action": item.primary_action,
        "secondary_action": item.secondary_action,
        "data": item.data or {},
        "created_at": item.created_at.isoformat(),
        "seen_at": item.seen_at.isoformat() if item.seen_at else None,
        "read_at": item.read_at.isoformat() if item.read_at else None,
        "archived_at": item.archived_at.isoformat() if item.archived_at else None,
    }


def _action(value: Any) -> Any:
    if value is None or isinstance(value, dict):
        return value
    return channels.envelope.content_as_dict(value)


# --- counts and listing ---------------------------------------------------------------------

def counts_by_contact(connection, contact_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Unread and unseen cards (archived ones excluded) per contact, in one query."""
    table = InboxItem.__table__
    live = table.c.archived_at.is_(None)
    rows = connection.execute(
        select(table.c.contact_id,
               func.count().filter(table.c.read_at.is_(None)).label("unread"),
               func.count().filter(table.c.seen_at.is_(None)).label("unseen"),
               func.count().label("total"))
        .where(table.c.contact_id.in_(list(contact_ids)), live)
        .group_by(table.c.contact_id))
    found = {row.contact_id: {"unread": row.unread, "unseen": row.unseen, "total": row.total} for row in rows}
    return {cid: found.get(cid, {"unread": 0, "unseen": 0, "total": 0}) for cid in contact_ids}


def counts(session: Session, contact_id: int) -> dict[str, int]:
    return counts_by_contact(session.connection(), [contact_id])[contact_id]


def list_items(session: Session, contact_id: int, *, limit: int = 20, cursor: str | None = None,
               archived: bool = False, unread_only: bool = False) -> tuple[list[InboxItem], str | None]:
    """Newest first, by keyset cursor on id."""
    query = select(InboxItem).where(InboxItem.contact_id == contact_id)
    query = query.where(InboxItem.archived_at.is_not(None) if archived else InboxItem.archived_at.is_(None))
    if unread_only:
        query = query.where(InboxItem.read_at.is_(None))
    before = decode_cursor(cursor)
    if before is not None:
        query = query.where(InboxItem.id < before)
    rows = list(session.scalars(query.order_by(InboxItem.id.desc()).limit(limit + 1)))
    return page(rows, limit)


def items_after(session: Session, contact_id: int, after_id: int, limit: int = 100) -> list[InboxItem]:
    """Live (not archived) cards newer than ``after_id``, oldest first: the stream's replay."""
    return list(session.scalars(
        select(InboxItem).where(InboxItem.contact_id == contact_id, InboxItem.id > after_id,
                                InboxItem.archived_at.is_(None))
        .order_by(InboxItem.id).limit(limit)))


# --- marking --------------------------------------------------------------------------------

def mark(session: Session, contact_id: int, item_id: int, action: str, *, at: datetime | None = None) -> InboxItem:
    """seen, read (implies seen), unread, archive (implies seen), unarchive. Idempotent: the first
    time is kept. An id of another contact's card is simply not found."""
    if action not in ACTIONS:
        raise ValueError(action)
    item = session.scalar(select(InboxItem).where(InboxItem.id == item_id, InboxItem.contact_id == contact_id))
    if item is None:
        raise NotFound(f"No inbox item {item_id}.")
    at = at or utcnow()
    if action in ("seen", "read", "archive") and item.seen_at is None:
        item.seen_at = at
    if action == "read" and item.read_at is None:
        item.read_at = at
    if action == "unread":
        item.read_at = None
    if action == "archive" and item.archived_at is None:
        item.archived_at = at
    if action == "unarchive":
        item.archived_at = None
    session.flush()
    return item


def mark_all_read(session: Session, contact_id: int, *, at: datetime | None = None) -> int:
    at = at or utcnow()
    base = and_(InboxItem.contact_id == contact_id, InboxItem.archived_at.is_(None))
    session.execute(update(InboxItem).where(base, InboxItem.seen_at.is_(None)).values(seen_at=at))
    result = session.execute(update(InboxItem).where(base, InboxItem.read_at.is_(None)).values(read_at=at))
    return result.rowcount or 0


def publish_counts(contact_id: int, values: dict[str, int], app=None) -> None:
    bus.publish(live_channel(contact_id), {"type": "counts", **values}, app=app)


def find_contact(session: Session, external_id: str) -> Contact | None:
    return session.scalar(select(Contact).where(Contact.external_id == external_id))


# --- the store behind the in-app channel ----------------------------------------------------

class DbInboxStore:
    """`channels.InboxStore` on the inbox_items table and the app's bus."""

    def __init__(self, engine: Engine, app) -> None:
        self.engine = engine
        self.app = app

    def add_items(self, items: Sequence[channels.InboxItem]) -> list[int]:
        table = InboxItem.__table__
        now = utcnow()
        rows = [{
            "contact_id": int(item.address),
            "message_id": item.message_id,
            "title": item.title or "",
            "body": item.body or "",
            "image_url": item.image_url,
            "primary_action": _action(item.primary_action),
            "secondary_action": _action(item.secondary_action),
            "data": dict(item.metadata.get("data") or {}),
            "created_at": now,
        } for item in items]
        insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        with self.engine.begin() as connection:
            connection.execute(insert(table).on_conflict_do_nothing(index_elements=["message_id"]), rows)
            ids = {message_id: item_id for message_id, item_id in connection.execute(
                select(table.c.message_id, table.c.id).where(table.c.message_id.in_([i.message_id for i in items])))}
        return [ids[item.message_id] for item in items]

    def publish(self, items: Sequence[channels.InboxItem], item_ids: Sequence[int]) -> None:
        table = InboxItem.__table__
        with self.engine.connect() as connection:
            rows = {row.id: row for row in connection.execute(select(table).where(table.c.id.in_(list(item_ids))))}
            contact_ids = sorted({row.contact_id for row in rows.values()})
            per_contact = counts_by_contact(connection, contact_ids)
        for item_id in item_ids:
            row = rows.get(item_id)
            if row is not None:
                bus.publish(live_channel(row.contact_id), {"type": "item", "item": item_json(row)}, app=self.app)
        for contact_id in contact_ids:
            publish_counts(contact_id, per_contact[contact_id], app=self.app)
