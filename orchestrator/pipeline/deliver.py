"""`deliver_batch`: decide, render and record a batch of recipients, then hand it to the senders.

The order is what makes it safe: every message row (sent, deferred or skipped, with its
reason) is committed before anything is sent, keyed by its idempotency key, so a job that
runs twice — redelivered by the broker, retried after a crash — writes nothing new and only
enqueues the rows that are still waiting.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Mapping

from flask import current_app
from sqlalchemy.orm import Session

from campaigns import decisions as rules
from campaigns.variants import HOLDOUT
from orchestrator.models import utcnow
from orchestrator.pipeline import caps, record
from orchestrator.pipeline.dispatch import enqueue_sends
from orchestrator.pipeline.halts import campaign_halted
from orchestrator.pipeline.job import DeliveryJob, JobError
from orchestrator.pipeline.recipients import LoadedRecipient, load_contacts, load_inline
from orchestrator.pipeline.render import LoadedTemplate, RenderFailed, has_channel, load_template, render_one
from orchestrator.pipeline.send import SendReport, send_claimed
from orchestrator.pipeline.tracking import email_tracking

# Consent refusals are suppressions; not being reachable (or over a cap) is a skip.
SUPPRESSING = frozenset({rules.OPTED_OUT, rules.UNSUBSCRIBED, rules.TOPIC_OPTED_OUT, rules.SMS_OPTED_OUT})


@dataclass
class DeliveryReport:
    messages: list[record.StoredMessage] = field(default_factory=list)
    enqueued: int = 0
    sent: SendReport | None = None  # with send_now: what this job sent itself

    def by_status(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for message in self.messages:
            counts[message.status] = counts.get(message.status, 0) + 1
        return counts


def deliver_batch(session: Session, job_dict: Mapping[str, Any], *, now: datetime | None = None,
                  app=None, enqueue: bool = True, commit: bool = True, send_now: bool = False,
                  template: LoadedTemplate | None = None) -> DeliveryReport:
    """Run one job (see orchestrator.pipeline.job for its keys). Commits, unless `commit` is
    False: then the caller commits and enqueues (`enqueue_recorded`) in the same transaction as
    its own writes (the API stores its idempotent answer with the rows).

    `send_now` (the bulk actor): the rows due now are recorded already claimed (`sending`,
    attempt 1) and sent by this job right after the commit — one write less per message and no
    broker hop. They are still committed before anything goes, and a crash leaves them
    `sending`, which the sweeper recovers; a redelivered job sends none of them again.

    `template`: the job's template version, when the caller has loaded it already."""
    app = app or current_app._get_current_object()
    now = now or utcnow()
    job = DeliveryJob.from_dict(job_dict)
    template = template or load_template(session, job.template_key, job.template_version_id)
    channels = tuple(c for c in job.channels if has_channel(template, c))
    if not channels:
        raise JobError(f"template {job.template_key!r} has none of the channels {list(job.channels)}")
    job = _with_channels(job, channels)
    policy = job.policy(app.config["DEFAULT_TIMEZONE"])
    recipients = load_contacts(session, job.contact_ids)
    recipients += load_inline(session, job.recipients)
    ledger = caps.ledger_for(app) if caps.applies(policy) else None
    max_age = timedelta(seconds=app.config["MESSAGE_MAX_AGE"])

    with ledger.guard() if ledger else nullcontext():
        recent = ledger.recent(session, [r.contact_id for r in recipients if r.contact_id], policy, now) \
            if ledger else {}
        rows = []
        for loaded in recipients:
            rows.extend(_rows_for(loaded, job, policy, template, recent.get(loaded.contact_id), now, max_age))
        if ledger:
            _reserve(ledger, rows, policy, now)
        send_now = send_now and commit and enqueue and not campaign_halted(session, [job.campaign_id])
        if send_now:
            for row in rows:
                if row["status"] == "queued" and row.get("next_attempt_at") is None:
                    row.update(status="sending", attempts=1)
        stored = record.insert_messages(session, rows, now)
        if commit:
            session.commit()
    report = DeliveryReport(stored)
    if enqueue and commit:
        report.enqueued = enqueue_recorded(report, now, urgent=job_dict.get("priority") == "high")
    if send_now:
        claimed = [record.sendable(row, message.id, now) for row, message in zip(rows, stored)
                   if message.created and message.status == "sending"]
        report.sent = send_claimed(session, claimed, app=app)
    return report


def enqueue_recorded(report: DeliveryReport, now: datetime, *, urgent: bool = False) -> int:
    """Hand the waiting rows of a committed batch to the senders."""
    return enqueue_sends([m for m in report.messages if m.status in record.WAITING], now, urgent=urgent)


