"""Delivery actors: `deliver_batch` (decide, render, record), the senders, and the sweeper.

Two of each: the `transactional` queue (high priority: OTPs, receipts) and the `bulk` queue
(campaigns), so a broadcast never delays an OTP. Arguments are ids and small JSON dicts;
every actor is idempotent (the message rows and their idempotency keys make it so).
"""
from __future__ import annotations

import dramatiq
from flask import current_app

from orchestrator import pipeline
from orchestrator.db import db
from orchestrator.models import utcnow
from orchestrator.pipeline.sweeper import sweep
from orchestrator.scheduler import periodic

# Dramatiq's own retries would re-run a whole batch; the pipeline retries per message instead.
# The job is still safe to run twice (redelivery after a crash), which is what it must survive.
OPTIONS = {"max_retries": 3, "min_backoff": 1000, "max_backoff": 30_000, "time_limit": 15 * 60_000}


@dramatiq.actor(queue_name="bulk", priority=10, **OPTIONS)
def deliver_batch(job: dict) -> None:
    """A batch of recipients for one template (campaign planning enqueues these). It sends the
    rows due now itself (no second broker hop); retries, deferrals and sweeps go to send_messages."""
    pipeline.deliver_batch(db.session, job, send_now=True)


@dramatiq.actor(queue_name="transactional", priority=0, **OPTIONS)
def deliver_transactional(job: dict) -> None:
    pipeline.deliver_batch(db.session, job)


@dramatiq.actor(queue_name="bulk", priority=10, **OPTIONS)
def send_messages(message_ids: list[int]) -> None:
    """Send recorded messages (a chunk of one channel)."""
    pipeline.send_messages(db.session, message_ids)


@dramatiq.actor(queue_name="transactional", priority=0, **OPTIONS)
def send_transactional(message_ids: list[int]) -> None:
    pipeline.send_messages(db.session, message_ids)


@periodic(every_seconds=15)
def sweep_messages() -> None:
    """Re-enqueue what a dead worker or a lost broker message left behind; send due deferrals."""
    config = current_app.config
    sweep(db.session, now=utcnow(), sending_timeout=config["SENDING_TIMEOUT_SECONDS"],
          grace=config["SWEEP_GRACE_SECONDS"])


@periodic(every_seconds=600)
def purge_idempotency_keys() -> None:
    """Idempotency keys live 24 hours; without this the table only grows."""
    from orchestrator.services import idempotency

    idempotency.purge_expired(db.session, utcnow())
