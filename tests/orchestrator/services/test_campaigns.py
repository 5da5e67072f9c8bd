"""Campaign lifecycle and planning on both databases: launch checks, the keyset plan with its
cursor, pause/resume/cancel, variants and holdout, local time, throttle, recurring runs."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from orchestrator.db import db
from orchestrator.errors import Conflict, InvalidInput
from orchestrator.models import AuditEntry, Campaign, CampaignBatch, CampaignRun, Contact, Message, OutboxEntry
from orchestrator.services import campaign_plans, segments
from orchestrator.services import campaigns as service
from orchestrator.services import templates as template_service
from tests.orchestrator.pipeline.conftest import CONTENT, add_contacts, drain, make_template

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def small_batches(app):
    app.extensions["chorus_broker"].flush_all()
    app.extensions.pop("chorus_rate_limiter", None)
    app.config["CAMPAIGN_BATCH_SIZE"] = 4  # several pages from a handful of contacts
    yield
    app.config.pop("CAMPAIGN_BATCH_SIZE")
    app.extensions["chorus_broker"].flush_all()


def campaign(**overrides) -> Campaign:
    body = {"name": "Spring", "template": "welcome", "channels": ["email", "sms"], **overrides}
    created = service.create_campaign(db.session, actor={"api_key_id": None, "user_id": None}, **body)
    db.session.commit()
    return created


def statuses(campaign_id: int) -> dict[str, int]:
    return dict(db.session.execute(select(Message.status, func.count()).where(Message.campaign_id == campaign_id)
                                   .group_by(Message.status)).all())


def run_of(campaign_id: int) -> CampaignRun:
    db.session.expire_all()
    return db.session.scalar(select(CampaignRun).where(CampaignRun.campaign_id == campaign_id)
                             .order_by(CampaignRun.id.desc()))


def test_launch_refuses_with_every_problem_named(app):
    template_service.create_template(db.session, key="draft-only", name="d", category="marketing", topic=None,
                                     content=CONTENT)
    db.session.commit()
    unpublished = campaign(template="draft-only")
    with pytest.raises(InvalidInput) as refused:
        service.launch(db.session, unpublished.id)
    fields = {e["field"]: e["message"] for e in refused.value.errors}
    assert "no published version" in fields["template"]
    assert "audience is empty" in fields["segment_id"]
    assert db.session.get(Campaign, unpublished.id).status == "draft"

    make_template()
    add_contacts(2)
    missing = campaign(template="nope", variants=[{"name": "a", "weight": 1, "template": "welcome"},
                                                  {"name": "b", "weight": 1, "template": "nope"}])
    with pytest.raises(InvalidInput) as refused:
        service.launch(db.session, missing.id)
    assert [e["field"] for e in refused.value.errors] == ["variants[1].template"]


def test_a_template_without_a_chosen_channel_is_refused(app):
    from templates.content import TemplateContent

    template_service.create_template(db.session, key="sms-only", name="s", category="marketing", topic=None,
                                     content=TemplateContent(sms=CONTENT.sms))
    template_service.publish(db.session, "sms-only")
    add_contacts(1)
    db.session.commit()
    with pytest.raises(InvalidInput) as refused:
        service.launch(db.session, campaign(template="sms-only", channels=["sms", "push"]).id)
    assert refused.value.errors == [{"field": "template", "message": "Template 'sms-only' has no push content."}]


def test_illegal_moves_are_conflicts(app):
    draft = campaign()
    with pytest.raises(Conflict):
        service.resume(db.session, draft.id)
    with pytest.raises(Conflict):
        service.pause(db.session, draft.id)
    service.cancel(db.session, draft.id)
    with pytest.raises(Conflict):
        service.launch(db.session, draft.id)
    with pytest.raises(Conflict):
        service.update_campaign(db.session, draft.id, channels=["sms"])


def test_launch_plans_by_keyset_and_every_contact_gets_one_message_per_channel(app):
    make_template()
    ids = add_contacts(10)
    pro = segments.create_segment(db.session, name="some", rules={"field": "external_id", "op": "neq", "value": "c3"})
    db.session.commit()
    launched = service.launch(db.session, campaign(segment_id=pro.id).id)
    assert launched.status == "running"
    drain(app)
    run = run_of(launched.id)
    assert (run.status, run.cursor, run.contacts, run.batches) == ("planned", ids[-1], 9, 3)
    assert statuses(launched.id) == {"sent": 18}
    assert db.session.scalar(select(func.count()).select_from(OutboxEntry)) == 18
    keys = db.session.scalars(select(Message.idempotency_key).where(Message.contact_id == ids[0])).all()
    assert sorted(keys) == [f"campaign:{launched.id}:r1:{ids[0]}:email", f"campaign:{launched.id}:r1:{ids[0]}:sms"]

    assert campaign_plans.complete_finished(db.session, datetime.now(timezone.utc)) == [launched.id]
    assert db.session.get(Campaign, launched.id).status == "completed"
    actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.target_type == "campaign")).all()
    assert actions == ["campaign.created", "campaign.launched"]


def test_a_crashed_plan_resumes_from_its_cursor_without_recutting(app):
    make_template()
    ids = add_contacts(10)
    launched = service.launch(db.session, campaign().id)
    app.extensions["chorus_broker"].flush_all()  # the plan message is "lost"
    run = run_of(launched.id)
    campaign_plans.plan(db.session, launched.id, run.id, enqueue=False, max_pages=1)
    assert run_of(launched.id).cursor == ids[3]
    campaign_plans.plan(db.session, launched.id, run.id, enqueue=False)  # the re-run goes on from there
    positions = db.session.scalars(select(CampaignBatch.position).where(CampaignBatch.run_id == run.id)
                                   .order_by(CampaignBatch.position)).all()
    assert positions == [0, 1, 2]
    assert sum(len(b) for b in db.session.scalars(select(CampaignBatch.contact_ids))) == 10
    # Nothing was handed out: the scheduler's round finds the batches and the sends go.
    later = datetime.now(timezone.utc) + campaign_plans.REDELIVER_AFTER
    assert campaign_plans.resume_lost_work(db.session, later)["batches"] == 3
    drain(app)
    assert statuses(launched.id) == {"sent": 20}


def test_pause_holds_everything_and_resume_sends_it_all_once(app):
    make_template()
    add_contacts(10)
    launched = service.launch(db.session, campaign().id)
    app.extensions["chorus_broker"].flush_all()
    run = run_of(launched.id)
    campaign_plans.plan(db.session, launched.id, run.id, enqueue=False, max_pages=1)
    [first] = db.session.scalars(select(CampaignBatch.id)).all()
    campaign_plans.deliver(db.session, first, enqueue=False)  # recorded, not yet sent
    service.pause(db.session, launched.id)

    assert campaign_plans.plan(db.session, launched.id, run.id, enqueue=False).cursor == run_of(launched.id).cursor
    from orchestrator.pipeline import send_messages

    waiting = db.session.scalars(select(Message.id).where(Message.campaign_id == launched.id)).all()
    assert send_messages(db.session, waiting, enqueue=False).claimed == 0
    assert statuses(launched.id) == {"queued": 8}
    paused = db.session.get(Campaign, launched.id)
    assert (paused.status, paused.paused_from) == ("paused", "running")

    service.resume(db.session, launched.id)
    drain(app)
    assert statuses(launched.id) == {"sent": 20}
    assert run_of(launched.id).status == "planned"


def test_cancel_suppresses_what_waits_and_stops_the_plan(app):
    make_template()
    add_contacts(10)
    launched = service.launch(db.session, campaign().id)
    app.extensions["chorus_broker"].flush_all()
    run = run_of(launched.id)
    campaign_plans.plan(db.session, launched.id, run.id, enqueue=False, max_pages=2)
    first, second = db.session.scalars(select(CampaignBatch.id).order_by(CampaignBatch.id)).all()
    campaign_plans.deliver(db.session, first, enqueue=False)
    service.cancel(db.session, launched.id)
    assert statuses(launched.id) == {"suppressed": 8}
    assert set(db.session.scalars(select(Message.reason).where(Message.campaign_id == launched.id))) == {"cancelled"}
    assert campaign_plans.deliver(db.session, second) == "cancelled"
    assert run_of(launched.id).status == "cancelled"
    drain(app)
    assert statuses(launched.id) == {"suppressed": 8}


def test_a_batch_recorded_after_the_cancel_is_swept_into_suppressed(app):
    make_template()
    add_contacts(4)
    launched = service.launch(db.session, campaign().id)
    app.extensions["chorus_broker"].flush_all()
    campaign_plans.plan(db.session, launched.id, run_of(launched.id).id, enqueue=False)
    [batch] = db.session.scalars(select(CampaignBatch.id)).all()
    campaign_plans.deliver(db.session, batch, enqueue=False)
    # The cancel commits while that batch is in flight and its rows land afterwards.
    db.session.execute(update(Campaign).where(Campaign.id == launched.id).values(status="cancelled"))
    db.session.commit()
    assert campaign_plans.sweep_cancelled(db.session, datetime.now(timezone.utc)) == 8
    assert statuses(launched.id) == {"suppressed": 8}


def test_variants_and_holdout_are_stable_and_the_holdout_gets_no_message(app):
    make_template()
    make_template("welcome-b")
    add_contacts(40, phone=False)
    body = {"channels": ["email"], "holdout_percent": 25,
            "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 1, "template": "welcome-b"}]}
    launched = service.launch(db.session, campaign(**body).id)
    drain(app)
    rows = db.session.execute(select(Message.contact_id, Message.variant, Message.status, Message.reason,
                                     Message.template_key).where(Message.campaign_id == launched.id)).all()
    assert len(rows) == 40
    from campaigns import assign

    for contact_id, variant, status, reason, template_key in rows:
        assert variant == assign(launched.id, contact_id, [("a", 1), ("b", 1)], 25)
        if variant == "holdout":
            assert (status, reason) == ("skipped", "holdout")
        else:
            assert status == "sent"
            assert template_key == ("welcome-b" if variant == "b" else "welcome")
    assert {r.variant for r in rows} == {"a", "b", "holdout"}


def test_local_time_batches_each_zone_at_its_own_morning(app):
    make_template()
    add_contacts(2, timezone="Asia/Tokyo", phone=False)
    add_contacts(2, start=10, timezone="America/New_York", phone=False)
    body = {"channels": ["email"], "schedule": {"kind": "local_time", "date": "2026-03-03", "time": "09:00"}}
    launched = service.launch(db.session, campaign(**body).id, now=NOW)
    app.extensions["chorus_broker"].flush_all()
    campaign_plans.plan(db.session, launched.id, run_of(launched.id).id, now=NOW, enqueue=False)
    send_times = db.session.execute(select(CampaignBatch.send_at, CampaignBatch.contact_ids)
                                    .order_by(CampaignBatch.send_at)).all()
    assert [(at, len(ids)) for at, ids in send_times] == [
        (datetime(2026, 3, 3, 0, 0, tzinfo=timezone.utc), 2),   # 09:00 in Tokyo
        (datetime(2026, 3, 3, 14, 0, tzinfo=timezone.utc), 2),  # 09:00 in New York
    ]
    for batch in db.session.scalars(select(CampaignBatch.id)).all():
        campaign_plans.deliver(db.session, batch, now=NOW, enqueue=False)
    deferred = db.session.execute(select(Message.status, Message.next_attempt_at).order_by(Message.next_attempt_at)).all()
    assert [s for s, _ in deferred] == ["deferred"] * 4
    assert deferred[0][1] == datetime(2026, 3, 3, 0, 0, tzinfo=timezone.utc)


def test_throttle_spreads_batches_over_minutes(app):
    make_template()
    add_contacts(10, phone=False)
    launched = service.launch(db.session, campaign(channels=["email"], throttle_per_minute=2).id, now=NOW)
    app.extensions["chorus_broker"].flush_all()
    campaign_plans.plan(db.session, launched.id, run_of(launched.id).id, now=NOW, enqueue=False)
    starts = db.session.scalars(select(CampaignBatch.not_before).order_by(CampaignBatch.position)).all()
    assert len(starts) == 5  # two contacts a batch: one minute's worth
    assert [int((s - NOW).total_seconds()) for s in starts] == [0, 60, 120, 180, 240]


def test_a_scheduled_time_waits_then_runs_and_recurring_campaigns_run_again(app):
    make_template()
    add_contacts(2, phone=False)
    later = campaign(channels=["email"], schedule={"kind": "at", "at": (NOW + timedelta(hours=1)).isoformat()})
    service.launch(db.session, later.id, now=NOW)
    assert (db.session.get(Campaign, later.id).status, db.session.get(Campaign, later.id).next_run_at) == \
        ("scheduled", NOW + timedelta(hours=1))
    assert campaign_plans.start_due(db.session, NOW) == []
    assert len(campaign_plans.start_due(db.session, NOW + timedelta(hours=1))) == 1
    assert db.session.get(Campaign, later.id).status == "running"

    digest = campaign(name="Digest", channels=["email"],
                      schedule={"kind": "recurring", "cron": "0 9 * * *", "timezone": "UTC"})
    service.launch(db.session, digest.id, now=NOW)
    assert db.session.get(Campaign, digest.id).next_run_at == datetime(2026, 3, 3, 9, tzinfo=timezone.utc)
    campaign_plans.start_due(db.session, datetime(2026, 3, 3, 9, tzinfo=timezone.utc))
    campaign_plans.start_due(db.session, datetime(2026, 3, 4, 9, tzinfo=timezone.utc))
    db.session.expire_all()
    steps = db.session.scalars(select(CampaignRun.step).where(CampaignRun.campaign_id == digest.id)
                               .order_by(CampaignRun.id)).all()
    assert steps == ["r1", "r2"]
    refreshed = db.session.get(Campaign, digest.id)
    assert (refreshed.status, refreshed.next_run_at) == ("scheduled", datetime(2026, 3, 5, 9, tzinfo=timezone.utc))
    drain(app)
    # Each occurrence sends again: its own step in the keys.
    assert statuses(digest.id) == {"sent": 4}
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 2


def test_editing_a_scheduled_campaign_moves_its_time_and_keeps_it_launchable(app):
    make_template()
    add_contacts(2, phone=False)
    later = campaign(channels=["email"], schedule={"kind": "at", "at": (NOW + timedelta(days=2)).isoformat()})
    service.launch(db.session, later.id, now=NOW)

    service.update_campaign(db.session, later.id, now=NOW,
                            schedule={"kind": "at", "at": (NOW + timedelta(days=10)).isoformat()})
    db.session.commit()
    assert db.session.get(Campaign, later.id).next_run_at == NOW + timedelta(days=10)
    assert campaign_plans.start_due(db.session, NOW + timedelta(days=2, seconds=1)) == []

    with pytest.raises(InvalidInput) as refused:  # the checks of a launch hold for an edit too
        service.update_campaign(db.session, later.id, now=NOW, template="no-such-template")
    db.session.rollback()
    assert "No template 'no-such-template'" in refused.value.errors[0]["message"]
    assert db.session.get(Campaign, later.id).template_key == "welcome"

    service.update_campaign(db.session, later.id, now=NOW, schedule={"kind": "now"})
    db.session.commit()
    assert db.session.get(Campaign, later.id).next_run_at == NOW  # the scheduler's next round
    assert len(campaign_plans.start_due(db.session, NOW + timedelta(seconds=1))) == 1
    assert db.session.get(Campaign, later.id).status == "running"


def test_a_throttled_campaign_keeps_its_pace_after_a_pause(app):
    make_template()
    add_contacts(10, phone=False)
    launched = service.launch(db.session, campaign(channels=["email"], throttle_per_minute=2).id, now=NOW)
    app.extensions["chorus_broker"].flush_all()
    run_id = run_of(launched.id).id
    campaign_plans.plan(db.session, launched.id, run_id, now=NOW, enqueue=False, max_pages=2)
    first, second = db.session.scalars(select(CampaignBatch).order_by(CampaignBatch.position)).all()
    assert campaign_plans.deliver(db.session, first.id, now=NOW, enqueue=False) == "done"
    service.pause(db.session, launched.id)

    back = NOW + timedelta(minutes=30)  # batch 1's time passed during the pause
    service.resume(db.session, launched.id, now=back)
    app.extensions["chorus_broker"].flush_all()
    campaign_plans.plan(db.session, launched.id, run_id, now=back, enqueue=False)

    db.session.expire_all()
    pending = db.session.scalars(select(CampaignBatch.not_before).where(CampaignBatch.status == "pending")
                                 .order_by(CampaignBatch.position)).all()
    assert [int((at - back).total_seconds()) for at in pending] == [0, 60, 120, 180]
    # A broker message sent for the old time finds the batch re-timed and waits its turn.
    later = db.session.scalars(select(CampaignBatch).where(CampaignBatch.status == "pending")
                               .order_by(CampaignBatch.position)).all()[1]
    assert campaign_plans.deliver(db.session, later.id, now=back, enqueue=False) == "not_yet"
    assert campaign_plans.deliver(db.session, later.id, now=back + timedelta(seconds=60), enqueue=False) == "done"


def test_a_throttled_local_time_campaign_paces_each_zone_from_its_morning(app):
    make_template()
    add_contacts(3, timezone="Asia/Tokyo", phone=False)
    add_contacts(3, start=10, timezone="America/New_York", phone=False)
    body = {"channels": ["email"], "throttle_per_minute": 2,
            "schedule": {"kind": "local_time", "date": "2026-03-03", "time": "09:00"}}
    launched = service.launch(db.session, campaign(**body).id, now=NOW)
    app.extensions["chorus_broker"].flush_all()
    campaign_plans.plan(db.session, launched.id, run_of(launched.id).id, now=NOW, enqueue=False)
    tokyo, new_york = datetime(2026, 3, 3, 0, 0, tzinfo=timezone.utc), datetime(2026, 3, 3, 14, 0, tzinfo=timezone.utc)
    planned = db.session.execute(select(CampaignBatch.send_at, CampaignBatch.not_before, CampaignBatch.contact_ids)
                                 .order_by(CampaignBatch.not_before)).all()
    assert [(at, int((start - at).total_seconds()), len(ids)) for at, start, ids in planned] == [
        (tokyo, 0, 2), (tokyo, 60, 1), (new_york, 0, 1), (new_york, 60, 2)]  # pages of two, by contact id
    # Delivered at its time, a batch sends then: nothing is parked to be released all at once.
    first = db.session.scalars(select(CampaignBatch.id).order_by(CampaignBatch.not_before)).first()
    assert campaign_plans.deliver(db.session, first, now=NOW, enqueue=False) == "not_yet"
    assert campaign_plans.deliver(db.session, first, now=tokyo, enqueue=False) == "done"
    assert {m.status for m in db.session.scalars(select(Message))} == {"queued"}
