"""The campaign builder's forms ⇄ the API's campaign body: triggers, property filters, quiet
hours and frequency caps; a triggered campaign made by the API keeps its trigger in the UI."""
from __future__ import annotations

import pytest
from marshmallow import ValidationError

from orchestrator.db import db
from orchestrator.models import Campaign
from orchestrator.schemas.campaigns import CampaignCreateSchema, CampaignPatchSchema
from orchestrator.services import campaigns as service
from orchestrator.web.campaign_forms import (
    caps_summary, filters_body, input_for, posted_values, quiet_hours_body, rows, schedule_body, step_body,
    step_values, trigger_summary,
)
from tests.orchestrator.web.test_campaigns import ready

TRIGGER_FORM = {
    "schedule_kind": "event", "trigger_event": "cart_updated",
    "trigger_where.0.property": "total", "trigger_where.0.op": "gte", "trigger_where.0.value": "20",
    "trigger_where.1.property": "", "trigger_where.1.op": "eq", "trigger_where.1.value": "",
    "trigger_where.2.property": "currency", "trigger_where.2.op": "in", "trigger_where.2.value": "EUR, USD",
    "trigger_delay": "1.5", "trigger_delay_unit": "hours",
    "exit_event": "order_completed", "exit_where.0.property": "status", "exit_where.0.op": "eq",
    "exit_where.0.value": '"2"',
    "reentry": "every_days", "reentry_days": "30",
    "respect_quiet_hours": "on", "quiet_start": "21:00", "quiet_end": "08:00",
    "quiet_channel.sms": "on", "quiet_channel.push": "on",
    "respect_caps": "on", "cap.0.max": "2", "cap.0.per": "channel", "cap.0.window": "7", "cap.0.unit": "days",
    "cap.1.max": "5", "cap.1.per": "all", "cap.1.window": "1", "cap.1.unit": "days",
}

API_TRIGGER = {
    "event_name": "cart_updated",
    "where": [{"property": "total", "op": "gte", "value": 20}, {"property": "currency", "op": "in", "value": ["EUR", "USD"]}],
    "delay_seconds": 5400,
    "exit_event": {"name": "order_completed", "where": [{"property": "status", "op": "eq", "value": "2"}]},
    "reentry": {"every_days": 30},
}


def test_the_schedule_step_makes_a_trigger_and_no_schedule():
    body = schedule_body(TRIGGER_FORM)
    assert body["schedule"] is None
    assert body["trigger"] == API_TRIGGER
    assert body["quiet_hours"] == {"start": "21:00", "end": "08:00", "channels": ["sms", "push"]}
    assert body["frequency_caps"] == [{"max_messages": 2, "window_seconds": 7 * 86400, "per_channel": True},
                                      {"max_messages": 5, "window_seconds": 86400, "per_channel": False}]
    assert body["respect_caps"] and body["respect_quiet_hours"]
    loaded = CampaignPatchSchema().load(body)
    assert loaded["trigger"] == {**API_TRIGGER, "where": API_TRIGGER["where"]}


def test_a_scheduled_kind_clears_the_trigger():
    body = schedule_body({"schedule_kind": "recurring", "schedule_cron": "0 9 * * MON", "trigger_event": "ignored"})
    assert body["trigger"] is None and body["schedule"] == {"kind": "recurring", "cron": "0 9 * * MON",
                                                            "timezone": "UTC"}
    assert body["quiet_hours"] is None and body["frequency_caps"] == []


@pytest.mark.parametrize("reentry, expected", [("once", "once"), ("every_time", "every_time"),
                                               ("every_days", {"every_days": 3})])
def test_reentry_choices(reentry, expected):
    form = {"schedule_kind": "event", "trigger_event": "signed_up", "reentry": reentry, "reentry_days": "3"}
    trigger = schedule_body(form)["trigger"]
    assert trigger["reentry"] == expected and trigger["delay_seconds"] == 0 and trigger["exit_event"] is None
    assert CampaignPatchSchema().load({"trigger": trigger})["trigger"]["reentry"] == expected


def test_property_filter_values_are_typed_and_exists_has_two_faces():
    form = {"f.0.property": "size", "f.0.op": "eq", "f.0.value": "42",
            "f.1.property": "size", "f.1.op": "eq", "f.1.value": '"42"',
            "f.2.property": "gift", "f.2.op": "eq", "f.2.value": "true",
            "f.3.property": "coupon", "f.3.op": "exists", "f.3.value": "",
            "f.4.property": "coupon", "f.4.op": "not_exists", "f.4.value": ""}
    assert filters_body(form, "f") == [
        {"property": "size", "op": "eq", "value": 42}, {"property": "size", "op": "eq", "value": "42"},
        {"property": "gift", "op": "eq", "value": True}, {"property": "coupon", "op": "exists", "value": True},
        {"property": "coupon", "op": "exists", "value": False}]


