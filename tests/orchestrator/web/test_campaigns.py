"""The campaign builder's steps, launch checks, launch, lifecycle and the report."""
from __future__ import annotations

import re

from sqlalchemy import select

from orchestrator.db import db
from orchestrator.models import AuditEntry, Campaign
from orchestrator.services.contacts import upsert_contacts
from tests.orchestrator.web.test_message_templates import starter_form
from tests.orchestrator.web.test_segments import PRO


def ready(editor):
    upsert_contacts(db.session, [{"external_id": f"u{n}", "email": f"u{n}@example.com",
                                  "attributes": {"plan": "pro" if n % 2 else "free"}} for n in range(6)])
    db.session.commit()
    editor.get("/campaigns")
    assert editor.post("/templates/new", starter_form()).status_code == 302
    assert editor.post("/templates/spring/publish").status_code == 302
    assert editor.post("/segments/new", {**PRO, "action": "save"}).status_code == 302


def build(editor) -> int:
    response = editor.post("/campaigns/new", {"name": "Spring", "segment_id": "1"})
    campaign_id = int(response.location.split("/")[2])
    steps = [("content", {"template": "spring", "category": "marketing"}),
             ("channels", {"channel.email": "on", "channel.sms": "on", "priority.email": "1", "priority.sms": "2",
                           "strategy": "first"}),
             ("schedule", {"schedule_kind": "now", "respect_caps": "on", "throttle_per_minute": "600"}),
             ("experiment", {"variant.0.name": "A", "variant.0.weight": "1", "variant.1.name": "B",
                             "variant.1.weight": "1", "holdout_percent": "10", "goal_event": "order_completed"})]
    for step, data in steps:
        assert editor.post(f"/campaigns/{campaign_id}/{step}", data).status_code == 302, step
    return campaign_id


def test_steps_save_through_the_api_schema(as_role):
    editor = as_role("editor")
    ready(editor)
    campaign_id = build(editor)
    campaign = db.session.get(Campaign, campaign_id)
    db.session.refresh(campaign)
    assert campaign.channels == ["email", "sms"] and campaign.strategy == "first"
    assert campaign.throttle_per_minute == 600 and campaign.holdout_percent == 10
    assert campaign.goal["event_name"] == "order_completed"
    review = editor.get(f"/campaigns/{campaign_id}/review").get_data(as_text=True)
    assert re.search(r'data-testid="review-audience">3<', review) and "Launch campaign" in review


def test_step_errors_are_next_to_fields(as_role):
    editor = as_role("editor")
    ready(editor)
    campaign_id = build(editor)
    response = editor.post(f"/campaigns/{campaign_id}/schedule", {"schedule_kind": "recurring", "schedule_cron": "x"})
    assert response.status_code == 422 and 'id="schedule_cron-error"' in response.get_data(as_text=True)
    response = editor.post(f"/campaigns/{campaign_id}/channels", {"strategy": "all"})
    assert response.status_code == 422 and 'id="channels-error"' in response.get_data(as_text=True)
    response = editor.post(f"/campaigns/{campaign_id}/experiment", {"variant.0.name": "holdout"})
    assert response.status_code == 422 and "reserved" in response.get_data(as_text=True)


def test_review_lists_launch_problems_and_launch_is_refused(as_role):
    editor = as_role("editor")
    editor.get("/campaigns")
    response = editor.post("/campaigns/new", {"name": "Empty"})
    campaign_id = int(response.location.split("/")[2])
    review = editor.get(f"/campaigns/{campaign_id}/review").get_data(as_text=True)
    assert "Choose a template" in review and "disabled>Launch campaign" in review.replace('" disabled', ' disabled')
    assert editor.post(f"/campaigns/{campaign_id}/launch").status_code == 302
    assert db.session.get(Campaign, campaign_id).status == "draft"


def test_launch_pause_resume_cancel_and_the_report(as_role, users):
    editor = as_role("editor")
    ready(editor)
    campaign_id = build(editor)
    viewer = as_role("viewer")
    assert "Launch campaign" not in viewer.get(f"/campaigns/{campaign_id}/review").get_data(as_text=True)
    assert viewer.post(f"/campaigns/{campaign_id}/launch").status_code == 403
    assert editor.post(f"/campaigns/{campaign_id}/launch").status_code == 302
    db.session.expire_all()
    assert db.session.get(Campaign, campaign_id).status == "running"
    report = editor.get(f"/campaigns/{campaign_id}/report").get_data(as_text=True)
    assert "Funnel" in report and 'hx-trigger="every 3s"' in report and ">Pause<" in report
    assert "Pause" not in viewer.get(f"/campaigns/{campaign_id}/report").get_data(as_text=True)
    for action, status in (("pause", "paused"), ("resume", "running"), ("cancel", "cancelled")):
        editor.post(f"/campaigns/{campaign_id}/{action}")
        db.session.expire_all()
        assert db.session.get(Campaign, campaign_id).status == status
    actions = set(db.session.scalars(select(AuditEntry.action).where(AuditEntry.user_id == users["editor"].id)))
    assert {"campaign.launched", "campaign.paused", "campaign.resumed", "campaign.cancelled"} <= actions
    assert "every 3s" not in editor.get(f"/campaigns/{campaign_id}/report").get_data(as_text=True)


def test_empty_campaign_list_says_what_to_do(as_role):
    assert "No campaigns yet" in as_role("editor").get("/campaigns").get_data(as_text=True)
