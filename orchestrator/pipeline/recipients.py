"""Load a batch of recipients: one query each for contacts, devices and preferences (ids as one
array parameter on PostgreSQL: no statement with thousands of placeholders to build and parse),
and one of the SMS opt-out list for the inline recipients' numbers."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.decisions import Recipient
from orchestrator.models import Contact, Device, Preference
from orchestrator.pipeline.record import among
from orchestrator.services import sms_opt_outs

CHUNK = 5000  # ids per IN list: well under every driver's parameter limit


@dataclass(frozen=True)
class LoadedRecipient:
    """What the pipeline knows of one recipient: the decision input and the template scope."""

    key: str  # the recipient's part of the idempotency key
    recipient: Recipient
    contact_id: int | None
    scope: Mapping[str, Any] = field(default_factory=dict)  # `{{ contact.* }}`
    locale: str | None = None
    platforms: Mapping[str, str] = field(default_factory=dict)  # push token -> platform

    def address(self, channel: str) -> str | None:
        address = self.recipient.address(channel)
        if isinstance(address, tuple):  # push: the most recently seen device
            return address[0] if address else None
        return address


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def load_contacts(session: Session, contact_ids: Iterable[int]) -> list[LoadedRecipient]:
    """The contacts that still exist, in the order given (deleted ones are dropped)."""
    ids = list(dict.fromkeys(contact_ids))
    contacts: dict[int, Any] = {}
    tokens: dict[int, list[tuple[str, str]]] = {}
    channel_prefs: dict[int, dict[str, bool]] = {}
    topic_prefs: dict[int, dict[str, bool]] = {}
    c = Contact.__table__.c
    for part in _chunks(ids):
        for row in session.execute(select(c.id, c.external_id, c.email, c.phone, c.locale, c.timezone,
                                          c.attributes, c.unsubscribed_all, c.sms_opted_out)
                                   .where(among(session, c.id, part))):
            contacts[row.id] = row
    d = Device.__table__.c
    for part in _chunks(ids):
        rows = session.execute(select(d.contact_id, d.token, d.platform).where(among(session, d.contact_id, part))
                               .order_by(d.contact_id, d.last_seen_at.desc(), d.id.desc()))
        for row in rows:
            tokens.setdefault(row.contact_id, []).append((row.token, row.platform))
    p = Preference.__table__.c
    for part in _chunks(ids):
        for row in session.execute(select(p.contact_id, p.kind, p.key, p.opted_in).where(among(session, p.contact_id, part))):
            target = channel_prefs if row.kind == "channel" else topic_prefs
            target.setdefault(row.contact_id, {})[row.key] = row.opted_in
    loaded = []
    for contact_id in ids:
        row = contacts.get(contact_id)
        if row is None:
            continue
        devices = tokens.get(contact_id, [])
        recipient = Recipient(
            contact_id=row.id, email=row.email, phone=row.phone,
            push_tokens=tuple(token for token, _ in devices),
            sms_opted_out=row.sms_opted_out, unsubscribed_all=row.unsubscribed_all,
            channel_opt_ins=channel_prefs.get(contact_id, {}), topic_opt_ins=topic_prefs.get(contact_id, {}),
            timezone=row.timezone,
        )
        scope = {"id": row.id, "external_id": row.external_id, "email": row.email, "phone": row.phone,
                 "locale": row.locale, "timezone": row.timezone, "attributes": row.attributes or {}}
        loaded.append(LoadedRecipient(str(row.id), recipient, row.id, scope, row.locale, dict(devices)))
    return loaded


def inline_recipient(to: Mapping[str, Any], index: int = 0, *, sms_opted_out: bool = False) -> LoadedRecipient:
    """Someone who is not a contact yet (the API's inline `to`): addresses only, no preferences
    but the number's own STOP (`sms_opted_out`, from the opt-out list)."""
    token = to.get("push_token")
    recipient = Recipient(contact_id=0, email=to.get("email"), phone=to.get("phone"),
                          push_tokens=(token,) if token else (), sms_opted_out=sms_opted_out)
    scope = {"email": to.get("email"), "phone": to.get("phone"), "locale": to.get("locale"), "attributes": {}}
    platforms = {token: to.get("platform") or "android"} if token else {}
    return LoadedRecipient(f"inline{index}", recipient, None, scope, to.get("locale"), platforms)


def load_inline(session: Session, recipients: Sequence[Mapping[str, Any]]) -> list[LoadedRecipient]:
    """The inline recipients of a batch, their numbers checked against the opt-out list in one query."""
    stopped = sms_opt_outs.opted_out(session, (to.get("phone") for to in recipients)) if recipients else set()
    return [inline_recipient(to, index, sms_opted_out=(to.get("phone") or "").strip() in stopped)
            for index, to in enumerate(recipients)]
