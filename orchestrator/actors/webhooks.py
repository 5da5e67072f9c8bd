"""Outbound webhook delivery (the `webhooks` queue) and its sweep for due retries."""
from __future__ import annotations

import dramatiq
from flask import current_app

from orchestrator.db import db
from orchestrator.models import utcnow
from orchestrator.scheduler import periodic
from orchestrator.services import webhooks

MAX_BROKER_DELAY_SECONDS = 3600


@dramatiq.actor(queue_name="webhooks", max_retries=0, time_limit=10 * 60_000)
def deliver_webhooks(delivery_ids: list[int]) -> None:
    """POST each due delivery to its endpoint; failures come back with backoff."""
    config = current_app.config
    report = webhooks.deliver(db.session, delivery_ids, allow_private=config["ALLOW_PRIVATE_WEBHOOK_URLS"],
                              timeout=config["WEBHOOK_TIMEOUT_SECONDS"])
    for delivery_id, delay in report.retrying:
        if delay <= MAX_BROKER_DELAY_SECONDS:
            deliver_webhooks.send_with_options(args=([delivery_id],), delay=int(delay * 1000))


@periodic(every_seconds=30)
def sweep_webhook_deliveries() -> None:
    ids = webhooks.due_deliveries(db.session, utcnow())
    for start in range(0, len(ids), 100):
        deliver_webhooks.send(ids[start:start + 100])
