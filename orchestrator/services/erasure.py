"""GDPR erasure of one contact, in the caller's transaction (one commit, all or nothing).

What goes: the contact row and, by database cascade, their devices, preferences, events and
triggered-campaign entries; their inbox cards; the sandbox outbox entries of their messages;
the API's stored idempotent answers for their sends; their rows of uploaded CSV files.

What stays, without the person (the row is needed for statistics or the audit trail):

* messages sent to them (or to their address as an inline recipient): status, channel,
  campaign, variant and timestamps stay; contact, address, rendered content, data, fallback
  content, provider error text and the caller's idempotency key go (the key becomes
  `erased:{id}`). Messages still waiting are suppressed with reason `erased` first.
* timeline rows of those messages, without clicked URLs (links can carry personal data).
* outbound webhook deliveries about them or their messages: the event stays, the payload loses
  external_id, phone, email, addresses and URLs.
* audit entries about them: they name the contact by its (now meaningless) numeric id, as the
  `contact.erased` entry does, and lose the same personal fields.
* contact imports: counts stay; the person's rows leave the stored file and the error report.

The `sms_opt_outs` list is not touched: a number that texted STOP stays suppressed, which is
what the person asked for (keeping a suppression record is the usual exception to erasure).

Every step is a bulk statement (or one SELECT plus one executemany) per chunk of ids.
"""
from __future__ import annotations

import csv
import io
import re
from typing import Any, Iterable, Sequence

from sqlalchemy import String, and_, bindparam, cast, delete, literal, or_, select, update
from sqlalchemy.orm import Session

from channels import status as machine
from orchestrator.models import (
    AuditEntry,
    Contact,
    ContactImport,
    Device,
    IdempotencyKey,
    InboxItem,
    Message,
    MessageEvent,
    OutboxEntry,
    WebhookDelivery,
    utcnow,
)
from orchestrator.services.status import StatusChange, apply_statuses

CHUNK = 1000
ERASED = "erased"
# Keys of JSON documents (webhook payloads, audit details, timeline details) that name a person.
PERSONAL_KEYS = frozenset({"external_id", "email", "phone", "address", "push_token", "token", "url"})
# `tx:{api_key_id}:{Idempotency-Key}@{claimed µs}:...`: the API's key, to find its stored answer.
TX_KEY = re.compile(r"^tx:(\d+):(.*)@\d+:[^@]*$", re.DOTALL)


