"""Planning a campaign run: walk the audience by keyset, cut batches, hand them to delivery.

The cursor (the last contact id planned) is saved in the same transaction as the batches it
cut, so a crashed plan resumes where it stopped and re-cuts nothing. A batch is delivered by
the pipeline (`orchestrator.pipeline.deliver_batch`, idempotent by message key) and then
marked done; a batch that was never delivered (its broker message lost, a pause) is handed
out again by the scheduler or by resume. A run is complete when it is planned, every batch
is done and none of its campaign's messages is still waiting or sending.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from campaigns import HOLDOUT, assign, delay_for_batch, local_send_time, next_run, schedule_from_dict
from campaigns.schedules import Recurring, SendInLocalTime
from campaigns.segments import audience_page
from campaigns.throttle import effective_batch_size
from orchestrator import pipeline
from orchestrator.models import Campaign, CampaignBatch, CampaignRun, Message, Segment, utcnow
from orchestrator.pipeline import record
from orchestrator.pipeline.dispatch import enqueue_sends
from orchestrator.services import segments as segment_service
from orchestrator.services.campaigns import template_for, variants_of

log = logging.getLogger(__name__)

# Contacts per page and batch (one deliver_batch job); app config CAMPAIGN_BATCH_SIZE overrides it.
PAGE_SIZE = 1000
# Broker delays longer than this are not parked in the broker: the scheduler hands the batch
# out when it comes due.
MAX_BROKER_DELAY = timedelta(hours=1)
# A pending batch handed out this long ago and still not done was lost: hand it out again.
REDELIVER_AFTER = timedelta(minutes=2)
RUNNING = ("running", "scheduled")
# A broker delay is not exact: a batch this close to its time is on time.
EARLY_TOLERANCE = timedelta(seconds=1)


def page_size(campaign: Campaign) -> int:
    return effective_batch_size(current_app.config.get("CAMPAIGN_BATCH_SIZE") or PAGE_SIZE,
                                campaign.throttle_per_minute)


def start_run(session: Session, campaign: Campaign, now: datetime) -> CampaignRun:
    """A new walk over the audience; its step (r1, r2…) keeps recurring sends apart."""
    runs = session.scalar(select(func.count()).select_from(CampaignRun).where(CampaignRun.campaign_id == campaign.id))
    run = CampaignRun(campaign_id=campaign.id, step=f"r{runs + 1}", status="planning", started_at=now)
    session.add(run)
    session.flush()
    return run


def enqueue_plan(campaign_id: int, run_id: int) -> None:
    from orchestrator.actors.campaigns import plan_campaign

    plan_campaign.send(campaign_id, run_id)


def enqueue_batch(batch: CampaignBatch, now: datetime) -> bool:
    """Hand a batch to a worker, with the throttle's delay; False when it is too far ahead."""
    from orchestrator.actors.campaigns import deliver_campaign_batch

    wait = batch.not_before - now
    if wait > MAX_BROKER_DELAY:
        return False
    delay = int(wait.total_seconds() * 1000) if wait > timedelta(0) else None
    deliver_campaign_batch.send_with_options(args=(batch.id,), delay=delay)
    return True


# Planning -----------------------------------------------------------------------------------

def plan(session: Session, campaign_id: int, run_id: int, *, now: datetime | None = None,
         enqueue: bool = True, max_pages: int | None = None) -> CampaignRun | None:
    """Walk the run's audience from its cursor to the end (or until the campaign halts). Commits
    after every page. Returns the run, or None when there is nothing to plan."""
    pages = 0
    while max_pages is None or pages < max_pages:
        now_page = now or utcnow()
        campaign = session.get(Campaign, campaign_id, populate_existing=True)
        run = session.scalar(select(CampaignRun).where(CampaignRun.id == run_id).with_for_update())
        if campaign is None or run is None or run.status != "planning":
            session.rollback()
            return run
        if campaign.status not in RUNNING:  # paused or cancelled: resume plans on from the cursor
            session.rollback()
            return run
        batches = _plan_page(session, campaign, run, now_page)
        session.commit()
        pages += 1
        if enqueue:
            for batch in batches:
                if enqueue_batch(batch, now_page):
                    batch.enqueued_at = now_page
            session.commit()
        if run.status != "planning":
            return run
    return run


