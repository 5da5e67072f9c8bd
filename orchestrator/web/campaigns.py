"""Campaigns: a step-by-step builder (audience → content → channels and strategy → schedule
and throttle → A/B and goal → review), launch with confirmation, pause/resume/cancel, and a
report with the funnel per channel and variant, conversions and lift, and sends over time.

Each step saves the draft through the campaigns service with the API's patch schema; launch
checks are the service's (`launch_problems`), shown on the review step before the button.
"""
from __future__ import annotations

from datetime import datetime

from flask import flash, redirect, render_template, request, url_for
from marshmallow import ValidationError
from sqlalchemy import select

from campaigns.decisions import STRATEGIES
from orchestrator.api.auth import actor
from orchestrator.db import db
from orchestrator.errors import ChorusError
from orchestrator.models import CHANNEL_KEYS, Segment, Template, utcnow
from orchestrator.schemas.campaigns import CampaignCreateSchema, CampaignPatchSchema
from orchestrator.services import campaigns as service
from orchestrator.services import segments as segment_service
from orchestrator.services.campaign_stats import stats
from orchestrator.web import charts
from orchestrator.web.auth import login_required, role_required
from orchestrator.web.forms import FieldErrors, errors_of
from orchestrator.web.pages import paged, ui_blueprint

bp = ui_blueprint("ui_campaigns", __name__, url_prefix="/campaigns")

PAGE_SIZE = 50
STEPS = (("audience", "Audience"), ("content", "Content"), ("channels", "Channels and strategy"),
         ("schedule", "Schedule and throttle"), ("experiment", "A/B and goal"), ("review", "Review"))
STEP_KEYS = [key for key, _ in STEPS]
CHANNEL_NAMES = {"sms": "SMS", "push": "Push", "email": "Email", "inapp": "In-app"}
STRATEGY_HELP = {"all": "Send on every channel the person can receive.",
                 "first": "Send once, on the first channel (in this order) the person can receive.",
                 "fallback": "Try the first channel; when it fails, the next one, and so on."}
MAX_VARIANTS = 4


def _int(text: str | None):
    text = (text or "").strip()
    return int(text) if text.lstrip("-").isdigit() else (text or None)


def _number(text: str | None):
    text = (text or "").strip()
    try:
        return float(text) if text else None
    except ValueError:
        return text


# Form → the API's patch body, per step ----------------------------------------------------

def step_body(step: str, form) -> dict:
    if step == "audience":
        return {"name": form.get("name", "").strip(), "segment_id": _int(form.get("segment_id")) or None}
    if step == "content":
        return {"template": form.get("template") or None, "category": form.get("category") or "marketing"}
    if step == "channels":
        chosen = [c for c in CHANNEL_KEYS if form.get(f"channel.{c}") == "on"]
        chosen.sort(key=lambda c: (_int(form.get(f"priority.{c}")) if isinstance(_int(form.get(f"priority.{c}")), int)
                                   else 99, CHANNEL_KEYS.index(c)))
        return {"channels": chosen, "strategy": form.get("strategy") or "all"}
    if step == "schedule":
        kind = form.get("schedule_kind") or "now"
        schedule: dict = {"kind": kind}
        if kind == "at":
            schedule["at"] = _local_input(form.get("schedule_at"))
        elif kind == "local_time":
            schedule.update(date=form.get("schedule_date", "").strip(), time=form.get("schedule_time", "").strip())
        elif kind == "recurring":
            schedule.update(cron=form.get("schedule_cron", "").strip(),
                            timezone=form.get("schedule_timezone", "").strip() or "UTC")
        return {"schedule": schedule, "throttle_per_minute": _int(form.get("throttle_per_minute")),
                "respect_caps": form.get("respect_caps") == "on",
                "respect_quiet_hours": form.get("respect_quiet_hours") == "on"}
    if step == "experiment":
        variants = []
        for n in range(MAX_VARIANTS):
            name = form.get(f"variant.{n}.name", "").strip()
            if name:
                variants.append({"name": name, "weight": _number(form.get(f"variant.{n}.weight")) or 1.0,
                                 "template": form.get(f"variant.{n}.template") or None})
        event = form.get("goal_event", "").strip()
        goal = {"event_name": event, "window_hours": _number(form.get("goal_window_hours")) or 72} if event else None
        return {"variants": variants, "holdout_percent": _number(form.get("holdout_percent")) or 0.0, "goal": goal}
    return {}


def _local_input(value: str | None) -> str:
    """`<input type=datetime-local>` has no zone; the UI states times in UTC."""
    value = (value or "").strip()
    return value + ":00+00:00" if len(value) == 16 else value


