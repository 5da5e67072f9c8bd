"""Send recorded messages in provider-sized chunks under the shared rate limit, recording the
results before more goes out.

Two ways in. `send_messages` (retries, deferrals, sweeps, API sends) claims rows one chunk at a
time and commits each chunk's results. `send_claimed` (deliver_batch's bulk path) gets rows
recorded already `sending` by the same job and records results per group of fast chunks.
Either way recording bounds what a crash can duplicate: rows already answered are `sent`
(with the provider id) or back in the queue; only what was in flight and unrecorded stays
`sending` as if sent, and the sweeper hands it out again after CHORUS_SENDING_TIMEOUT_SECONDS.
"""
from __future__ import annotations

import functools
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Sequence

from flask import current_app
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from channels import Accepted, Envelope, Failed, TransientError
from orchestrator.models import utcnow
from orchestrator.pipeline import record
from orchestrator.pipeline.adapters import registry_for
from orchestrator.pipeline.consent import FRESH, suppress_withdrawn
from orchestrator.pipeline.dispatch import enqueue_sends
from orchestrator.pipeline.halts import campaign_halted
from orchestrator.pipeline.ratelimit import limiter_for
from orchestrator.pipeline.retry import handle_failures
from orchestrator.services import tracking
from orchestrator.services.status import StatusChange, apply_statuses

log = logging.getLogger(__name__)

# send_claimed records results in groups when the provider answers fast: the unrecorded rows
# (the SIGKILL duplicate window) are at most this many, or this old.
FLUSH_ROWS = 1000
FLUSH_SECONDS = 0.25
# A rate-limit wait longer than this hands the channel's rest to send_messages jobs, and so
# does a batch still sending after MAX_INLINE_SECONDS (or a third of the sweeper's timeout).
MAX_INLINE_WAIT = 2.0
MAX_INLINE_SECONDS = 10.0
# send_messages jobs of at most this many ids claim their fresh rows with no read first.
DIRECT_CLAIM_MAX = 8


@dataclass
class SendReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    expired: int = 0
    fallbacks: int = 0
    provider_calls: int = 0
    errors: list[str] = field(default_factory=list)


def envelope(row: Any) -> Envelope:
    metadata = {"message_id": row.id, "category": row.category, "contact_id": row.contact_id,
                "campaign_id": row.campaign_id}
    if row.channel == "email" and row.category == "marketing" and row.contact_id is not None:
        # List-Unsubscribe (RFC 8058 one-click): from the email's topic when it has one, the
        # list it came from; else from all marketing. SMS has STOP; push and in-app need none.
        metadata["topic"] = row.topic
        metadata["unsubscribe_url"] = tracking.link_signer().unsubscribe_url(row.contact_id, row.idempotency_key,
                                                                             row.topic)
    return Envelope(row.id, row.idempotency_key, row.address or "", row.content or {}, metadata)


def send_messages(session: Session, message_ids: Sequence[int], *, app=None, now: datetime | None = None,
                  enqueue: bool = True) -> SendReport:
    """Send the due, unsent rows among `message_ids` (others are passed over: already sent,
    claimed by another worker, not yet due).

    Rows are claimed one provider chunk at a time, right before that chunk goes, so a row is
    `sending` only while its own request is in flight: that is the window a SIGKILL can
    duplicate, and what CHORUS_SENDING_TIMEOUT_SECONDS must outlast.

    A job of a few rows (an API send: one row per channel) claims those recorded within the
    last `FRESH` at once, with no candidate read first: their consent was decided moments ago
    and is not read again anyway (see orchestrator.pipeline.consent).
    """
    app = app or current_app._get_current_object()
    report = SendReport()
    now = now or utcnow()
    ids = list(message_ids)
    sender = _ChunkSender(session, app, report, now, enqueue)
    if len(ids) <= DIRECT_CLAIM_MAX:
        rows = record.claim(session, ids, max(utcnow(), now), created_since=now - FRESH)
        session.commit()
        report.claimed += len(rows)
        by_channel: dict[str, list[Any]] = defaultdict(list)
        for row in rows:
            by_channel[row.channel].append(row)
        for channel, channel_rows in by_channel.items():
            sender.send(channel, channel_rows)
        taken = {row.id for row in rows}
        ids = [i for i in ids if i not in taken]
        if not ids:
            return report
    candidates = session.execute(_candidates(session.get_bind().dialect.name), {"ids": ids, "now": now}).all()
    withdrawn = suppress_withdrawn(session, candidates, now) if candidates else set()
    if withdrawn:
        session.commit()  # else the read joins the first claim's transaction: one commit fewer
    by_channel_ids: dict[str, list[int]] = defaultdict(list)
    for candidate in candidates:
        if candidate.id not in withdrawn:
            by_channel_ids[candidate.channel].append(candidate.id)
    for channel, channel_ids in by_channel_ids.items():
        for chunk_ids in record.chunked(channel_ids, sender.adapter(channel).max_batch):
            # The claim's own time (not the job's start): the sweeper's deadline runs from it.
            rows = record.claim(session, list(chunk_ids), max(utcnow(), now))
            session.commit()
            report.claimed += len(rows)
            sender.send(channel, rows)
    return report


