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


def sent_campaign(editor, channels=("email",)) -> int:
    """A launched A/B campaign with a holdout, its messages sent on `channels` and a few goal events."""
    from datetime import timedelta

    from orchestrator.models import Contact, Message, utcnow
    from orchestrator.services.events import ingest_events

    ready(editor)
    campaign_id = build(editor)
    campaign = db.session.get(Campaign, campaign_id)
    campaign.status, campaign.launched_at = "completed", utcnow()
    upsert_contacts(db.session, [{"external_id": f"p{n}", "email": f"p{n}@example.com"} for n in range(40)])
    db.session.flush()
    people = list(db.session.scalars(select(Contact).where(Contact.external_id.like("p%")).order_by(Contact.id)))
    sent_at = utcnow() - timedelta(hours=2)
    for n, person in enumerate(people):
        variant = ("A", "B", "holdout")[n % 3]
        for channel in channels if variant != "holdout" else ("email",):
            db.session.add(Message(
                idempotency_key=f"t:{n}:{channel}", contact_id=person.id, campaign_id=campaign_id, variant=variant,
                category="marketing", channel=channel, status="skipped" if variant == "holdout" else
                ("delivered" if channel == "sms" else "sent"), reason="holdout" if variant == "holdout" else None,
                sent_at=None if variant == "holdout" else sent_at, created_at=sent_at))
    db.session.commit()
    converted = [p for n, p in enumerate(people) if n % 3 == 0 or (n % 3 == 1 and n % 2) or n == 2]
    ingest_events(db.session, [{"external_id": p.external_id, "name": "order_completed",
                                "timestamp": sent_at + timedelta(minutes=30)} for p in converted])
    db.session.commit()
    return campaign_id


def test_the_report_shows_confidence_intervals_variant_funnels_and_no_sandbox_delivery_rate(as_role):
    editor = as_role("editor")
    campaign_id = sent_campaign(editor)
    page = editor.get(f"/campaigns/{campaign_id}/report").get_data(as_text=True)
    delivered = re.search(r'data-testid="delivered">([^<]*)<', page).group(1)
    assert delivered == "—", "sandbox email never reports delivery: unknown, not 0%"
    assert "sandbox: no delivery receipts" in page
    assert page.count('data-testid="variant-funnel"') == 2 and "Funnel of variant A" in page
    assert re.search(r'data-testid="variant-ci">[+-]\d+\.\d pts <span class="help">\(95% CI [+-]\d+\.\d to [+-]\d+\.\d\)',
                     page), "each variant's difference with its confidence interval"
    assert 'data-testid="total-ci"' in page and 'class="chart bars intervals"' in page
    assert ">Delivered<" not in page.split("Funnel, all channels")[1].split("</svg>")[0], \
        "no Delivered stage without receipts"


def test_a_channel_with_receipts_keeps_its_delivery_rate(as_role):
    editor = as_role("editor")
    campaign_id = sent_campaign(editor, channels=("email", "sms"))
    from orchestrator.services.campaign_stats import stats
    from orchestrator.web.delivery import delivery_figures, without_receipts

    figures = stats(db.session, db.session.get(Campaign, campaign_id))
    no_receipts = without_receipts({"email"})
    assert no_receipts == {"email": "sandbox", "inapp": "in-app"}
    assert delivery_figures(figures["channels"], no_receipts) == {
        "rate": 1.0, "delivered": figures["totals"]["delivered"], "sent": figures["totals"]["delivered"],
        "failed": 0, "left_out": ["email"],
        "sandbox_only": False, "hint": "sandbox Email left out: no delivery receipts"}
    assert delivery_figures(figures["channels"], {})["rate"] == 0.5
    assert delivery_figures([], no_receipts)["rate"] is None
    only_inbox = [{"channel": "inapp", "sent": 3, "delivered": 0, "failed": 0},
                  {"channel": "email", "sent": 3, "delivered": 0, "failed": 1}]
    assert delivery_figures(only_inbox, no_receipts)["hint"] == "no delivery receipts from In-app, sandbox Email"