def _form_errors(error: ValidationError | ChorusError) -> FieldErrors:
    errors = errors_of(error)
    # Variant and schedule errors come back at `variants.1.name`, `schedule.cron`: show them there.
    renamed: FieldErrors = {}
    for field, messages in errors.items():
        name = field.replace("variants.", "variant.").replace("variants[", "variant.").replace("]", "")
        if name.startswith("schedule."):
            part = name.split(".", 1)[1]
            name = {"expression": "schedule_cron", "kind": "schedule_kind"}.get(part, "schedule_" + part)
        if name.startswith("goal"):
            name = "goal_event" if "window" not in name else "goal_window_hours"
        renamed.setdefault(name, []).extend(messages)
    return renamed


# Pages ------------------------------------------------------------------------------------

def _choices() -> dict:
    published = db.session.scalars(select(Template).where(Template.archived_at.is_(None),
                                                          Template.published_version_id.is_not(None))
                                   .order_by(Template.name))
    return {"segments": list(db.session.scalars(select(Segment).order_by(Segment.name))),
            "templates": list(published), "channel_names": CHANNEL_NAMES, "strategies": STRATEGIES,
            "strategy_help": STRATEGY_HELP, "steps": STEPS, "channels": CHANNEL_KEYS,
            "max_variants": MAX_VARIANTS}


@bp.get("")
@login_required
def index():
    status = request.args.get("status") or None
    rows, next_url, first_url = paged(
        lambda cursor: service.list_campaigns(db.session, limit=PAGE_SIZE, cursor=cursor, status=status),
        ".index", status=status)
    return render_template("campaigns/list.html", campaigns=rows, status=status, next_url=next_url,
                           first_url=first_url)


@bp.route("/new", methods=["GET", "POST"])
@role_required("editor")
def new():
    errors: FieldErrors = {}
    values = dict(request.form)
    if request.method == "POST":
        body = {**step_body("audience", request.form), "channels": ["email"]}
        if body["segment_id"] is None:
            body.pop("segment_id")
        try:
            data = CampaignCreateSchema().load(body)
            campaign = service.create_campaign(db.session, actor=actor(), **data)
            db.session.commit()
            return redirect(url_for(".step", campaign_id=campaign.id, step="content"))
        except (ValidationError, ChorusError) as error:
            db.session.rollback()
            errors = _form_errors(error)
    return render_template("campaigns/builder.html", campaign=None, described=None, step="audience",
                           values=values, errors=errors, **_choices()), 422 if errors else 200


def _values(described: dict) -> dict:
    schedule = described.get("schedule") or {"kind": "now"}
    goal = described.get("goal") or {}
    values = {
        "name": described["name"], "segment_id": described["segment_id"], "template": described["template"],
        "category": described["category"], "strategy": described["strategy"],
        "schedule_kind": schedule.get("kind"), "schedule_at": (schedule.get("at") or "")[:16],
        "schedule_date": schedule.get("date", ""), "schedule_time": schedule.get("time", ""),
        "schedule_cron": schedule.get("cron", ""), "schedule_timezone": schedule.get("timezone", ""),
        "throttle_per_minute": described["throttle_per_minute"] or "",
        "respect_caps": described["respect_caps"], "respect_quiet_hours": described["respect_quiet_hours"],
        "holdout_percent": described["holdout_percent"] or "", "goal_event": goal.get("event_name", ""),
        "goal_window_hours": goal.get("window_hours", ""),
    }
    for position, channel in enumerate(described["channels"]):
        values[f"channel.{channel}"] = True
        values[f"priority.{channel}"] = position + 1
    for n, variant in enumerate(described["variants"]):
        values.update({f"variant.{n}.name": variant["name"], f"variant.{n}.weight": variant["weight"],
                       f"variant.{n}.template": variant["template"] or ""})
    return values


@bp.get("/<int:campaign_id>")
@login_required
def show(campaign_id):
    campaign = service.get_campaign(db.session, campaign_id)
    if campaign.status == "draft":
        return redirect(url_for(".step", campaign_id=campaign_id, step="review"))
    return redirect(url_for(".report", campaign_id=campaign_id))


STEP_RULE = "/<int:campaign_id>/<any(audience, content, channels, schedule, experiment, review):step>"


@bp.get(STEP_RULE)
@login_required
def step(campaign_id, step):
    return _step_page(service.get_campaign(db.session, campaign_id), step)