class _ChunkSender:
    """send_messages's part after the claim: claimed rows of one channel, in provider chunks
    under the shared rate limit, each chunk's results recorded (and committed) before the next."""

    def __init__(self, session: Session, app, report: SendReport, now: datetime, enqueue: bool):
        self.session, self.report, self.now, self.enqueue = session, report, now, enqueue
        self.registry, self.limiter = registry_for(app), limiter_for(app)  # both made once per app
        self.base_backoff = float(app.config["RETRY_BACKOFF_SECONDS"])

    def adapter(self, channel: str):
        return self.registry.get(channel)

    def send(self, channel: str, rows: Sequence[Any]) -> None:
        now, report = self.now, self.report
        expired = [row for row in rows if row.expires_at is not None and row.expires_at < now]
        if expired:
            _fail_expired(self.session, expired, now)
            self.session.commit()
            report.expired += len(expired)
        live = [row for row in rows if not (row.expires_at is not None and row.expires_at < now)]
        adapter = self.adapter(channel)
        for chunk in record.chunked(live, adapter.max_batch):
            wait = self.limiter.wait_for(channel, len(chunk))
            if wait > 0:
                time.sleep(wait)
            results = _send_chunk(adapter, chunk)
            report.provider_calls += 1
            _record_results(self.session, chunk, results, self.base_backoff, report, self.enqueue)


@functools.cache
def _candidates(dialect: str):
    """The unsent, due rows among :ids (built once: every send_messages job runs it)."""
    c = record.MESSAGES.c
    return (select(c.id, c.channel, c.contact_id, c.category, c.topic, c.address, c.created_at)
            .where(record.among_param(dialect, c.id, "ids"), record.due_filter(bindparam("now")),
                   c.provider_id.is_(None)).order_by(c.id))


def send_claimed(session: Session, rows: Sequence[Any], *, app=None, enqueue: bool = True) -> SendReport:
    """Send rows this job recorded already claimed (`sending`, attempt 1: deliver_batch's bulk
    path), with no claim UPDATE and no broker hop in between.

    Results are recorded (and committed) for a group of chunks at a time when the provider
    answers fast (FLUSH_ROWS or FLUSH_SECONDS, whichever comes first), and for every chunk
    when it is slow, so the unrecorded rows — all of them still `sending`, which is what the
    sweeper recovers after a crash — stay a bounded window. At each record the campaign's
    halt is checked: a pause or cancel hands the rest back to the queue (`queued`). A channel
    whose rate limit would keep this job waiting is handed to send_messages jobs instead, and
    so is the whole rest when the providers are slow (a time bound well inside the sweeper's).
    """
    app = app or current_app._get_current_object()
    report = SendReport(claimed=len(rows))
    if not rows:
        return report
    registry = registry_for(app)
    limiter = limiter_for(app)
    pending = _Unrecorded(session, float(app.config["RETRY_BACKOFF_SECONDS"]), report, enqueue)
    by_channel: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_channel[row.channel].append(row)
    work = [(registry.get(channel), chunk) for channel, channel_rows in by_channel.items()
            for chunk in record.chunked(channel_rows, registry.get(channel).max_batch)]
    campaigns = {row.campaign_id for row in rows}
    handed_over: set[str] = set()
    booked: dict[str, int] = defaultdict(int)  # rate-limit slots booked and not used yet
    # Claimed rows wait `sending` until their chunk goes: past this, the sweeper could take them
    # for a dead worker's, and slow providers are better served by many send_messages jobs at once.
    inline_until = time.monotonic() + min(MAX_INLINE_SECONDS, float(app.config["SENDING_TIMEOUT_SECONDS"]) / 3)
    for position, (adapter, chunk) in enumerate(work):
        if adapter.key in handed_over:
            continue
        if time.monotonic() > inline_until:
            pending.flush()
            _hand_over(session, [row for a, c in work[position:] if a.key not in handed_over for row in c],
                       enqueue, "slow_sends")
            return report
        if pending.due():
            pending.flush()
            if campaign_halted(session, campaigns):
                rest = [row for a, c in work[position:] if a.key not in handed_over for row in c]
                _release(session, rest, utcnow())
                session.commit()
                return report
        wait = 0.0
        if booked[adapter.key] < len(chunk):
            left = sum(len(c) for a, c in work[position:] if a is adapter)
            booked[adapter.key] = max(len(chunk), min(left, FLUSH_ROWS, limiter.burst(adapter.key)))
            wait = limiter.wait_for(adapter.key, booked[adapter.key])
        booked[adapter.key] -= len(chunk)
        if wait > MAX_INLINE_WAIT:
            pending.flush()
            _hand_over(session, [row for a, c in work[position:] if a is adapter for row in c], enqueue,
                       "rate_limited")
            handed_over.add(adapter.key)
            continue
        if wait > 0:
            pending.flush()
            time.sleep(wait)
        pending.add(chunk, _send_chunk(adapter, chunk))
        report.provider_calls += 1
    pending.flush()
    return report