def _with_channels(job: DeliveryJob, channels: tuple[str, ...]) -> DeliveryJob:
    from dataclasses import replace

    return replace(job, channels=channels)


def _rows_for(loaded: LoadedRecipient, job: DeliveryJob, policy: rules.SendPolicy, template: LoadedTemplate,
              recent: rules.RecentSends | None, now: datetime, max_age: timedelta) -> list[dict]:
    variant = job.variants.get(loaded.contact_id) if loaded.contact_id else None
    base = {
        "contact_id": loaded.contact_id, "campaign_id": job.campaign_id, "variant": variant,
        "template_key": job.template_key, "template_version_id": template.version_id,
        "category": job.category, "topic": job.topic, "locale": loaded.locale,
        "data": dict(job.data) if job.data and job.campaign_id is None else None,
    }
    if variant == HOLDOUT:  # measured against, never sent: one row for the lift math
        channel = job.channels[0]
        return [{**base, "idempotency_key": job.key_for(loaded.key, channel), "channel": channel,
                 "status": "skipped", "reason": "holdout"}]
    recipient = loaded.recipient
    if loaded.contact_id is None and "inapp" in policy.channels:
        recipient = _without_inbox(recipient)
    verdict = rules.decide(recipient, policy, recent, now)
    send_at = job.send_at if job.send_at and job.send_at > now else None
    chosen = set(verdict.attempt) | {d.channel for d in verdict.deferred}
    rows = []
    for decision in verdict.decisions:
        channel = decision.channel
        row = {**base, "idempotency_key": job.key_for(loaded.key, channel), "channel": channel,
               "address": loaded.address(channel) if recipient.address(channel) else None}
        if decision.action == rules.SKIP:
            status = "suppressed" if decision.reason in SUPPRESSING else "skipped"
            rows.append({**row, "status": status, "reason": decision.reason})
            continue
        if channel not in chosen:
            continue  # `first` / `fallback`: an alternative, no row unless it comes to that
        due = decision.until if decision.action == rules.DEFER else send_at
        try:
            content = render_one(template, channel, loaded.scope, job.data, loaded.locale,
                                 tracking=email_tracking(channel, row["idempotency_key"], job, template,
                                                         loaded.contact_id))
        except RenderFailed as failure:
            rows.append({**row, "status": "failed", "reason": "render_error",
                         "error_code": failure.error.code or "render_error",
                         "error_detail": str(failure.error)[:1000]})
            continue
        fallback = _fallback_entries(loaded, template, job, verdict.fallback, row["idempotency_key"]) \
            if policy.strategy == "fallback" else []
        rows.append({**row, "content": content,
                     "status": "deferred" if due else "queued",
                     "reason": decision.reason if decision.action == rules.DEFER else None,
                     "next_attempt_at": due, "expires_at": (due or now) + max_age,
                     "fallback_channels": fallback or None})
    return rows


def _fallback_entries(loaded: LoadedRecipient, template: LoadedTemplate, job: DeliveryJob,
                      channels: tuple[str, ...] | list[str], key: str) -> list[dict]:
    """The next channels' messages, rendered now so a fallback sends exactly what was decided.
    Each is keyed as retry._fallback_row will key its row (a chain), so its tracked links find it."""
    entries = []
    for channel in channels:
        fallback_key = f"{key}:fallback:{channel}"
        try:
            content = render_one(template, channel, loaded.scope, job.data, loaded.locale,
                                 tracking=email_tracking(channel, fallback_key, job, template, loaded.contact_id))
        except RenderFailed:
            continue
        entries.append({"channel": channel, "address": loaded.address(channel), "content": content})
        key = fallback_key
    return entries


class _NoInbox(rules.Recipient):
    """An inline recipient has no inbox: `decide` must see in-app as unreachable."""

    def address(self, channel):
        return None if channel == "inapp" else super().address(channel)


def _without_inbox(recipient: rules.Recipient) -> rules.Recipient:
    return _NoInbox(**{f: getattr(recipient, f) for f in recipient.__dataclass_fields__})


def _reserve(ledger, rows: list[dict], policy: rules.SendPolicy, now: datetime) -> None:
    """Book the cap slots the planned sends use; a lost race turns the send into `capped`."""
    # Deferred rows were not judged against the cap (quiet hours come first): nothing to book.
    planned = [row for row in rows if row["status"] == "queued" and row.get("contact_id")]
    allowed = ledger.reserve([(r["contact_id"], r["channel"], r["idempotency_key"]) for r in planned], policy, now)
    for row, ok in zip(planned, allowed):
        if not ok:
            row.update(status="skipped", reason=rules.CAPPED, content=None, next_attempt_at=None,
                       fallback_channels=None)
