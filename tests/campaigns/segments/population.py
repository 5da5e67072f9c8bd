"""Loading contacts described as ContactFacts into real tables, and reading audiences back."""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa

from campaigns.segments import ContactFacts, SegmentTables
from orchestrator.models import metadata

SEGMENT_TABLE_NAMES = ("contacts", "events", "devices", "preferences", "topics")
TOPIC_DEFAULTS = {"promotions": True, "news": False}
_LOADED_AT = datetime(2026, 1, 1, tzinfo=timezone.utc)


def clear(connection: sa.Connection) -> None:
    # Children first; other tables referencing contacts are emptied by their own tests.
    for name in ("events", "devices", "preferences", "topics", "contacts"):
        connection.execute(sa.delete(metadata.tables[name]))


def load(connection: sa.Connection, tables: SegmentTables,
         population: list[ContactFacts]) -> list[int]:
    """Insert the population (replacing whatever was there); returns the contact ids."""
    clear(connection)
    connection.execute(sa.insert(tables.topics), [
        {"key": key, "name": key.title(), "description": "", "default_opt_in": default,
         "created_at": _LOADED_AT} for key, default in TOPIC_DEFAULTS.items()])
    ids = []
    for index, facts in enumerate(population):
        contact_id = connection.execute(sa.insert(tables.contacts).values(
            external_id=f"contact-{index}", email=facts.email, phone=facts.phone,
            locale=facts.locale, timezone=facts.timezone, attributes=dict(facts.attributes),
            unsubscribed_all=facts.unsubscribed_all, sms_opted_out=facts.sms_opted_out,
            created_at=facts.created_at, updated_at=_LOADED_AT,
        )).inserted_primary_key[0]
        ids.append(contact_id)
        for number in range(facts.device_count):
            connection.execute(sa.insert(tables.devices).values(
                contact_id=contact_id, token=f"token-{contact_id}-{number}", platform="ios",
                created_at=_LOADED_AT, last_seen_at=_LOADED_AT))
        for (kind, key), opted_in in facts.preferences.items():
            connection.execute(sa.insert(tables.preferences).values(
                contact_id=contact_id, kind=kind, key=key, opted_in=opted_in,
                updated_at=_LOADED_AT))
        for name, properties, occurred_at in facts.events:
            connection.execute(sa.insert(tables.events).values(
                contact_id=contact_id, name=name, properties=dict(properties),
                occurred_at=occurred_at, received_at=occurred_at))
    return ids


def audience(connection: sa.Connection, tables: SegmentTables, where) -> set[int]:
    return set(connection.scalars(sa.select(tables.contacts.c.id).where(where)))