def test_goal_with_a_property_filter():
    body = step_body("experiment", {"goal_event": "order_completed", "goal_window_hours": "24",
                                    "goal_where.0.property": "total", "goal_where.0.op": "gte",
                                    "goal_where.0.value": "50"})
    assert body["goal"] == {"event_name": "order_completed", "window_hours": 24.0,
                            "where": [{"property": "total", "op": "gte", "value": 50}]}
    assert step_body("experiment", {})["goal"] is None


def described(**settings) -> dict:
    base = {"name": "x", "segment_id": None, "template": None, "category": "marketing", "strategy": "all",
            "channels": ["email"], "variants": [], "schedule": None, "trigger": None, "throttle_per_minute": None,
            "respect_caps": True, "respect_quiet_hours": True, "holdout_percent": 0.0, "goal": None,
            "quiet_hours": None, "frequency_caps": []}
    return {**base, **settings}


def test_values_from_an_api_trigger_make_the_same_trigger_again():
    caps = [{"max_messages": 2, "window_seconds": 604800, "per_channel": True},
            {"max_messages": 1, "window_seconds": 90, "per_channel": False}]
    quiet = {"start": "21:00", "end": "08:00", "channels": ["sms", "push"]}
    goal = {"event_name": "order_completed", "where": [{"property": "total", "op": "gte", "value": 50}],
            "window_hours": 24}
    values = step_values(described(trigger=API_TRIGGER, frequency_caps=caps, quiet_hours=quiet, goal=goal))
    assert values["schedule_kind"] == "event"
    assert (values["trigger_delay"], values["trigger_delay_unit"]) == ("90", "minutes")
    assert values["exit_where.0.value"] == '"2"', "text that looks like a number stays text"
    assert (values["cap.1.window"], values["cap.1.unit"]) == ("90", "seconds")
    form = {k: ("on" if v is True else str(v)) for k, v in values.items() if v not in (False, None)}
    again = schedule_body(form)
    assert again["trigger"] == API_TRIGGER
    assert again["frequency_caps"] == caps and again["quiet_hours"] == quiet
    assert step_body("experiment", form)["goal"] == {**goal, "window_hours": 24.0}


def test_rows_drop_blank_ones_and_number_again():
    values = posted_values({"name": "x", "cap.0.max": "", "cap.0.window": "", "cap.0.unit": "days",
                            "cap.3.max": "3", "cap.3.window": "1", "cap.3.unit": "days"})
    assert values == {"name": "x", "cap.0.max": "3", "cap.0.window": "1", "cap.0.unit": "days"}
    assert rows(values, "cap") == [{"max": "3", "window": "1", "unit": "days"}, {}]


def test_quiet_hours_without_an_end_is_the_schemas_error_at_the_end_input():
    assert quiet_hours_body({"quiet_start": "21:00"}) == {"start": "21:00"}
    with pytest.raises(ValidationError) as raised:
        CampaignPatchSchema().load({"quiet_hours": quiet_hours_body({"quiet_start": "21:00"})})
    assert "end" in raised.value.messages["quiet_hours"]
    assert input_for("quiet_hours.end", "m") == ("quiet_end", "m")


def test_api_error_paths_name_the_inputs():
    assert input_for("trigger.reentry", "m") == ("reentry", "m")
    assert input_for("trigger.delay_seconds", "m") == ("trigger_delay", "m")
    assert input_for("trigger.where", "filter 1: property must be a non-empty string") == (
        "trigger_where.1", "property must be a non-empty string")
    assert input_for("trigger.exit_event", "filter 0: op 'in' needs a list value") == (
        "exit_where.0", "op 'in' needs a list value")
    assert input_for("frequency_caps.1.window_seconds", "m") == ("cap.1.window", "m")
    assert input_for("goal.where", "filter 0: m") == ("goal_where.0", "m")
    assert input_for("variants.1.name", "m") == ("variant.1.name", "m")
    assert input_for("schedule.expression", "m") == ("schedule_cron", "m")


def test_summaries_read_like_sentences():
    assert trigger_summary(API_TRIGGER) == (
        'when cart_updated with total ≥ 20 and currency is one of EUR, USD, after 90 minutes, '
        'unless they do order_completed with status = "2"; at most once every 30 days')
    assert caps_summary([{"max_messages": 2, "window_seconds": 86400, "per_channel": True}]) == (
        "at most 2 per channel in 1 day")


# Through the pages ---------------------------------------------------------------------------

