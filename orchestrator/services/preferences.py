"""Preferences: what a contact agreed to, per channel and per topic, with defaults applied."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.errors import InvalidInput, NotFound
from orchestrator.models import CHANNEL_KEYS, Contact, Preference, Topic, utcnow
from orchestrator.services.contacts import dialect_insert


def read_preferences(session: Session, contact: Contact) -> dict:
    explicit = {(p.kind, p.key): p.opted_in for p in session.scalars(
        select(Preference).where(Preference.contact_id == contact.id))}
    topics = session.execute(select(Topic.key, Topic.default_opt_in).order_by(Topic.key))
    return {
        "unsubscribed_all": contact.unsubscribed_all,
        "channels": {key: explicit.get(("channel", key), True) for key in CHANNEL_KEYS},
        "topics": {key: explicit.get(("topic", key), default) for key, default in topics},
    }


def write_preferences(session: Session, contact: Contact, changes: dict) -> dict:
    """Apply a partial update; unknown topics are refused so a typo never silently subscribes."""
    topic_changes = changes.get("topics") or {}
    if topic_changes:
        known = set(session.scalars(select(Topic.key).where(Topic.key.in_(list(topic_changes)))))
        unknown = sorted(set(topic_changes) - known)
        if unknown:
            raise InvalidInput("Unknown topics.", [
                {"field": f"topics.{key}", "message": "No topic with this key; create it first."}
                for key in unknown])
    if "unsubscribed_all" in changes:
        contact.unsubscribed_all = changes["unsubscribed_all"]
    rows = [("channel", k, v) for k, v in (changes.get("channels") or {}).items()]
    rows += [("topic", k, v) for k, v in topic_changes.items()]
    if rows:
        set_preferences(session, contact.id, rows)
    return read_preferences(session, contact)


def set_preferences(session: Session, contact_id: int, rows: list[tuple[str, str, bool]]) -> None:
    now = utcnow()
    stmt = dialect_insert(session)(Preference)
    stmt = stmt.on_conflict_do_update(
        index_elements=["contact_id", "kind", "key"],
        set_={"opted_in": stmt.excluded.opted_in, "updated_at": stmt.excluded.updated_at},
    )
    session.execute(stmt, [
        {"contact_id": contact_id, "kind": kind, "key": key, "opted_in": value, "updated_at": now}
        for kind, key, value in rows
    ])


def get_topic(session: Session, key: str) -> Topic:
    topic = session.scalar(select(Topic).where(Topic.key == key))
    if topic is None:
        raise NotFound(f"No topic {key!r}.")
    return topic