def scrub(value: Any) -> Any:
    """A JSON document without the personal keys, at any depth."""
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items() if k not in PERSONAL_KEYS}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def _chunks(items: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def erase(session: Session, contact: Contact, *, actor: dict | None = None) -> None:
    """Erase `contact` (see the module docstring); the caller commits."""
    contact_id, external_id = contact.id, contact.external_id
    tokens = list(session.scalars(select(Device.token).where(Device.contact_id == contact_id)))
    addresses = [a for a in (contact.email, contact.phone, *tokens) if a]
    now = utcnow()

    messages = _their_messages(session, contact_id, addresses)
    message_ids = [row.id for row in messages]
    apply_statuses(session, [StatusChange(row.id, machine.SUPPRESSED, now, "chorus", {"reason": ERASED},
                                          {"reason": ERASED})
                             for row in messages if row.status in machine.WAITING])
    _forget_idempotent_answers(session, [row.idempotency_key for row in messages])
    _anonymise_messages(session, message_ids)
    _delete_outbox(session, message_ids, addresses)
    session.execute(delete(InboxItem).where(InboxItem.contact_id == contact_id))
    _anonymise_webhook_deliveries(session, contact_id, external_id, message_ids)
    _anonymise_audit(session, contact_id, external_id)
    _remove_from_imports(session, external_id)

    session.delete(contact)  # the database cascades to devices, preferences, events, trigger entries
    session.add(AuditEntry(action="contact.erased", target_type="contact", target_id=str(contact_id),
                           details={}, **(actor or {})))


def _their_messages(session: Session, contact_id: int, addresses: list[str]) -> list[Any]:
    """Messages to the contact, and inline sends (no contact) to one of their addresses."""
    m = Message.__table__.c
    theirs = m.contact_id == contact_id
    if addresses:
        theirs = or_(theirs, and_(m.contact_id.is_(None), m.address.in_(addresses)))
    return list(session.execute(select(m.id, m.idempotency_key, m.status).where(theirs).order_by(m.id)))


def _anonymise_messages(session: Session, message_ids: list[int]) -> None:
    m = Message.__table__.c
    for part in _chunks(message_ids):
        session.execute(update(Message.__table__).where(m.id.in_(part)).values(
            contact_id=None, address=None, content=None, data=None, fallback_channels=None, error_detail=None,
            idempotency_key=literal(f"{ERASED}:", String).concat(cast(m.id, String))))
        rows = session.execute(select(MessageEvent.id, MessageEvent.detail).where(MessageEvent.message_id.in_(part)))
        _rewrite(session, MessageEvent, "detail", [(i, d, scrub(d)) for i, d in rows])


def _forget_idempotent_answers(session: Session, message_keys: list[str]) -> None:
    """The API's stored answers (keyed by the caller's Idempotency-Key) for these messages."""
    claims = {(int(match.group(1)), match.group(2)) for match in map(TX_KEY.match, message_keys) if match}
    if claims:
        t = IdempotencyKey.__table__
        session.connection().execute(
            delete(t).where(t.c.api_key_id == bindparam("a"), t.c.key == bindparam("k")),
            [{"a": api_key_id, "k": key} for api_key_id, key in sorted(claims)])


def _delete_outbox(session: Session, message_ids: list[int], addresses: list[str]) -> None:
    for part in _chunks(message_ids):
        session.execute(delete(OutboxEntry).where(OutboxEntry.message_id.in_(part)))
    if addresses:
        session.execute(delete(OutboxEntry).where(OutboxEntry.address.in_(addresses)))


def _anonymise_webhook_deliveries(session: Session, contact_id: int, external_id: str,
                                  message_ids: list[int]) -> None:
    payload = WebhookDelivery.payload
    about = [payload[("data", "contact_id")].as_integer() == contact_id,
             payload[("data", "external_id")].as_string() == external_id]
    found: dict[int, dict] = {}
    # The payload is not indexed: each statement is a scan, so few of them (large id lists).
    parts = list(_chunks(message_ids, 5 * CHUNK)) or [[]]
    for index, part in enumerate(parts):
        condition = or_(*about, payload[("data", "message_id")].as_integer().in_(part)) if index == 0 \
            else payload[("data", "message_id")].as_integer().in_(part)
        found.update(session.execute(select(WebhookDelivery.id, payload).where(condition)).all())
    _rewrite(session, WebhookDelivery, "payload", [(i, p, scrub(p)) for i, p in found.items()])


def _anonymise_audit(session: Session, contact_id: int, external_id: str) -> None:
    rows = session.execute(select(AuditEntry.id, AuditEntry.details).where(
        AuditEntry.target_type == "contact", AuditEntry.target_id == external_id)).all()
    t = AuditEntry.__table__
    for part in _chunks(rows):
        session.connection().execute(
            update(t).where(t.c.id == bindparam("_id")).values(
                target_id=bindparam("target"), details=bindparam("new", type_=t.c.details.type)),
            [{"_id": i, "target": str(contact_id), "new": scrub(d or {})} for i, d in part])


def _remove_from_imports(session: Session, external_id: str) -> None:
    """Drop the person's rows (by external_id) from stored CSV files and their error reports.

    The row cursor moves back by the rows removed before it, so an import still running
    neither skips a row nor brings the person back."""
    jobs = session.execute(select(ContactImport.id, ContactImport.source, ContactImport.errors,
                                  ContactImport.total_rows, ContactImport.processed_rows)
                           .where(ContactImport.source.contains(external_id, autoescape=True))).all()
    changes = []
    for job in jobs:
        source, removed, removed_before = _without_rows(job.source, external_id, job.processed_rows)
        errors = [{"row": e.get("row"), "field": e.get("field"), "external_id": "", "message": "Erased."}
                  if (e.get("external_id") or "").strip() == external_id else e for e in job.errors or []]
        if removed or errors != job.errors:
            changes.append({"_id": job.id, "source": source, "errors": errors,
                            "total_rows": job.total_rows - removed,
                            "processed_rows": job.processed_rows - removed_before})
    if changes:
        t = ContactImport.__table__
        session.connection().execute(
            update(t).where(t.c.id == bindparam("_id")).values(
                {name: bindparam(name, type_=t.c[name].type)
                 for name in ("source", "errors", "total_rows", "processed_rows")}),
            changes)


def _without_rows(source: str, external_id: str, cursor: int) -> tuple[str, int, int]:
    """The CSV text without the records whose external_id cell is `external_id`; how many
    records went, and how many of those came before record number `cursor`."""
    records = list(csv.reader(io.StringIO(source, newline="")))
    if not records:
        return source, 0, 0
    header = [name.strip() for name in records[0]]
    if "external_id" not in header:
        return source, 0, 0
    column = header.index("external_id")
    kept, removed, removed_before, number = [records[0]], 0, 0, 0
    for record in records[1:]:
        if not record:  # a blank line: csv.DictReader skips it, so it is no row
            kept.append(record)
            continue
        if len(record) > column and record[column].strip() == external_id:
            removed += 1
            removed_before += number < cursor
        else:
            kept.append(record)
        number += 1
    if not removed:
        return source, 0, 0
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(kept)
    return out.getvalue(), removed, removed_before


def _rewrite(session: Session, model, column: str, rows: list[tuple[int, Any, Any]]) -> None:
    """One executemany of the JSON documents that changed."""
    changed = [{"_id": i, "_new": new} for i, old, new in rows if new != old]
    if not changed:
        return
    t = model.__table__
    for part in _chunks(changed):
        session.connection().execute(update(t).where(t.c.id == bindparam("_id"))
                                     .values({column: bindparam("_new", type_=t.c[column].type)}), list(part))