@bp.post(STEP_RULE)
@role_required("editor")
def save_step(campaign_id, step):
    service.get_campaign(db.session, campaign_id)
    try:
        body = CampaignPatchSchema().load(step_body(step, request.form))
        service.update_campaign(db.session, campaign_id, actor=actor(), **body)
        db.session.commit()
    except (ValidationError, ChorusError) as error:
        db.session.rollback()
        return _step_page(service.get_campaign(db.session, campaign_id), step, _form_errors(error))
    following = STEP_KEYS[min(STEP_KEYS.index(step) + 1, len(STEP_KEYS) - 1)]
    return redirect(url_for(".step", campaign_id=campaign_id, step=following))


def _step_page(campaign, step: str, errors: FieldErrors | None = None):
    described = service.describe(db.session, campaign)
    values = dict(request.form) if errors else _values(described)
    context = _review(campaign) if step == "review" else {}
    return render_template("campaigns/builder.html", campaign=campaign, described=described, step=step,
                           values=values, errors=errors or {}, **context, **_choices()), 422 if errors else 200


def _review(campaign) -> dict:
    problems = service.launch_problems(db.session, campaign, utcnow())
    audience = None
    if not campaign.triggered:
        rules = db.session.get(Segment, campaign.segment_id).rules if campaign.segment_id else None
        try:
            audience = segment_service.count(db.session, rules)
        except ChorusError:
            audience = None
    segment = db.session.get(Segment, campaign.segment_id) if campaign.segment_id else None
    return {"problems": problems, "audience": audience, "segment": segment}


@bp.post("/<int:campaign_id>/launch")
@role_required("editor")
def launch(campaign_id):
    try:
        campaign = service.launch(db.session, campaign_id, actor=actor())
    except ChorusError as error:
        db.session.rollback()
        flash(error.detail, "error")
        return redirect(url_for(".step", campaign_id=campaign_id, step="review"))
    flash("Launched." if campaign.status == "running" else f"Launched: the campaign is {campaign.status}.", "success")
    return redirect(url_for(".report", campaign_id=campaign_id))


@bp.post("/<int:campaign_id>/<any(pause, resume, cancel):action>")
@role_required("editor")
def lifecycle(campaign_id, action):
    move = {"pause": service.pause, "resume": service.resume, "cancel": service.cancel}[action]
    try:
        campaign = move(db.session, campaign_id, actor=actor())
    except ChorusError as error:
        db.session.rollback()
        flash(error.detail, "error")
    else:
        flash(f"The campaign is {campaign.status}.", "success")
    return redirect(url_for(".report", campaign_id=campaign_id))


def _funnel_rows(counts: dict) -> list[tuple[str, float, str]]:
    return [("Targeted", counts["targeted"], "#64748b"), ("Sent", counts["sent"], "#4f46e5"),
            ("Delivered", counts["delivered"], "#0ea5e9"), ("Opened", counts["opened"], "#10b981"),
            ("Clicked", counts["clicked"], "#f59e0b"), ("Converted", counts["converted"], "#8b5cf6")]


@bp.get("/<int:campaign_id>/report")
@login_required
def report(campaign_id):
    campaign = service.get_campaign(db.session, campaign_id)
    described = service.describe(db.session, campaign)
    figures = stats(db.session, campaign, bucket=request.args.get("bucket", "hour")
                    if request.args.get("bucket") in ("hour", "day") else "hour")
    slots = figures["over_time"]
    labels = [datetime.fromisoformat(s["at"]).strftime("%d %b %H:%M") for s in slots]
    over_time = charts.grouped_bars(labels, {name: [s[name] for s in slots] for name in ("sent", "delivered",
                                                                                          "opened", "clicked")},
                                    "Messages over time") if slots else None
    funnels = {"total": charts.horizontal_bars(_funnel_rows(figures["totals"]), "Funnel, all channels")}
    for row in figures["channels"]:
        funnels[row["channel"]] = charts.horizontal_bars(_funnel_rows(row), f"Funnel on {row['channel']}")
    variant_chart = charts.horizontal_bars(
        [(v["variant"], (v["conversion_rate"] or 0) * 100, charts.color_for(v["variant"], n))
         for n, v in enumerate(figures["variants"])]
        + ([("holdout", (figures["holdout"]["conversion_rate"] or 0) * 100, "#94a3b8")] if figures["holdout"] else []),
        "Conversion rate by variant", unit="%") if campaign.goal else None
    template = "campaigns/_report_body.html" if request.headers.get("HX-Request") else "campaigns/report.html"
    return render_template(template, campaign=campaign, described=described, figures=figures,
                           over_time=over_time, funnels=funnels, variant_chart=variant_chart,
                           legend=charts.legend(["sent", "delivered", "opened", "clicked"]),
                           channel_names=CHANNEL_NAMES, live=campaign.status in ("running", "scheduled"))
