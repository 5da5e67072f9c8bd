"""Request and response schemas for /v1/segments and /v1/campaigns.

Nested settings (schedule, trigger, goal, send policy, variants) are read by the campaigns
package's own parsers, so the API accepts exactly what the planner can run; their errors come
back naming the part (`schedule.cron`, `trigger.reentry`).
"""
from __future__ import annotations

from datetime import time

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from campaigns import (
    CHANNELS, Goal, InvalidSetting, QuietHours, TriggerRule, schedule_from_dict,
    schedule_to_dict,
)
from campaigns.decisions import STRATEGIES
from campaigns.segments.rules import MAX_DAYS
from campaigns.variants import HOLDOUT
from orchestrator.schemas.fields import MAX_SAFE_INTEGER, Id, JsonObject, Text
from templates.content import CATEGORIES

KEY = validate.Regexp(r"^[a-z0-9][a-z0-9_.-]*$", error="Lower-case letters, digits, _ . - only.")
MAX_RULES_BYTES = 256 * 1024
# A trigger's delay and a goal's window are held to a segment's longest window (100 years):
# the planner adds them to instants, and the statistics compare them in SQL.
MAX_DELAY_SECONDS = MAX_DAYS * 86400
MAX_WINDOW_HOURS = MAX_DAYS * 24


# Segments ---------------------------------------------------------------------------------

class SegmentCreateSchema(Schema):
    name = Text(required=True, validate=validate.Length(min=1, max=255))
    description = Text(load_default="", validate=validate.Length(max=2000))
    rules = JsonObject(required=True, max_bytes=MAX_RULES_BYTES, max_number=MAX_SAFE_INTEGER, metadata={
        "description": "The rule tree: `{\"all\": [...]}`, `{\"field\": ..., \"op\": ..., \"value\": ...}`, "
                       "`{\"event\": ...}`, `{\"segment\": id}`… (see campaigns.segments.rules)."})


class SegmentPatchSchema(Schema):
    name = Text(validate=validate.Length(min=1, max=255))
    description = Text(validate=validate.Length(max=2000))
    rules = JsonObject(max_bytes=MAX_RULES_BYTES, max_number=MAX_SAFE_INTEGER)


class SegmentSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    rules = fields.Dict()
    summary = fields.String(metadata={"description": "The rules in one human sentence."})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class SegmentPageSchema(Schema):
    data = fields.List(fields.Nested(SegmentSchema))
    next_cursor = fields.String(allow_none=True)


class PageQuerySchema(Schema):
    cursor = Text()
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class CountQuerySchema(Schema):
    exact = fields.Boolean(load_default=False, metadata={
        "description": "Count exactly (slower on large audiences) instead of a sampled estimate."})


class CountSchema(Schema):
    count = fields.Integer()
    exact = fields.Boolean()


# Campaigns --------------------------------------------------------------------------------

def _setting(name: str, parse, raw):
    """Run a core parser; its InvalidSetting becomes an error at `name.<part>`."""
    try:
        return parse(raw)
    except InvalidSetting as error:
        if error.field == name:
            raise ValidationError({name: [error.detail]}) from None
        raise ValidationError({name: {error.field: [error.detail]}}) from None
    except (TypeError, ValueError, KeyError, OverflowError) as error:  # OverflowError: a date out of range
        raise ValidationError({name: [str(error)]}) from None


class VariantSchema(Schema):
    name = Text(required=True, validate=[validate.Length(min=1, max=64),
                                         validate.NoneOf([HOLDOUT], error="'holdout' is reserved.")])
    weight = fields.Float(load_default=1.0, validate=validate.Range(min=0, max=1_000_000))
    template = Text(load_default=None, allow_none=True, validate=[validate.Length(min=1, max=128), KEY],
                    metadata={"description": "This variant's template (default: the campaign's)."})


class FrequencyCapSchema(Schema):
    max_messages = fields.Integer(required=True, validate=validate.Range(min=0, max=100_000))
    window_seconds = fields.Integer(required=True, validate=validate.Range(min=1, max=366 * 86400))
    per_channel = fields.Boolean(load_default=False)


class QuietHoursSchema(Schema):
    start = Text(required=True, metadata={"description": "Local wall-clock time, HH:MM."})
    end = Text(required=True)
    channels = fields.List(Text(validate=validate.OneOf(CHANNELS)), load_default=list(CHANNELS))

    @validates_schema
    def _window(self, data, **kwargs):
        try:
            QuietHours(time.fromisoformat(data["start"]), time.fromisoformat(data["end"]),
                       frozenset(data["channels"]))
        except InvalidSetting as error:
            raise ValidationError(error.detail) from None
        except ValueError as error:
            raise ValidationError(str(error), "start") from None


