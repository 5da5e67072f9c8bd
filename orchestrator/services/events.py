"""Event ingestion: many events, a few statements, duplicates ignored by their id."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.models import Event, utcnow
from orchestrator.services.contacts import chunks, dialect_insert, ensure_contacts
from orchestrator.services.pagination import decode_cursor, page

# Called with the ids of newly stored events (triggered campaigns and journeys listen here).
ingest_listeners: list = []


def ingest_events(session: Session, events: list[dict]) -> dict:
    """Store validated events; unknown external_ids become contacts (like an identify call)."""
    ids, _ = ensure_contacts(session, (e["external_id"] for e in events))
    now = utcnow()
    rows = [{
        "contact_id": ids[e["external_id"]],
        "name": e["name"],
        "properties": e.get("properties") or {},
        "occurred_at": e.get("timestamp") or now,
        "received_at": now,
        "dedup_id": e.get("id"),
    } for e in events]
    if session.get_bind().dialect.name == "postgresql":
        stored = _copy_events(session, rows)
    else:
        table = Event.__table__
        stmt = dialect_insert(session)(table).on_conflict_do_nothing(index_elements=["dedup_id"]).returning(table.c.id)
        stored = []
        for part in chunks(rows, 1000):
            # executemany: SQLAlchemy batches rows into multi-row INSERTs from one cached statement.
            stored.extend(session.connection().execute(stmt, part).scalars())
    for listener in ingest_listeners:
        listener(session, stored)
    return {"accepted": len(stored), "duplicates": len(rows) - len(stored)}


_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS events_stage (
    contact_id bigint, name text, properties jsonb, occurred_at timestamptz,
    received_at timestamptz, dedup_id text
) ON COMMIT DELETE ROWS
"""
_FROM_STAGE = """
INSERT INTO events (contact_id, name, properties, occurred_at, received_at, dedup_id)
SELECT contact_id, name, properties, occurred_at, received_at, dedup_id FROM events_stage
ON CONFLICT (dedup_id) DO NOTHING RETURNING id
"""


def _copy_events(session: Session, rows: list[dict]) -> list[int]:
    """PostgreSQL: COPY into a per-connection staging table, then one INSERT … SELECT that skips
    duplicates. COPY moves rows without building or parsing a statement per batch."""
    from psycopg.types.json import Jsonb

    raw = session.connection().connection.driver_connection
    with raw.cursor() as cursor:
        cursor.execute(_STAGE)
        with cursor.copy("COPY events_stage (contact_id, name, properties, occurred_at, received_at, dedup_id) "
                         "FROM STDIN") as copy:
            for row in rows:
                copy.write_row((row["contact_id"], row["name"], Jsonb(row["properties"]), row["occurred_at"],
                                row["received_at"], row["dedup_id"]))
        cursor.execute(_FROM_STAGE)
        return [r[0] for r in cursor.fetchall()]


def list_events(session: Session, contact_id: int, *, limit: int, cursor: str | None = None,
                name: str | None = None) -> tuple[list[Event], str | None]:
    # Newest first: the keyset walks ids downwards.
    query = select(Event).where(Event.contact_id == contact_id).order_by(Event.id.desc()).limit(limit + 1)
    before = decode_cursor(cursor)
    if before is not None:
        query = query.where(Event.id < before)
    if name:
        query = query.where(Event.name == name)
    return page(list(session.scalars(query)), limit)
