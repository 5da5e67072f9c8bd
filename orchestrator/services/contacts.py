"""Contacts: upsert in bulk, read, list, erase. Used by the API, the UI and CSV import alike."""
from __future__ import annotations

from datetime import datetime
from typing import Iterable

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from orchestrator.errors import NotFound
from orchestrator.models import Contact, utcnow
from orchestrator.services import erasure, sms_opt_outs
from orchestrator.services.pagination import decode_cursor, page

FIELDS = ("email", "phone", "locale", "timezone")
# Parameters per statement stay well under SQLite's and PostgreSQL's limits.
CHUNK = 2000


def dialect_insert(session: Session):
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def chunks(items: list, size: int = CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def ensure_contacts(session: Session, external_ids: Iterable[str]) -> tuple[dict[str, int], set[str]]:
    """Create missing contacts; return external_id → id and the set that was created.

    Most calls name people who exist already, so one SELECT finds them and only the rest are
    inserted (ON CONFLICT DO NOTHING, so two requests creating the same person race safely).
    Statements are executemany over cached SQL: compiling a thousand-row VALUES each time
    costs more than running it.
    """
    table = Contact.__table__
    wanted = list(dict.fromkeys(external_ids))
    ids: dict[str, int] = {}
    connection = session.connection()
    lookup = select(table.c.external_id, table.c.id).where(table.c.external_id.in_(bindparam("ids", expanding=True)))
    for part in chunks(wanted):
        ids.update((e, i) for e, i in connection.execute(lookup, {"ids": part}))
    missing = [e for e in wanted if e not in ids]
    created: set[str] = set()
    if missing:
        now = utcnow()
        stmt = dialect_insert(session)(table).on_conflict_do_nothing(index_elements=["external_id"])
        stmt = stmt.returning(table.c.external_id, table.c.id)
        for part in chunks(missing):
            rows = connection.execute(stmt, [
                {"external_id": e, "attributes": {}, "created_at": now, "updated_at": now,
                 "unsubscribed_all": False, "sms_opted_out": False} for e in part])
            for external_id, contact_id in rows:
                ids[external_id] = contact_id
                created.add(external_id)
        raced = [e for e in missing if e not in ids]  # created meanwhile by another request
        for part in chunks(raced):
            ids.update((e, i) for e, i in connection.execute(lookup, {"ids": part}))
    return ids, created


def merge_attributes(current: dict | None, patch: dict | None) -> dict:
    """Top-level merge: a key in the patch replaces the stored value; null removes it."""
    merged = dict(current or {})
    for key, value in (patch or {}).items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def upsert_contacts(session: Session, rows: list[dict]) -> dict[str, int]:
    """Create or update contacts by external_id in a few statements, whatever the batch size.

    Rows are already validated. Only the fields a row carries change; attributes merge.
    Rows naming the same external_id apply in order. A contact given a number on the SMS
    opt-out list is marked `sms_opted_out`.
    """
    ids, created = ensure_contacts(session, (r["external_id"] for r in rows))
    current: dict[int, dict] = {}
    for part in chunks(list(ids.values())):
        # FOR UPDATE (PostgreSQL) serialises concurrent merges into the same person's attributes.
        query = select(Contact.id, Contact.attributes).where(Contact.id.in_(part)).with_for_update()
        current.update((i, a) for i, a in session.execute(query))

    pending: dict[int, dict] = {}
    for row in rows:
        contact_id = ids[row["external_id"]]
        values = pending.setdefault(contact_id, {})
        for field in FIELDS:
            if field in row:
                values[field] = row[field]
        if "attributes" in row:
            base = values.get("attributes", current.get(contact_id))
            values["attributes"] = merge_attributes(base, row["attributes"])
    # A number that texted STOP stays opted out whoever it is given to (one query per batch).
    stopped = sms_opt_outs.opted_out(session, (v.get("phone") for v in pending.values()))
    for values in pending.values():
        if values.get("phone") in stopped:
            values["sms_opted_out"] = True

    now = utcnow()
    groups: dict[tuple, list[dict]] = {}
    for contact_id, values in pending.items():
        groups.setdefault(tuple(sorted(values)), []).append({"_id": contact_id, **values, "updated_at": now})
    for keys, params in groups.items():
        stmt = (
            update(Contact.__table__)
            .where(Contact.__table__.c.id == bindparam("_id"))
            .values({k: bindparam(k) for k in (*keys, "updated_at")})
        )
        for part in chunks(params):
            session.connection().execute(stmt, part)
    return {"created": len(created), "updated": len(set(ids) - created)}


def get_contact(session: Session, external_id: str) -> Contact:
    contact = session.scalar(select(Contact).where(Contact.external_id == external_id))
    if contact is None:
        raise NotFound(f"No contact with external_id {external_id!r}.")
    return contact


def list_contacts(session: Session, *, limit: int, cursor: str | None = None, email: str | None = None,
                  phone: str | None = None, q: str | None = None,
                  updated_after: datetime | None = None) -> tuple[list[Contact], str | None]:
    query = select(Contact).order_by(Contact.id).limit(limit + 1)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(Contact.id > after)
    if email:
        query = query.where(Contact.email == email.strip())
    if phone:
        query = query.where(Contact.phone == phone)
    if q:
        like = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(Contact.external_id.like(like, escape="\\") | Contact.email.like(like, escape="\\"))
    if updated_after:
        query = query.where(Contact.updated_at > updated_after)
    return page(list(session.scalars(query)), limit)


def erase_contact(session: Session, external_id: str, *, actor: dict | None = None) -> None:
    """GDPR erasure (orchestrator.services.erasure): the person and everything naming them go;
    what statistics and the audit trail need stays, anonymised. The caller commits."""
    erasure.erase(session, get_contact(session, external_id), actor=actor)
