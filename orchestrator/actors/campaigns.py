"""Campaign actors: plan a run, deliver one of its batches, send due trigger entries; and the
scheduler's rounds (due scheduled and recurring campaigns, due trigger entries, lost work,
completion). Arguments are ids; every actor is idempotent."""
from __future__ import annotations

import dramatiq

from orchestrator.db import db
from orchestrator.models import utcnow
from orchestrator.scheduler import periodic
from orchestrator.services import campaign_plans, triggers

OPTIONS = {"max_retries": 5, "min_backoff": 1000, "max_backoff": 60_000, "time_limit": 30 * 60_000}


@dramatiq.actor(queue_name="bulk", priority=5, **OPTIONS)
def plan_campaign(campaign_id: int, run_id: int) -> None:
    """Walk the run's audience from its saved cursor, cutting and handing out batches."""
    campaign_plans.plan(db.session, campaign_id, run_id)


@dramatiq.actor(queue_name="bulk", priority=10, **OPTIONS)
def deliver_campaign_batch(batch_id: int) -> None:
    """Record one batch's messages through the delivery pipeline and hand them to the senders."""
    campaign_plans.deliver(db.session, batch_id)


@dramatiq.actor(queue_name="bulk", priority=5, **OPTIONS)
def send_trigger_entries(entry_ids: list[int]) -> None:
    triggers.send_entries(db.session, entry_ids)


@periodic(every_seconds=5)
def start_due_campaigns() -> None:
    """Scheduled campaigns whose time came, and each occurrence of a recurring one."""
    campaign_plans.start_due(db.session, utcnow())


@periodic(every_seconds=2)
def send_due_trigger_entries() -> None:
    triggers.hand_out_due(db.session, utcnow())


@periodic(every_seconds=5)
def finish_campaigns() -> None:
    """Complete what has nothing left to send; suppress what a cancel left waiting."""
    now = utcnow()
    campaign_plans.sweep_cancelled(db.session, now)
    campaign_plans.complete_finished(db.session, now)


@periodic(every_seconds=30)
def resume_lost_campaign_work() -> None:
    """Plans stopped by a dead worker, batches whose broker message was lost."""
    campaign_plans.resume_lost_work(db.session, utcnow())
