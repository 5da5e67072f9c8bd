"""Triggered campaigns: an event enters a contact, a delay passes, an exit event cancels.

On ingest (a listener on orchestrator.services.events) each stored event is matched against
the running triggered campaigns; a match that the re-entry rule allows becomes a
`trigger_entries` row with its due time, in the same transaction as the event. Due entries
are sent by the scheduler (or at once, after commit, when there is no delay), unless an exit
event arrived since entry or the contact is no longer in the audience. The wait lives in the
database, so a restart loses nothing.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import event as sa_event, select, update
from sqlalchemy.orm import Session

from campaigns import (
    Event as CoreEvent, HOLDOUT, TriggerRule, assign, due_at, should_enter, should_exit, trigger_matches,
)
from orchestrator import pipeline
from orchestrator.models import Campaign, Event, Segment, TriggerEntry, utcnow
from orchestrator.services import events as event_service
from orchestrator.services import segments as segment_service
from orchestrator.services.campaigns import template_for, variants_of

DUE_NOW = "chorus_trigger_entries_due"
# An entry handed to a worker this long ago and still pending was lost: hand it out again.
REDELIVER_AFTER = timedelta(minutes=2)
CHUNK = 200


def running_triggered(session: Session) -> list[tuple[Campaign, TriggerRule]]:
    campaigns = session.scalars(select(Campaign).where(Campaign.status == "running", Campaign.trigger.is_not(None)))
    return [(c, TriggerRule.from_dict(c.trigger)) for c in campaigns]


def enter_on_events(session: Session, event_ids: list[int], *, now: datetime | None = None) -> list[TriggerEntry]:
    """Entries for the stored events that start a running triggered campaign (the ingest listener)."""
    if not event_ids:
        return []
    campaigns = running_triggered(session)
    if not campaigns:
        return []
    names = {rule.event_name for _, rule in campaigns}
    events = session.execute(select(Event.id, Event.contact_id, Event.name, Event.properties, Event.occurred_at)
                             .where(Event.id.in_(event_ids), Event.name.in_(names))
                             .order_by(Event.occurred_at, Event.id)).all()
    if not events:
        return []
    now = now or utcnow()
    contacts = {e.contact_id for e in events}
    previous: dict[tuple[int, int], list[datetime]] = defaultdict(list)
    for campaign_id, contact_id, entered_at in session.execute(
            select(TriggerEntry.campaign_id, TriggerEntry.contact_id, TriggerEntry.entered_at)
            .where(TriggerEntry.campaign_id.in_([c.id for c, _ in campaigns]),
                   TriggerEntry.contact_id.in_(contacts))):
        previous[(campaign_id, contact_id)].append(entered_at)
    entries = []
    for campaign, rule in campaigns:
        for e in events:
            if not trigger_matches(rule, e.name, e.properties):
                continue
            seen = previous[(campaign.id, e.contact_id)]
            if not should_enter(rule, seen, e.occurred_at):
                continue
            seen.append(e.occurred_at)
            entries.append(TriggerEntry(campaign_id=campaign.id, contact_id=e.contact_id, event_id=e.id,
                                        entered_at=e.occurred_at, due_at=due_at(rule, e.occurred_at),
                                        data=dict(e.properties or {}), status="pending"))
    session.add_all(entries)
    session.flush()
    if any(entry.due_at <= now for entry in entries):
        session.info.setdefault(DUE_NOW, set()).update(e.id for e in entries if e.due_at <= now)
    return entries


def _on_ingest(session: Session, stored_ids: list[int]) -> None:
    enter_on_events(session, list(stored_ids))


@sa_event.listens_for(Session, "after_commit")
def _send_due_now(session: Session) -> None:
    """No delay means at once: hand the new entries to a worker as soon as they are committed."""
    ids = session.info.pop(DUE_NOW, None)
    if ids:
        from orchestrator.actors.campaigns import send_trigger_entries

        ordered = sorted(ids)
        for start in range(0, len(ordered), CHUNK):
            send_trigger_entries.send(ordered[start:start + CHUNK])


@sa_event.listens_for(Session, "after_rollback")
def _drop_due_now(session: Session) -> None:
    session.info.pop(DUE_NOW, None)


if _on_ingest not in event_service.ingest_listeners:
    event_service.ingest_listeners.append(_on_ingest)


def hand_out_due(session: Session, now: datetime, *, limit: int = 5000) -> list[list[int]]:
    """The scheduler's round: due entries of running campaigns, in chunks for workers.
    Stamped when handed out, so a lost broker message is found again later."""
    from orchestrator.actors.campaigns import send_trigger_entries

    live = select(Campaign.id).where(Campaign.status == "running")
    ids = list(session.scalars(
        select(TriggerEntry.id).where(TriggerEntry.status == "pending", TriggerEntry.due_at <= now,
                                      TriggerEntry.campaign_id.in_(live),
                                      TriggerEntry.enqueued_at.is_(None)
                                      | (TriggerEntry.enqueued_at < now - REDELIVER_AFTER))
        .order_by(TriggerEntry.due_at).limit(limit)))
    chunks = [ids[start:start + CHUNK] for start in range(0, len(ids), CHUNK)]
    for chunk in chunks:
        session.execute(update(TriggerEntry).where(TriggerEntry.id.in_(chunk)).values(enqueued_at=now))
    session.commit()
    for chunk in chunks:
        send_trigger_entries.send(chunk)
    return chunks


def send_entries(session: Session, entry_ids: list[int], *, now: datetime | None = None,
                 enqueue: bool = True) -> dict[str, int]:
    """Send the due, pending entries among `entry_ids`: exit events and the audience are
    checked now, at send time. Idempotent (each entry is its own message step)."""
    now = now or utcnow()
    outcome: dict[str, int] = defaultdict(int)
    entries = list(session.scalars(select(TriggerEntry).where(TriggerEntry.id.in_(entry_ids),
                                                              TriggerEntry.status == "pending",
                                                              TriggerEntry.due_at <= now)
                                   .order_by(TriggerEntry.id)))
    by_campaign: dict[int, list[TriggerEntry]] = defaultdict(list)
    for entry in entries:
        by_campaign[entry.campaign_id].append(entry)
    for campaign_id, group in by_campaign.items():
        campaign = session.get(Campaign, campaign_id)
        if campaign.status != "running":
            outcome["held"] += len(group)
            continue
        rule = TriggerRule.from_dict(campaign.trigger)
        exited = _exited(session, rule, group)
        members = _in_audience(session, campaign, [e.contact_id for e in group if e.id not in exited], now)
        for entry in group:
            if entry.id in exited:
                entry.status = "exited"
            elif entry.contact_id not in members:
                entry.status = "skipped"
            else:
                _deliver(session, campaign, entry, now, enqueue)
                entry = session.get(TriggerEntry, entry.id, populate_existing=True)
                entry.status = "sent"
            entry.finished_at = now
            outcome[entry.status] += 1
        session.commit()
    return dict(outcome)


def _exited(session: Session, rule: TriggerRule, entries: list[TriggerEntry]) -> set[int]:
    """Entries whose contact did the exit event after entering (checked against stored events)."""
    if rule.exit_event is None or not entries:
        return set()
    earliest = min(e.entered_at for e in entries)
    history: dict[int, list[CoreEvent]] = defaultdict(list)
    for contact_id, name, properties, occurred_at in session.execute(
            select(Event.contact_id, Event.name, Event.properties, Event.occurred_at)
            .where(Event.contact_id.in_({e.contact_id for e in entries}), Event.name == rule.exit_event.name,
                   Event.occurred_at >= earliest)):
        history[contact_id].append(CoreEvent(name, occurred_at, properties or {}))
    return {e.id for e in entries if should_exit(rule, history[e.contact_id], e.entered_at)}


def _in_audience(session: Session, campaign: Campaign, contact_ids: list[int], now: datetime) -> set[int]:
    if not contact_ids:
        return set()
    if campaign.segment_id is None:
        return set(contact_ids)
    rules = session.get(Segment, campaign.segment_id).rules
    return segment_service.members_among(session, rules, contact_ids, now)


def _deliver(session: Session, campaign: Campaign, entry: TriggerEntry, now: datetime, enqueue: bool) -> None:
    from orchestrator.services.campaign_plans import job_base

    arms = variants_of(session, campaign)
    variant = assign(campaign.id, entry.contact_id, [(v.name, v.weight) for v in arms], campaign.holdout_percent)
    arm = arms[0] if variant == HOLDOUT else next(v for v in arms if v.name == variant)
    base = job_base(campaign)
    job = {**base, "template_key": template_for(campaign, arm), "contact_ids": [entry.contact_id],
           "variants": {str(entry.contact_id): variant}, "step": f"t{entry.id}",
           "data": {**base["data"], **(entry.data or {})}}
    entry.variant = variant
    pipeline.deliver_batch(session, job, now=now, enqueue=enqueue)  # commits
