"""Campaign stats from message and event rows, on both databases."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert

from orchestrator.db import db
from orchestrator.models import AuditEntry, Campaign, Event, Message
from orchestrator.services.campaign_stats import stats
from tests.orchestrator.pipeline.conftest import add_contacts

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


def message(campaign_id, contact_id, channel, status, variant="a", reason=None, sent=True, **times):
    return {"idempotency_key": f"campaign:{campaign_id}:r1:{contact_id}:{channel}", "campaign_id": campaign_id,
            "contact_id": contact_id, "channel": channel, "status": status, "reason": reason, "variant": variant,
            "created_at": T0, "updated_at": T0, "attempts": 0, "category": "marketing",
            "sent_at": T0 if sent else None, **times}


@pytest.fixture
def campaign(app):
    row = Campaign(name="Spring", template_key="welcome", channels=["email", "sms"], status="running",
                   launched_at=T0 - timedelta(minutes=1),
                   goal={"event_name": "order_completed", "where": [{"property": "total", "op": "gte", "value": 20}],
                         "window_hours": 24})
    db.session.add(row)
    db.session.commit()
    return row


def test_counts_per_variant_and_channel_with_conversions_and_lift(app, campaign):
    ids = add_contacts(10)
    cid = campaign.id
    rows = [
        message(cid, ids[0], "email", "clicked", delivered_at=T0, opened_at=T0, clicked_at=T0),
        message(cid, ids[0], "sms", "delivered", delivered_at=T0),
        message(cid, ids[1], "email", "opened", delivered_at=T0, opened_at=T0),
        message(cid, ids[1], "sms", "failed", sent=False),
        message(cid, ids[2], "email", "suppressed", reason="unsubscribed", sent=False),
        message(cid, ids[2], "sms", "skipped", reason="no_address", sent=False),
        message(cid, ids[3], "email", "sent", variant="b"),
        message(cid, ids[3], "sms", "undelivered", variant="b"),
        message(cid, ids[4], "email", "skipped", variant="holdout", reason="holdout", sent=False),
        message(cid, ids[5], "email", "skipped", variant="holdout", reason="holdout", sent=False),
    ]
    db.session.execute(insert(Message), rows)
    hour = timedelta(hours=1)
    db.session.execute(insert(Event), [
        # a converts (one order, credited once, to the last channel that reached them)
        {"contact_id": ids[0], "name": "order_completed", "properties": {"total": 30}, "occurred_at": T0 + hour},
        # too small for the goal's filter
        {"contact_id": ids[1], "name": "order_completed", "properties": {"total": 5}, "occurred_at": T0 + hour},
        # b converts, but outside the 24 h window: not counted
        {"contact_id": ids[3], "name": "order_completed", "properties": {"total": 50}, "occurred_at": T0 + 30 * hour},
        # the holdout converts the same way, from when it was assigned
        {"contact_id": ids[4], "name": "order_completed", "properties": {"total": 20}, "occurred_at": T0 + hour},
        # a goal event before the send never counts
        {"contact_id": ids[5], "name": "order_completed", "properties": {"total": 99}, "occurred_at": T0 - hour},
    ])
    first_email = db.session.execute(
        Message.__table__.select().where(Message.contact_id == ids[1], Message.channel == "email")).first()
    db.session.add(AuditEntry(action="contact.unsubscribed", target_type="contact", target_id="c1",
                              details={"message_id": first_email.id}, at=T0 + hour))
    db.session.commit()

    result = stats(db.session, db.session.get(Campaign, campaign.id))
    rows_by = {(r["variant"], r["channel"]): r for r in result["rows"]}
    email_a = rows_by[("a", "email")]
    assert (email_a["targeted"], email_a["sent"], email_a["delivered"], email_a["opened"], email_a["clicked"]) == \
        (3, 2, 2, 2, 1)
    assert email_a["suppressed"] == {"unsubscribed": 1} and email_a["unsubscribed"] == 1
    assert rows_by[("a", "sms")]["suppressed"] == {"no_address": 1}
    assert rows_by[("a", "sms")]["failed"] == 1
    assert rows_by[("b", "sms")]["failed"] == 1 and rows_by[("b", "sms")]["sent"] == 1
    assert sum(r["converted"] for r in result["rows"]) == 1
    assert ("holdout", "email") not in rows_by

    variants = {v["variant"]: v for v in result["variants"]}
    assert (variants["a"]["contacts"], variants["a"]["converted_contacts"]) == (3, 1)
    assert variants["b"]["converted_contacts"] == 0
    assert result["holdout"] == {"contacts": 2, "converted_contacts": 1, "conversion_rate": 0.5}
    total_lift = result["totals"]["lift"]
    assert total_lift["treatment_rate"] == pytest.approx(0.25) and total_lift["holdout_rate"] == 0.5
    assert total_lift["ci_low"] < total_lift["absolute_diff"] < total_lift["ci_high"]
    assert result["over_time"] == [{"at": "2026-03-02T12:00:00+00:00", "sent": 5, "delivered": 3, "opened": 2,
                                    "clicked": 1}]


def test_a_campaign_without_messages_or_goal_has_empty_stats(app, campaign):
    campaign.goal = None
    db.session.commit()
    result = stats(db.session, campaign)
    assert result["rows"] == [] and result["holdout"] is None and result["over_time"] == []
    assert result["totals"]["targeted"] == 0 and result["totals"]["rates"]["delivery"] is None