def _plan_page(session: Session, campaign: Campaign, run: CampaignRun, now: datetime) -> list[CampaignBatch]:
    size = page_size(campaign)
    rules = session.get(Segment, campaign.segment_id).rules if campaign.segment_id else None
    where = segment_service.where_clause(session, rules, now)
    tables = segment_service.tables()
    query = audience_page(where, tables, after_id=run.cursor, limit=size).add_columns(tables.contacts.c.timezone)
    rows = session.execute(query).all()
    if not rows:
        run.status = "planned"
        run.planned_at = now
        return []
    groups = _by_send_time(campaign, rows, now)
    batches = []
    # Each batch is one throttle step after the one before it and never in the past, so a plan
    # that resumes after a pause keeps the pace instead of bursting what the pause held back.
    # With local time the pace runs per send instant (each zone's morning), and a throttled
    # batch is delivered at its own time rather than recorded early and released all at once.
    step = delay_for_batch(1, size, campaign.throttle_per_minute)
    chains: dict[datetime | None, datetime | None] = {}
    for send_at, contact_ids in groups:
        position = run.batches + len(batches)
        if not campaign.throttle_per_minute:
            not_before = run.started_at
        else:
            if send_at not in chains:
                chains[send_at] = _last_not_before(session, run, send_at) if run.batches else None
            floor = max(now, send_at) if send_at is not None else max(run.started_at, now)
            previous = chains[send_at]
            not_before = floor if previous is None else max(previous + step, floor)
            chains[send_at] = not_before
        batches.append(CampaignBatch(run_id=run.id, position=position, contact_ids=contact_ids, send_at=send_at,
                                     not_before=not_before, status="pending"))
    session.add_all(batches)
    run.cursor = rows[-1].id
    run.batches += len(batches)
    run.contacts += sum(len(b.contact_ids) for b in batches)
    if len(rows) < size:
        run.status = "planned"
        run.planned_at = now
    session.flush()
    return batches


def _last_not_before(session: Session, run: CampaignRun, send_at: datetime | None) -> datetime | None:
    same_instant = CampaignBatch.send_at.is_(None) if send_at is None else CampaignBatch.send_at == send_at
    return session.scalar(select(func.max(CampaignBatch.not_before))
                          .where(CampaignBatch.run_id == run.id, same_instant))


def _by_send_time(campaign: Campaign, rows, now: datetime) -> list[tuple[datetime | None, list[int]]]:
    """One group for most schedules; for local time, one per send instant (per zone, in effect).
    Contacts whose local time was missed under `late: skip` are left out."""
    schedule = schedule_from_dict(campaign.schedule) if campaign.schedule else None
    if not isinstance(schedule, SendInLocalTime):
        return [(None, [row.id for row in rows])]
    default = current_app.config["DEFAULT_TIMEZONE"]
    groups: dict[datetime, list[int]] = {}
    cache: dict[str | None, datetime | None] = {}
    for row in rows:
        if row.timezone not in cache:
            cache[row.timezone] = local_send_time(schedule.day, schedule.at, row.timezone, now, grace=schedule.grace,
                                                  late=schedule.late, default_timezone=default)
        at = cache[row.timezone]
        if at is not None:
            groups.setdefault(at, []).append(row.id)
    return sorted(groups.items())


# Delivering a batch -------------------------------------------------------------------------

def job_base(campaign: Campaign) -> dict:
    """The deliver_batch job settings every message of the campaign shares."""
    return {"channels": list(campaign.channels), "strategy": campaign.strategy, "category": campaign.category,
            "topic": campaign.topic, "data": dict(campaign.data or {}), "campaign_id": campaign.id,
            "respect_caps": campaign.respect_caps, "respect_quiet_hours": campaign.respect_quiet_hours,
            "frequency_caps": list(campaign.frequency_caps or []), "quiet_hours": campaign.quiet_hours}