def test_build_a_triggered_campaign_in_the_builder(as_role):
    editor = as_role("editor")
    ready(editor)
    campaign_id = int(editor.post("/campaigns/new", {"name": "Cart", "segment_id": "1"}).location.split("/")[2])
    response = editor.post(f"/campaigns/{campaign_id}/schedule", TRIGGER_FORM)
    assert response.status_code == 302, response.get_data(as_text=True)
    campaign = db.session.get(Campaign, campaign_id)
    db.session.refresh(campaign)
    assert campaign.trigger == API_TRIGGER and campaign.schedule is None and campaign.triggered
    assert campaign.frequency_caps[0]["max_messages"] == 2 and campaign.quiet_hours["start"] == "21:00"
    review = editor.get(f"/campaigns/{campaign_id}/review").get_data(as_text=True)
    assert "when cart_updated with total ≥ 20" in review and "21:00–08:00" in review


def test_an_api_triggered_campaign_shows_and_keeps_its_trigger(as_role):
    editor = as_role("editor")
    ready(editor)
    body = CampaignCreateSchema().load({"name": "API cart", "channels": ["email"], "template": "spring",
                                        "trigger": API_TRIGGER})
    campaign = service.create_campaign(db.session, **body)
    db.session.commit()
    page = editor.get(f"/campaigns/{campaign.id}/schedule").get_data(as_text=True)
    assert 'value="event" checked' in page and 'value="cart_updated"' in page
    assert 'value="order_completed"' in page and 'name="reentry_days"' in page and 'value="30"' in page
    # Saving the schedule step as shown (no "send trigger: null" any more) keeps the trigger.
    values = step_values(service.describe(db.session, campaign))
    form = {k: ("on" if v is True else str(v)) for k, v in values.items() if v not in (False, None)}
    assert editor.post(f"/campaigns/{campaign.id}/schedule", form).status_code == 302
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).trigger == API_TRIGGER
    # …and turning it into a scheduled one clears the trigger in the same save.
    assert editor.post(f"/campaigns/{campaign.id}/schedule", {"schedule_kind": "now"}).status_code == 302
    db.session.expire_all()
    moved = db.session.get(Campaign, campaign.id)
    assert moved.trigger is None and moved.schedule == {"kind": "now"}


def test_trigger_errors_show_at_their_inputs(as_role):
    editor = as_role("editor")
    ready(editor)
    campaign_id = int(editor.post("/campaigns/new", {"name": "Cart"}).location.split("/")[2])

    def errors(form):
        response = editor.post(f"/campaigns/{campaign_id}/schedule", {"schedule_kind": "event", **form})
        assert response.status_code == 422
        return response.get_data(as_text=True)

    page = errors({"trigger_event": ""})
    assert '<p class="field-error" id="trigger_event-error">an event name is needed' in page
    page = errors({"trigger_event": "cart_updated", "trigger_where.0.property": "", "trigger_where.0.value": "x"})
    assert '<p class="field-error" id="trigger_where-0-error">property must be a non-empty string' in page
    page = errors({"trigger_event": "cart_updated", "reentry": "every_days", "reentry_days": "0"})
    assert 'id="reentry-error">every_days must be a whole number of at least 1' in page
    page = errors({"trigger_event": "cart_updated", "cap.0.max": "lots", "cap.0.window": "1"})
    assert "messages: Not a valid integer." in page and 'value="lots"' in page, "what was typed is shown again"
    assert db.session.get(Campaign, campaign_id).trigger is None


def test_add_a_filter_row_without_saving(as_role):
    editor = as_role("editor")
    ready(editor)
    campaign_id = int(editor.post("/campaigns/new", {"name": "Cart"}).location.split("/")[2])
    response = editor.post(f"/campaigns/{campaign_id}/schedule", {**TRIGGER_FORM, "action": "add:trigger_where"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.count('name="trigger_where.') == 3 * 4, "two filled rows, two blank ones"
    assert db.session.get(Campaign, campaign_id).trigger is None, "nothing saved"


@pytest.mark.parametrize("typed", ["abc", "nan", "1e999", "-inf"])
def test_numbers_that_are_not_go_through_as_text_for_the_schema_to_refuse(typed):
    trigger = schedule_body({"schedule_kind": "event", "trigger_event": "x", "trigger_delay": typed})["trigger"]
    assert trigger["delay_seconds"] == typed
    with pytest.raises(ValidationError):
        CampaignPatchSchema().load({"trigger": trigger})
    body = step_body("experiment", {"goal_event": "x", "goal_window_hours": typed, "holdout_percent": typed})
    assert body["goal"]["window_hours"] == typed and body["holdout_percent"] == typed
    with pytest.raises(ValidationError):
        CampaignPatchSchema().load(body)
