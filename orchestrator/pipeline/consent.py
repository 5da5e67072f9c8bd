"""Consent asked again when a waiting message comes due.

A message decided hours ago (quiet hours, a send time, a retry's back-off) was allowed then;
the person may have unsubscribed, opted out of the channel or the topic, or texted STOP since.
Before such a row is claimed for sending, its contact's current choices are read (one query
each for contacts, devices and preferences per chunk, as deliver_batch reads them) and a row
they now forbid is `suppressed` with the reason instead; an inline recipient's SMS is checked
against the number opt-out list (one query). Rows decided moments ago skip this:
their decision is as fresh as a re-read would be, and the API's OTP path stays one query short.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.decisions import SMS_OPTED_OUT, consent_refusal
from orchestrator.models import Topic
from orchestrator.pipeline.recipients import load_contacts
from orchestrator.services import sms_opt_outs
from orchestrator.services.status import StatusChange, apply_statuses

FRESH = timedelta(seconds=30)


def suppress_withdrawn(session: Session, candidates: Sequence[Any], now: datetime) -> set[int]:
    """Suppress the waiting rows among `candidates` (id, channel, contact_id, category, topic,
    address, created_at) that the contact's consent (or an inline number's STOP) no longer
    allows; returns their ids."""
    old = [row for row in candidates if row.created_at < now - FRESH]
    stale = [row for row in old if row.contact_id is not None]
    inline_sms = [row for row in old if row.contact_id is None and row.channel == "sms" and row.address]
    if not stale and not inline_sms:
        return set()
    stopped = sms_opt_outs.opted_out(session, (row.address for row in inline_sms)) if inline_sms else set()
    changes = [StatusChange(row.id, "suppressed", now, "chorus", {"reason": SMS_OPTED_OUT, "rechecked": True},
                            {"reason": SMS_OPTED_OUT}) for row in inline_sms if row.address in stopped]
    recipients = {loaded.contact_id: loaded.recipient
                  for loaded in load_contacts(session, {row.contact_id for row in stale})} if stale else {}
    topic_keys = {row.topic for row in stale if row.topic}
    defaults = dict(session.execute(select(Topic.key, Topic.default_opt_in).where(Topic.key.in_(topic_keys))).all()) \
        if topic_keys else {}
    for row in stale:
        recipient = recipients.get(row.contact_id)
        if recipient is None:
            continue  # erased since: the erasure itself handles its messages
        reason = consent_refusal(recipient, row.channel, row.category, row.topic, defaults.get(row.topic, True))
        if reason is not None:
            changes.append(StatusChange(row.id, "suppressed", now, "chorus", {"reason": reason, "rechecked": True},
                                        {"reason": reason}))
    if not changes:
        return set()
    moved = apply_statuses(session, changes)
    return {change.message_id for change, ok in zip(changes, moved) if ok}
