"""What happens after a failed send: back off and retry, expire, or fail, fix the contact and fall back.

* TransientError: back to `queued` with `next_attempt_at` = now + exponential backoff with full
  jitter (at least the provider's Retry-After), unless that is past the row's `expires_at`:
  then `failed` with reason `expired` — a dead letter, retryable from the API.
* PermanentError: `failed` with the provider's code. A dead push token is deleted, a carrier
  opt-out puts the number on the `sms_opt_outs` list (a contact's or an inline recipient's)
  and marks the contact opted out, and with the `fallback` strategy the next channel's
  message (rendered when the batch was decided) gets its own row and is sent.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Sequence

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from channels import Failed, PermanentError
from orchestrator.models import Contact, Device
from orchestrator.pipeline import record
from orchestrator.pipeline.dispatch import Due
from orchestrator.services import sms_opt_outs
from orchestrator.services.status import StatusChange, apply_statuses, emit_after_commit

MAX_BACKOFF_SECONDS = 3600.0


def backoff(attempts: int, base: float, retry_after: float | None = None,
            rng: random.Random | None = None) -> float:
    """Seconds before attempt `attempts + 1`: base·2^(attempts-1), capped, jittered over its upper half."""
    ceiling = min(MAX_BACKOFF_SECONDS, base * 2 ** max(0, attempts - 1))
    delay = ceiling * (0.5 + 0.5 * (rng or random).random())
    return max(delay, retry_after or 0.0)


@dataclass
class FailureOutcome:
    retried: list[Any] = field(default_factory=list)  # rows with next_attempt_at, for the enqueuer
    failed: int = 0
    expired: int = 0
    fallbacks: list[record.StoredMessage] = field(default_factory=list)


def handle_failures(session: Session, failures: Sequence[tuple[Any, Failed]], now: datetime,
                    base_backoff: float) -> FailureOutcome:
    """Apply every failure of one provider chunk; the caller commits, then enqueues
    `outcome.retried` and `outcome.fallbacks`."""
    outcome = FailureOutcome()
    requeue, changes, fallbacks = [], [], []
    dead_tokens, opted_out, opted_out_numbers = [], [], []
    for row, failure in failures:
        error = failure.error
        if not isinstance(error, PermanentError):
            next_at = now + timedelta(seconds=backoff(row.attempts, base_backoff, error.retry_after))
            if row.expires_at is None or next_at <= row.expires_at:
                requeue.append({"id": row.id, "next_attempt_at": next_at, "error_code": error.code,
                                "error_detail": str(error.reason)[:1000],
                                "detail": {"retry": row.attempts, "error": error.code or "transient"}})
                outcome.retried.append(Due(row.id, row.channel, row.category, next_at, row.idempotency_key))
                continue
            outcome.expired += 1
            changes.append(StatusChange(row.id, "failed", now, "chorus",
                                        {"reason": "expired", "error": error.code},
                                        {"reason": "expired", "error_code": error.code,
                                         "error_detail": str(error.reason)[:1000]}))
            continue
        outcome.failed += 1
        changes.append(StatusChange(row.id, "failed", now, "provider", {"error": error.code},
                                    {"reason": error.code[:64], "error_code": error.code[:64],
                                     "error_detail": error.reason[:1000]}))
        if row.channel == "push" and error.address_invalid:
            dead_tokens.append(row.address)
        if row.channel == "sms" and error.opt_out:
            opted_out_numbers.append(row.address)
            if row.contact_id:
                opted_out.append(row.contact_id)
        if row.fallback_channels:
            fallbacks.append(_fallback_row(row, error))
    record.requeue(session, requeue, now)
    apply_statuses(session, changes)
    if dead_tokens:
        session.execute(delete(Device).where(Device.token.in_(dead_tokens)))
    if opted_out_numbers:
        sms_opt_outs.opt_out(session, opted_out_numbers, source="provider", at=now)
    if opted_out:
        session.execute(update(Contact).where(Contact.id.in_(opted_out)).values(sms_opted_out=True, updated_at=now))
        for contact_id in opted_out:
            emit_after_commit(session, "contact.sms_opted_out", {"contact_id": contact_id, "at": now.isoformat(),
                                                                  "source": "provider"})
    if fallbacks:
        outcome.fallbacks = record.insert_messages(session, fallbacks, now)
    return outcome



def _fallback_row(row: Any, error: PermanentError) -> dict:
    entry, *rest = row.fallback_channels
    return {
        "idempotency_key": f"{row.idempotency_key}:fallback:{entry['channel']}",
        "contact_id": row.contact_id, "campaign_id": row.campaign_id, "variant": row.variant,
        "template_key": row.template_key, "template_version_id": row.template_version_id,
        "category": row.category, "topic": row.topic, "locale": row.locale,
        "channel": entry["channel"], "address": entry["address"], "content": entry["content"],
        "status": "queued", "reason": f"fallback_from_{row.channel}", "expires_at": row.expires_at,
        "fallback_channels": rest or None,
    }