def assignments(session: Session, campaign: Campaign, contact_ids: list[int]) -> dict[str, dict[int, str]]:
    """template key → {contact id: variant}, by the stable hash; the holdout rides with the first
    template (the pipeline records it, sends it nothing)."""
    arms = variants_of(session, campaign)
    weights = [(v.name, v.weight) for v in arms]
    templates = {v.name: template_for(campaign, v) for v in arms}
    first = templates[arms[0].name]
    grouped: dict[str, dict[int, str]] = {}
    for contact_id in contact_ids:
        variant = assign(campaign.id, contact_id, weights, campaign.holdout_percent or 0.0)
        grouped.setdefault(first if variant == HOLDOUT else templates[variant], {})[contact_id] = variant
    return grouped


def deliver(session: Session, batch_id: int, *, now: datetime | None = None, enqueue: bool = True) -> str:
    """Record (and hand to the senders) one batch's messages; returns what became of it."""
    batch = session.get(CampaignBatch, batch_id)
    if batch is None or batch.status != "pending":
        return "gone" if batch is None else batch.status
    run = session.get(CampaignRun, batch.run_id)
    campaign = session.get(Campaign, run.campaign_id)
    if campaign.status == "cancelled" or run.status == "cancelled":
        batch.status, batch.done_at = "cancelled", now or utcnow()
        session.commit()
        return "cancelled"
    if campaign.status not in RUNNING:
        session.rollback()
        return "paused"  # stays pending: resume hands it out again
    now = now or utcnow()
    if batch.not_before > now + EARLY_TOLERANCE:
        # Re-timed since this broker message was sent (a resume spaced the batches out again):
        # the row's time is the one that holds.
        batch.enqueued_at = now if enqueue and enqueue_batch(batch, now) else None
        session.commit()
        return "not_yet"
    base = {**job_base(campaign), "step": run.step}
    if batch.send_at is not None:
        base["send_at"] = batch.send_at.isoformat()
    for template_key, variants in assignments(session, campaign, list(batch.contact_ids)).items():
        job = {**base, "template_key": template_key, "contact_ids": list(variants),
               "variants": {str(k): v for k, v in variants.items()}}
        pipeline.deliver_batch(session, job, now=now, enqueue=enqueue)  # commits
    batch = session.get(CampaignBatch, batch_id, populate_existing=True)
    batch.status, batch.done_at = "done", utcnow()
    session.commit()
    return "done"


# Resuming and the scheduler's rounds --------------------------------------------------------

def hand_out_again(session: Session, campaign: Campaign, now: datetime) -> dict:
    """After a resume: plans go on from their cursors, pending batches and waiting messages go again."""
    if campaign.throttle_per_minute:
        _retime_pending(session, campaign, now)
    runs = list(session.scalars(select(CampaignRun).where(CampaignRun.campaign_id == campaign.id,
                                                          CampaignRun.status == "planning")))
    for run in runs:
        enqueue_plan(campaign.id, run.id)
    batches = _redeliver(session, [CampaignBatch.run_id.in_(
        select(CampaignRun.id).where(CampaignRun.campaign_id == campaign.id))], now)
    c = Message.__table__.c
    waiting = session.execute(select(c.id, c.channel, c.category, c.next_attempt_at)
                              .where(c.campaign_id == campaign.id, c.status.in_(record.WAITING))).all()
    sends = enqueue_sends(waiting, now)
    return {"plans": len(runs), "batches": batches, "messages": len(waiting), "send_jobs": sends}


def _retime_pending(session: Session, campaign: Campaign, now: datetime) -> None:
    """The batches a pause held back, spaced out again from now at the throttle's pace (their
    old times passed during the pause: handed out as they were, they would all go at once)."""
    step = delay_for_batch(1, page_size(campaign), campaign.throttle_per_minute)
    runs = select(CampaignRun.id).where(CampaignRun.campaign_id == campaign.id)
    pending = session.scalars(select(CampaignBatch).where(CampaignBatch.run_id.in_(runs),
                                                          CampaignBatch.status == "pending")
                              .order_by(CampaignBatch.run_id, CampaignBatch.position)).all()
    chains: dict[datetime | None, datetime] = {}  # per send instant, as planned
    for batch in pending:
        at = chains.get(batch.send_at, now)
        batch.not_before = max(at, batch.not_before)
        chains[batch.send_at] = batch.not_before + step
    session.flush()


