"""/v1/campaigns: create, validate, list, patch, the lifecycle actions and stats over HTTP."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from orchestrator.db import db
from orchestrator.models import AuditEntry
from tests.orchestrator.pipeline.conftest import add_contacts, make_template

BODY = {"name": "Spring sale", "template": "welcome", "channels": ["email", "sms"], "strategy": "all",
        "holdout_percent": 10, "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 2}],
        "goal": {"event_name": "order_completed", "window_hours": 48}, "throttle_per_minute": 6000}


@pytest.fixture(autouse=True)
def clean_broker(app):
    app.extensions["chorus_broker"].flush_all()
    yield
    app.extensions["chorus_broker"].flush_all()


def test_create_read_list_and_patch(api):
    created = api.post("/v1/campaigns", json=BODY)
    assert created.status_code == 201, created.json
    body = created.json
    assert body["status"] == "draft" and body["kind"] == "broadcast"
    assert [v["name"] for v in body["variants"]] == ["a", "b"]
    assert body["allowed_actions"] == ["launch", "cancel"]
    assert body["goal"] == {"event_name": "order_completed", "where": [], "window_hours": 48}
    assert api.get(f"/v1/campaigns/{body['id']}").json["name"] == "Spring sale"
    patched = api.patch(f"/v1/campaigns/{body['id']}", json={
        "schedule": {"kind": "recurring", "cron": "0 9 * * MON", "timezone": "Europe/Paris"}})
    assert patched.json["schedule"]["cron"] == "0 9 * * MON"
    listed = api.get("/v1/campaigns?status=draft").json
    assert [c["id"] for c in listed["data"]] == [body["id"]]
    assert api.get("/v1/campaigns/999999").status_code == 404


@pytest.mark.parametrize("change, field", [
    ({"schedule": {"kind": "recurring", "cron": "61 * * * *"}}, "schedule."),
    ({"schedule": {"kind": "sometime"}}, "schedule.kind"),
    ({"trigger": {"event_name": "cart_updated", "reentry": "twice"}}, "trigger.reentry"),
    ({"goal": {"event_name": "x", "window_hours": -1}}, "goal.window_hours"),
    ({"channels": ["fax"]}, "channels.0"),
    ({"holdout_percent": 100}, "holdout_percent"),
    ({"variants": [{"name": "a"}, {"name": "a"}]}, "variants"),
    ({"variants": [{"name": "holdout"}]}, "variants.0.name"),
    ({"trigger": {"event_name": "x"}, "schedule": {"kind": "now"}}, "trigger"),
    ({"quiet_hours": {"start": "21:00", "end": "21:00"}}, "quiet_hours"),
])
def test_bad_settings_are_422_at_their_field(api, change, field):
    response = api.post("/v1/campaigns", json={**BODY, **change})
    assert response.status_code == 422, response.json
    assert any(e["field"].startswith(field) for e in response.json["errors"]), response.json["errors"]


def test_launch_failures_list_what_is_wrong_and_illegal_moves_are_409(api):
    campaign = api.post("/v1/campaigns", json=BODY).json
    refused = api.post(f"/v1/campaigns/{campaign['id']}/launch")
    assert refused.status_code == 422
    messages = " ".join(e["message"] for e in refused.json["errors"])
    assert "No template 'welcome'" in messages and "audience is empty" in messages
    conflict = api.post(f"/v1/campaigns/{campaign['id']}/resume")
    assert conflict.status_code == 409 and conflict.json["title"] == "Conflict"
    assert conflict.content_type == "application/problem+json"


def test_launch_pause_resume_cancel_are_audited(api):
    make_template()
    add_contacts(3)
    campaign = api.post("/v1/campaigns", json=BODY).json
    launched = api.post(f"/v1/campaigns/{campaign['id']}/launch")
    assert launched.status_code == 200, launched.json
    assert launched.json["status"] == "running" and launched.json["progress"]["step"] == "r1"
    assert api.post(f"/v1/campaigns/{campaign['id']}/pause").json["status"] == "paused"
    assert api.patch(f"/v1/campaigns/{campaign['id']}", json={"name": "Renamed"}).status_code == 200
    assert api.post(f"/v1/campaigns/{campaign['id']}/resume").json["status"] == "running"
    assert api.patch(f"/v1/campaigns/{campaign['id']}", json={"channels": ["sms"]}).status_code == 409
    cancelled = api.post(f"/v1/campaigns/{campaign['id']}/cancel").json
    assert cancelled["status"] == "cancelled" and cancelled["allowed_actions"] == []
    actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.target_type == "campaign")
                                 .order_by(AuditEntry.id)).all()
    assert actions == ["campaign.created", "campaign.launched", "campaign.paused", "campaign.updated",
                       "campaign.resumed", "campaign.cancelled"]
    assert all(e.api_key_id for e in db.session.scalars(select(AuditEntry).where(AuditEntry.target_type == "campaign")))


def test_stats_endpoint(api):
    campaign = api.post("/v1/campaigns", json=BODY).json
    stats = api.get(f"/v1/campaigns/{campaign['id']}/stats?bucket=day")
    assert stats.status_code == 200
    assert stats.json["campaign_id"] == campaign["id"] and stats.json["rows"] == []
    assert api.get(f"/v1/campaigns/{campaign['id']}/stats?bucket=week").status_code == 422
