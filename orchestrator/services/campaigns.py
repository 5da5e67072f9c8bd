"""Campaigns: create and edit, check before launch, and the lifecycle actions.

Status moves go through campaigns.lifecycle (an illegal move is a 409). What each move does:

* launch: checks everything (templates published and valid for every channel, the audience
  not empty) and answers 422 listing what is wrong; then sends now (a run is planned), or
  schedules (a time, a recurring cron), or for a triggered campaign starts listening.
* pause: takes effect within seconds mid-send, because the planner, each batch and the send
  path all read the status (orchestrator.pipeline.halts); waiting messages stay queued.
* resume: returns to where the pause came from and hands out again what the pause held:
  the plan from its cursor, the pending batches, the queued messages.
* cancel: final; waiting messages become `suppressed` (reason `cancelled`).
"""
from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from campaigns import (
    InvalidTransition, allowed_actions, next_run, schedule_from_dict, transition,
)
from campaigns.schedules import Recurring, SendAt, SendInLocalTime
from orchestrator.errors import Conflict, InvalidInput, NotFound
from orchestrator.models import (
    AuditEntry, Campaign, CampaignBatch, CampaignRun, CampaignVariant, Message, Segment, Template,
    TemplateVersion, TriggerEntry, utcnow,
)
from orchestrator.pipeline import record
from orchestrator.services import segments as segment_service
from orchestrator.services.pagination import decode_cursor, page
from orchestrator.services.templates import version_content

DEFAULT_VARIANT = "default"
EDITABLE = ("draft", "scheduled", "paused")
SETTINGS = ("name", "segment_id", "channels", "strategy", "category", "topic", "data", "schedule", "trigger",
            "throttle_per_minute", "respect_caps", "respect_quiet_hours", "frequency_caps", "quiet_hours",
            "holdout_percent", "goal")


# Reading ------------------------------------------------------------------------------------

def get_campaign(session: Session, campaign_id: int, *, for_update: bool = False) -> Campaign:
    query = select(Campaign).where(Campaign.id == campaign_id)
    if for_update:
        query = query.with_for_update()
    campaign = session.scalar(query)
    if campaign is None:
        raise NotFound(f"No campaign {campaign_id}.")
    return campaign


def variants_of(session: Session, campaign: Campaign) -> list[CampaignVariant]:
    """The A/B arms; a campaign without any has one, `default`, with the campaign's template."""
    rows = list(session.scalars(select(CampaignVariant).where(CampaignVariant.campaign_id == campaign.id)
                                .order_by(CampaignVariant.position)))
    return rows or [CampaignVariant(name=DEFAULT_VARIANT, weight=1.0, template_key=None, position=0)]


def template_for(campaign: Campaign, variant: CampaignVariant) -> str | None:
    return variant.template_key or campaign.template_key


def describe(session: Session, campaign: Campaign) -> dict:
    run = session.scalar(select(CampaignRun).where(CampaignRun.campaign_id == campaign.id)
                         .order_by(CampaignRun.id.desc()).limit(1))
    progress = {"runs": 0}
    if run is not None:
        progress = {"run_id": run.id, "step": run.step, "status": run.status, "contacts_planned": run.contacts,
                    "batches": run.batches, "started_at": run.started_at, "planned_at": run.planned_at,
                    "runs": session.scalar(select(func.count()).select_from(CampaignRun)
                                           .where(CampaignRun.campaign_id == campaign.id))}
    return {
        **{name: getattr(campaign, name) for name in SETTINGS},
        "id": campaign.id, "status": campaign.status, "paused_from": campaign.paused_from,
        "allowed_actions": [str(a) for a in allowed_actions(campaign.status)
                            if a not in ("start", "complete", "schedule")],
        "kind": "triggered" if campaign.triggered else "broadcast",
        "template": campaign.template_key,
        "variants": [{"name": v.name, "weight": v.weight, "template": v.template_key}
                     for v in variants_of(session, campaign) if v.campaign_id is not None],
        "next_run_at": campaign.next_run_at, "launched_at": campaign.launched_at,
        "finished_at": campaign.finished_at, "created_at": campaign.created_at,
        "updated_at": campaign.updated_at, "progress": progress,
    }