class _Unrecorded:
    """Provider results not yet written: recorded together, committed, then enqueued."""

    def __init__(self, session: Session, base_backoff: float, report: SendReport, enqueue: bool):
        self.session, self.base_backoff, self.report, self.enqueue = session, base_backoff, report, enqueue
        self.rows: list[Any] = []
        self.results: list = []
        self.since = 0.0

    def add(self, chunk: Sequence[Any], results: list) -> None:
        if not self.rows:
            self.since = time.monotonic()
        self.rows.extend(chunk)
        self.results.extend(results)

    def due(self) -> bool:
        return bool(self.rows) and (len(self.rows) >= FLUSH_ROWS or time.monotonic() - self.since >= FLUSH_SECONDS)

    def flush(self) -> None:
        if self.rows:
            _record_results(self.session, self.rows, self.results, self.base_backoff, self.report, self.enqueue)
            self.rows, self.results = [], []


def _hand_over(session: Session, rows: Sequence[Any], enqueue: bool, reason: str) -> None:
    """sending → queued, for send_messages jobs (many at once, each as the rate limit allows)."""
    now = utcnow()
    record.unclaim(session, [row.id for row in rows], now, reason)
    session.commit()
    if enqueue:
        enqueue_sends([record.StoredMessage(row.id, row.idempotency_key, row.channel, "queued", row.category, None)
                       for row in rows], now)


def _send_chunk(adapter, chunk: Sequence[Any]) -> list:
    envelopes = [envelope(row) for row in chunk]
    try:
        results = adapter.send_batch(envelopes)
    except Exception as error:  # an adapter bug or a dead connection: the whole chunk may go again
        log.exception("channel %s failed a whole batch", adapter.key)
        failure = TransientError(f"{type(error).__name__}: {error}"[:500], code="adapter")
        return [Failed(e.message_id, failure) for e in envelopes]
    if len(results) != len(envelopes):
        raise RuntimeError(f"channel {adapter.key} returned {len(results)} results for {len(envelopes)} envelopes")
    return results


def _record_results(session: Session, chunk: Sequence[Any], results: list, base_backoff: float,
                    report: SendReport, enqueue: bool) -> None:
    now = utcnow()
    accepted = [(r.message_id, r.provider_id) for r in results if isinstance(r, Accepted)]
    by_id = {row.id: row for row in chunk}
    failures = [(by_id[r.message_id], r) for r in results if not isinstance(r, Accepted)]
    record.mark_sent(session, accepted, now)
    outcome = handle_failures(session, failures, now, base_backoff)
    session.commit()
    report.sent += len(accepted)
    report.retried += len(outcome.retried)
    report.failed += outcome.failed
    report.expired += outcome.expired
    report.fallbacks += len(outcome.fallbacks)
    if enqueue:
        enqueue_sends([*outcome.retried, *outcome.fallbacks], now)


def _fail_expired(session: Session, rows: Sequence[Any], now: datetime) -> None:
    apply_statuses(session, [StatusChange(row.id, "failed", now, "chorus", {"reason": "expired"},
                                          {"reason": "expired"}) for row in rows])


def _release(session: Session, rows: Sequence[Any], now: datetime) -> None:
    """sending → queued: the campaign halted before these went (resume or cancel decides)."""
    record.unclaim(session, [row.id for row in rows], now, "campaign_halted")