def _redeliver(session: Session, conditions: list, now: datetime) -> int:
    pending = list(session.scalars(select(CampaignBatch).where(CampaignBatch.status == "pending",
                                                               CampaignBatch.not_before <= now + MAX_BROKER_DELAY,
                                                               *conditions)
                                   .order_by(CampaignBatch.id)))
    count = 0
    for batch in pending:
        if enqueue_batch(batch, now):
            batch.enqueued_at = now
            count += 1
    session.commit()
    return count


def start_due(session: Session, now: datetime) -> list[int]:
    """Scheduled campaigns whose time has come: a run starts (recurring ones stay scheduled
    and get their next time). Returns the run ids started."""
    due = list(session.scalars(select(Campaign).where(Campaign.status == "scheduled", Campaign.next_run_at <= now)
                               .order_by(Campaign.next_run_at).with_for_update(skip_locked=True)))
    started = []
    for campaign in due:
        schedule = schedule_from_dict(campaign.schedule) if campaign.schedule else None
        if isinstance(schedule, Recurring):
            campaign.next_run_at = next_run(schedule.cron, now, schedule.timezone)
        else:
            campaign.status = "running"
            campaign.next_run_at = None
        started.append((campaign.id, start_run(session, campaign, now).id))
    session.commit()
    for campaign_id, run_id in started:
        enqueue_plan(campaign_id, run_id)
    return [run_id for _, run_id in started]


def resume_lost_work(session: Session, now: datetime) -> dict:
    """Plans that stopped (a dead worker) and batches whose broker message was lost."""
    live = select(Campaign.id).where(Campaign.status.in_(RUNNING))
    stale = now - REDELIVER_AFTER
    stalled = session.execute(select(CampaignRun.campaign_id, CampaignRun.id).where(
        CampaignRun.status == "planning", CampaignRun.campaign_id.in_(live),
        ~exists().where(CampaignBatch.run_id == CampaignRun.id, CampaignBatch.done_at > stale),
        CampaignRun.started_at < stale)).all()
    for campaign_id, run_id in stalled:
        enqueue_plan(campaign_id, run_id)
    runs = select(CampaignRun.id).where(CampaignRun.campaign_id.in_(live))
    lost = _redeliver(session, [CampaignBatch.run_id.in_(runs), CampaignBatch.not_before <= now,
                                (CampaignBatch.enqueued_at.is_(None)) | (CampaignBatch.enqueued_at < stale)], now)
    return {"plans": len(stalled), "batches": lost}


def complete_finished(session: Session, now: datetime) -> list[int]:
    """Runs that are planned, with every batch done and no message waiting or sending, are
    completed; so is a (non-recurring) running campaign whose runs all are. Returns campaign ids completed."""
    c = Message.__table__.c
    candidates = session.execute(select(CampaignRun, Campaign).join(Campaign, Campaign.id == CampaignRun.campaign_id)
                                 .where(CampaignRun.status == "planned", Campaign.status.in_(RUNNING))).all()
    completed = []
    for run, campaign in candidates:
        if session.scalar(select(exists().where(CampaignBatch.run_id == run.id, CampaignBatch.status == "pending"))):
            continue
        if session.scalar(select(exists().where(c.campaign_id == campaign.id,
                                                c.status.in_((*record.WAITING, "sending"))))):
            continue
        run.status, run.finished_at = "completed", now
        if campaign.status == "running" and not campaign.triggered:
            campaign.status, campaign.finished_at = "completed", now
            completed.append(campaign.id)
    session.commit()
    return completed


def sweep_cancelled(session: Session, now: datetime) -> int:
    """Rows a batch in flight recorded after its campaign was cancelled become suppressed too."""
    from orchestrator.services.campaigns import cancel_leftovers

    c = Message.__table__.c
    ids = session.scalars(select(Campaign.id).where(Campaign.status == "cancelled", exists().where(
        c.campaign_id == Campaign.id, c.status.in_(record.WAITING)))).all()
    total = sum(cancel_leftovers(session, campaign_id, now) for campaign_id in ids)
    session.commit()
    return total