def list_campaigns(session: Session, *, limit: int, cursor: str | None = None,
                   status: str | None = None) -> tuple[list[Campaign], str | None]:
    query = select(Campaign).order_by(Campaign.id).limit(limit + 1)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(Campaign.id > after)
    if status:
        query = query.where(Campaign.status == status)
    return page(list(session.scalars(query)), limit)


# Writing ------------------------------------------------------------------------------------

def _audit(session: Session, action: str, campaign: Campaign, actor: dict | None, **details) -> None:
    session.add(AuditEntry(action=f"campaign.{action}", target_type="campaign", target_id=str(campaign.id),
                           details=details, **(actor or {})))


def _check_segment(session: Session, segment_id: int | None) -> None:
    if segment_id is not None and session.get(Segment, segment_id) is None:
        raise InvalidInput.field("segment_id", f"No segment {segment_id}.")


def _set_variants(session: Session, campaign: Campaign, variants: list[dict]) -> None:
    session.execute(CampaignVariant.__table__.delete().where(CampaignVariant.campaign_id == campaign.id))
    for position, variant in enumerate(variants):
        session.add(CampaignVariant(campaign_id=campaign.id, name=variant["name"], weight=variant["weight"],
                                    template_key=variant.get("template"), position=position))


def create_campaign(session: Session, *, actor: dict | None = None, **body) -> Campaign:
    _check_segment(session, body.get("segment_id"))
    variants = body.pop("variants", None) or []
    campaign = Campaign(
        name=body["name"], template_key=body.pop("template", None), channels=body["channels"],
        strategy=body.get("strategy") or "all", category=body.get("category") or "marketing",
        topic=body.get("topic"), data=body.get("data") or {}, segment_id=body.get("segment_id"),
        schedule=body.get("schedule"), trigger=body.get("trigger"),
        throttle_per_minute=body.get("throttle_per_minute"),
        respect_caps=body.get("respect_caps", True), respect_quiet_hours=body.get("respect_quiet_hours", True),
        frequency_caps=body.get("frequency_caps") or [], quiet_hours=body.get("quiet_hours"),
        holdout_percent=body.get("holdout_percent") or 0.0, goal=body.get("goal"), status="draft")
    session.add(campaign)
    session.flush()
    _set_variants(session, campaign, variants)
    _audit(session, "created", campaign, actor, name=campaign.name)
    session.flush()
    return campaign


def update_campaign(session: Session, campaign_id: int, *, actor: dict | None = None, now: datetime | None = None,
                    **changes) -> Campaign:
    campaign = get_campaign(session, campaign_id, for_update=True)
    if campaign.status not in EDITABLE and set(changes) - {"name"}:
        raise Conflict(f"A {campaign.status} campaign can only be renamed.")
    if "segment_id" in changes:
        _check_segment(session, changes["segment_id"])
    if "schedule" in changes and changes["schedule"] is not None and campaign.trigger is not None \
            and "trigger" not in changes:
        raise InvalidInput.field("schedule", "This campaign is triggered; send `trigger: null` to schedule it.")
    if "trigger" in changes and changes["trigger"] is not None and campaign.schedule is not None \
            and "schedule" not in changes:
        changes["schedule"] = None
    edited = set(changes)
    if "template" in changes:
        campaign.template_key = changes.pop("template")
    if "variants" in changes:
        _set_variants(session, campaign, changes.pop("variants") or [])
    for name, value in changes.items():
        setattr(campaign, name, value)
    now = now or utcnow()
    campaign.updated_at = now
    if campaign.status == "scheduled" and edited - {"name"}:
        _reschedule(session, campaign, now)
    _audit(session, "updated", campaign, actor, fields=sorted(edited))
    session.flush()
    return campaign