class CampaignFieldsSchema(Schema):
    name = Text(validate=validate.Length(min=1, max=255))
    template = Text(allow_none=True, validate=[validate.Length(min=1, max=128), KEY],
                    metadata={"description": "Template key; the published version is sent."})
    segment_id = Id(allow_none=True, metadata={
        "description": "Audience segment; null means everyone."})
    channels = fields.List(Text(validate=validate.OneOf(CHANNELS)),
                           validate=validate.Length(min=1, max=len(CHANNELS)),
                           metadata={"description": "Channels in priority order."})
    strategy = Text(validate=validate.OneOf(STRATEGIES))
    category = Text(validate=validate.OneOf(CATEGORIES))
    topic = Text(allow_none=True, validate=[validate.Length(min=1, max=64), KEY])
    data = JsonObject(metadata={"description": "Template data (`{{ data.x }}`) for every recipient."})
    schedule = JsonObject(allow_none=True, metadata={"description": (
        '`{"kind": "now"}`, `{"kind": "at", "at": ISO}`, `{"kind": "local_time", "date": "2026-05-01", '
        '"time": "09:00"}` or `{"kind": "recurring", "cron": "0 9 * * MON", "timezone": "Europe/Paris"}`.')})
    trigger = JsonObject(allow_none=True, metadata={"description": (
        '`{"event_name": "cart_updated", "where": [...], "delay_seconds": 3600, '
        '"exit_event": {"name": "order_completed"}, "reentry": "once" | "every_time" | {"every_days": N}}`.')})
    throttle_per_minute = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=10_000_000))
    respect_caps = fields.Boolean()
    respect_quiet_hours = fields.Boolean()
    frequency_caps = fields.List(fields.Nested(FrequencyCapSchema), validate=validate.Length(max=10))
    quiet_hours = fields.Nested(QuietHoursSchema, allow_none=True)
    variants = fields.List(fields.Nested(VariantSchema), validate=validate.Length(max=26))
    holdout_percent = fields.Float(validate=validate.Range(min=0, max=100, max_inclusive=False))
    goal = JsonObject(allow_none=True, metadata={"description": (
        '`{"event_name": "order_completed", "where": [...], "window_hours": 72}`.')})

    @validates_schema
    def _settings(self, data, **kwargs):
        if data.get("schedule") is not None:
            data["schedule"] = schedule_to_dict(_setting("schedule", schedule_from_dict, data["schedule"]))
        if data.get("trigger") is not None:
            data["trigger"] = _setting("trigger", TriggerRule.from_dict, data["trigger"]).to_dict()
            if data["trigger"]["delay_seconds"] > MAX_DELAY_SECONDS:
                raise ValidationError({"trigger": {"delay_seconds": [f"At most {MAX_DELAY_SECONDS} seconds."]}})
            reentry = data["trigger"].get("reentry")
            if isinstance(reentry, dict) and reentry.get("every_days", 0) > MAX_DAYS:
                raise ValidationError({"trigger": {"reentry": [f"every_days is at most {MAX_DAYS}."]}})
        if data.get("goal") is not None:
            data["goal"] = _setting("goal", Goal.from_dict, data["goal"]).to_dict()
            if data["goal"]["window_hours"] > MAX_WINDOW_HOURS:
                raise ValidationError({"goal": {"window_hours": [f"At most {MAX_WINDOW_HOURS} hours."]}})
        if data.get("schedule") is not None and data.get("trigger") is not None:
            raise ValidationError("A campaign has a schedule or a trigger, not both.", "trigger")
        names = [v["name"] for v in data.get("variants") or ()]
        if len(set(names)) != len(names):
            raise ValidationError("Variant names must be unique.", "variants")
        if data.get("variants") and sum(v["weight"] for v in data["variants"]) <= 0:
            raise ValidationError("At least one variant needs a positive weight.", "variants")


class CampaignCreateSchema(CampaignFieldsSchema):
    name = Text(required=True, validate=validate.Length(min=1, max=255))
    channels = fields.List(Text(validate=validate.OneOf(CHANNELS)), required=True,
                           validate=validate.Length(min=1, max=len(CHANNELS)))


class CampaignPatchSchema(CampaignFieldsSchema):
    pass


class VariantOutSchema(Schema):
    name = fields.String()
    weight = fields.Float()
    template = fields.String(allow_none=True)


class CampaignSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    status = fields.String()
    paused_from = fields.String(allow_none=True)
    allowed_actions = fields.List(fields.String())
    kind = fields.String(metadata={"description": "`broadcast` or `triggered`."})
    template = fields.String(allow_none=True)
    segment_id = fields.Integer(allow_none=True)
    channels = fields.List(fields.String())
    strategy = fields.String()
    category = fields.String()
    topic = fields.String(allow_none=True)
    data = fields.Dict()
    schedule = fields.Dict(allow_none=True)
    trigger = fields.Dict(allow_none=True)
    throttle_per_minute = fields.Integer(allow_none=True)
    respect_caps = fields.Boolean()
    respect_quiet_hours = fields.Boolean()
    frequency_caps = fields.List(fields.Dict())
    quiet_hours = fields.Dict(allow_none=True)
    variants = fields.List(fields.Nested(VariantOutSchema))
    holdout_percent = fields.Float()
    goal = fields.Dict(allow_none=True)
    next_run_at = fields.DateTime(allow_none=True)
    launched_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    progress = fields.Dict(metadata={"description": "The latest run: contacts planned, batches, status."})


class CampaignPageSchema(Schema):
    data = fields.List(fields.Nested(CampaignSchema))
    next_cursor = fields.String(allow_none=True)


class CampaignListQuerySchema(PageQuerySchema):
    status = Text(validate=validate.OneOf(
        ["draft", "scheduled", "running", "paused", "completed", "cancelled"]))


class StatsQuerySchema(Schema):
    bucket = Text(load_default="hour", validate=validate.OneOf(["hour", "day"]),
                  metadata={"description": "Width of the counts-over-time buckets."})
    confidence = fields.Float(load_default=0.95, validate=validate.Range(min=0.5, max=0.999))


class StatsSchema(Schema):
    campaign_id = fields.Integer()
    totals = fields.Dict()
    variants = fields.List(fields.Dict())
    channels = fields.List(fields.Dict())
    rows = fields.List(fields.Dict(), metadata={"description": "Per (variant, channel)."})
    holdout = fields.Dict(allow_none=True)
    over_time = fields.List(fields.Dict())