def _reschedule(session: Session, campaign: Campaign, now: datetime) -> None:
    """A scheduled campaign edited: it must still pass the launch checks, and it goes at its new
    time (a time now past, or `now`, means the scheduler's next round)."""
    if campaign.triggered:
        raise InvalidInput.field("trigger", "A scheduled campaign cannot become triggered; cancel it and "
                                            "launch a triggered one.")
    session.flush()
    problems = launch_problems(session, campaign, now)
    if problems:
        raise InvalidInput("The scheduled campaign would no longer launch: "
                           + "; ".join(p["message"] for p in problems[:3]), problems)
    campaign.next_run_at = _first_run(campaign, now) or now


def _first_run(campaign: Campaign, now: datetime) -> datetime | None:
    """When a launched campaign's schedule first sends; None for at once."""
    schedule = schedule_from_dict(campaign.schedule) if campaign.schedule else None
    if isinstance(schedule, Recurring):
        return next_run(schedule.cron, now, schedule.timezone)
    if isinstance(schedule, SendAt) and schedule.at > now:
        return schedule.at
    return None  # now, a time already past, or local time (planned now, each zone due later)


# Launch checks ------------------------------------------------------------------------------

def launch_problems(session: Session, campaign: Campaign, now: datetime) -> list[dict]:
    """Everything that stops the campaign from sending, each at its field."""
    problems: list[dict] = []
    for index, variant in enumerate(variants_of(session, campaign)):
        field = f"variants[{index}].template" if variant.template_key else "template"
        key = template_for(campaign, variant)
        if not key:
            problems.append({"field": "template", "message": "Choose a template (or one per variant)."})
            continue
        problems.extend({"field": field, "message": m} for m in _template_problems(session, key, campaign.channels))
    if campaign.segment_id is not None and session.get(Segment, campaign.segment_id) is None:
        problems.append({"field": "segment_id", "message": "The audience segment no longer exists."})
    elif not campaign.triggered:
        rules = session.get(Segment, campaign.segment_id).rules if campaign.segment_id else None
        try:
            size = segment_service.count(session, rules, exact=True, now=now)["count"]
        except InvalidInput as error:
            problems.extend(error.errors)
        else:
            if size == 0:
                problems.append({"field": "segment_id", "message": "The audience is empty: no contact matches."})
    # Problems in a duplicated template show once.
    return [dict(p) for p in {(p["field"], p["message"]): p for p in problems}.values()]


def _template_problems(session: Session, key: str, channels: list[str]) -> list[str]:
    template = session.scalar(select(Template).where(Template.key == key))
    if template is None:
        return [f"No template {key!r}."]
    if template.archived_at is not None:
        return [f"Template {key!r} is archived."]
    if template.published_version_id is None:
        return [f"Template {key!r} has no published version."]
    version = session.get(TemplateVersion, template.published_version_id)
    content = version_content(version)
    problems = []
    for channel in channels:
        if getattr(content, channel, None) is None:
            problems.append(f"Template {key!r} has no {channel} content.")
    # The published version passed validation then; its report still names what later broke.
    for issue in (version.report or {}).get("errors", []):
        if issue.get("channel") in (None, *channels):
            problems.append(f"Template {key!r}: {issue.get('field')}: {issue.get('message')}")
    return problems


# Lifecycle ----------------------------------------------------------------------------------

def _move(campaign: Campaign, action: str) -> str:
    try:
        return str(transition(campaign.status, action, campaign.paused_from))
    except InvalidTransition:
        raise Conflict(f"Cannot {action} a campaign that is {campaign.status}.") from None


def launch(session: Session, campaign_id: int, *, actor: dict | None = None, now: datetime | None = None) -> Campaign:
    """Check, then send now, schedule, or start listening for the trigger. Commits."""
    from orchestrator.services import campaign_plans

    now = now or utcnow()
    campaign = get_campaign(session, campaign_id, for_update=True)
    _move(campaign, "launch")  # 409 before the checks: a running campaign is not "invalid"
    problems = launch_problems(session, campaign, now)
    if problems:
        raise InvalidInput("The campaign cannot be launched: " + "; ".join(p["message"] for p in problems[:3]),
                           problems)
    campaign.launched_at = now
    start_now = False
    first_run = None if campaign.triggered else _first_run(campaign, now)
    if campaign.triggered:
        campaign.status = _move(campaign, "launch")
    elif first_run is not None:
        campaign.status = _move(campaign, "schedule")
        campaign.next_run_at = first_run
    else:
        campaign.status = _move(campaign, "launch")
        start_now = True
    campaign.paused_from = None
    _audit(session, "launched", campaign, actor, status=campaign.status,
           next_run_at=campaign.next_run_at.isoformat() if campaign.next_run_at else None)
    run = campaign_plans.start_run(session, campaign, now) if start_now else None
    session.commit()
    if run is not None:
        campaign_plans.enqueue_plan(campaign.id, run.id)
    return campaign


def pause(session: Session, campaign_id: int, *, actor: dict | None = None) -> Campaign:
    campaign = get_campaign(session, campaign_id, for_update=True)
    previous = campaign.status
    campaign.status = _move(campaign, "pause")
    campaign.paused_from = previous
    _audit(session, "paused", campaign, actor, paused_from=previous)
    session.commit()
    return campaign


def resume(session: Session, campaign_id: int, *, actor: dict | None = None, now: datetime | None = None) -> Campaign:
    """Back to where it was paused from; the plan, pending batches and queued messages go again."""
    from orchestrator.services import campaign_plans

    now = now or utcnow()
    campaign = get_campaign(session, campaign_id, for_update=True)
    campaign.status = _move(campaign, "resume")
    campaign.paused_from = None
    _audit(session, "resumed", campaign, actor, status=campaign.status)
    session.commit()
    campaign_plans.hand_out_again(session, campaign, now)
    return campaign


def cancel(session: Session, campaign_id: int, *, actor: dict | None = None, now: datetime | None = None) -> Campaign:
    now = now or utcnow()
    campaign = get_campaign(session, campaign_id, for_update=True)
    campaign.status = _move(campaign, "cancel")
    campaign.paused_from = None
    campaign.finished_at = now
    campaign.next_run_at = None
    _audit(session, "cancelled", campaign, actor)
    session.commit()  # first: from here on the send path holds this campaign's messages
    cancel_leftovers(session, campaign.id, now)
    session.commit()
    return campaign


def cancel_leftovers(session: Session, campaign_id: int, now: datetime) -> int:
    """A cancelled campaign's runs, batches and entries stop; its waiting messages become
    `suppressed` (reason `cancelled`). Also run periodically: a batch in flight at the cancel
    may still record rows. Returns the messages suppressed."""
    session.execute(update(CampaignRun).where(CampaignRun.campaign_id == campaign_id,
                                              CampaignRun.status.in_(("planning", "planned")))
                    .values(status="cancelled", finished_at=now))
    runs = select(CampaignRun.id).where(CampaignRun.campaign_id == campaign_id).scalar_subquery()
    session.execute(update(CampaignBatch).where(CampaignBatch.run_id.in_(runs), CampaignBatch.status == "pending")
                    .values(status="cancelled", done_at=now))
    session.execute(update(TriggerEntry).where(TriggerEntry.campaign_id == campaign_id,
                                               TriggerEntry.status == "pending")
                    .values(status="cancelled", finished_at=now))
    c = Message.__table__.c
    ids = session.execute(update(Message.__table__)
                          .where(c.campaign_id == campaign_id, c.status.in_(record.WAITING))
                          .values(status="suppressed", reason="cancelled", next_attempt_at=None, updated_at=now)
                          .returning(c.id)).scalars().all()
    record.add_events(session, [{"message_id": i, "status": "suppressed", "at": now, "source": "chorus",
                                 "detail": {"reason": "cancelled"}} for i in ids])
    return len(ids)


def default_timezone() -> str:
    return current_app.config["DEFAULT_TIMEZONE"]


def is_local_time(campaign: Campaign) -> bool:
    return bool(campaign.schedule) and isinstance(schedule_from_dict(campaign.schedule), SendInLocalTime)
