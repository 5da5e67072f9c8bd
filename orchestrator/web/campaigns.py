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
from orchestrator.models import CHANNEL_KEYS, Event, Segment, Template, utcnow
from orchestrator.schemas.campaigns import CampaignCreateSchema, CampaignPatchSchema
from orchestrator.services import campaigns as service
from orchestrator.services import segments as segment_service
from orchestrator.services.campaign_stats import stats
from orchestrator.web import campaign_forms as forms
from orchestrator.web import charts
from orchestrator.web.delivery import delivery_figures, without_receipts
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
SUMMARIES = {"trigger": forms.trigger_summary, "caps": forms.caps_summary, "quiet": forms.quiet_hours_summary,
             "filters": forms.filters_summary}


def _form_errors(error: ValidationError | ChorusError) -> FieldErrors:
    """Errors at API paths (`variants.1.name`, `trigger.reentry`) → at the builder's inputs."""
    renamed: FieldErrors = {}
    for path, messages in errors_of(error).items():
        for message in messages:
            name, message = forms.input_for(path, message)
            renamed.setdefault(name, []).append(message)
    return renamed


# Pages ------------------------------------------------------------------------------------

def _choices(step: str = "audience") -> dict:
    published = db.session.scalars(select(Template).where(Template.archived_at.is_(None),
                                                          Template.published_version_id.is_not(None))
                                   .order_by(Template.name))
    return {"segments": list(db.session.scalars(select(Segment).order_by(Segment.name))),
            "templates": list(published), "channel_names": CHANNEL_NAMES, "strategies": STRATEGIES,
            "strategy_help": STRATEGY_HELP, "steps": STEPS, "channels": CHANNEL_KEYS,
            "max_variants": forms.MAX_VARIANTS, "filter_ops": forms.FILTER_OP_NAMES, "rows": forms.rows,
            # Event names seen, suggested where the steps ask for one.
            "events": list(db.session.scalars(select(Event.name).distinct().order_by(Event.name).limit(200)))
            if step in ("schedule", "experiment") else [],
            "summaries": SUMMARIES}


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
        body = {**forms.step_body("audience", request.form), "channels": ["email"]}
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
    campaign = service.get_campaign(db.session, campaign_id)
    action = request.form.get("action", "save")
    if action.startswith("add:") and action[4:] in forms.ROW_LISTS:
        # Another blank row, without saving (and without script).
        return _step_page(campaign, step, values=forms.posted_values(request.form), more=action[4:])
    try:
        body = CampaignPatchSchema().load(forms.step_body(step, request.form))
        service.update_campaign(db.session, campaign_id, actor=actor(), **body)
        db.session.commit()
    except (ValidationError, ChorusError) as error:
        db.session.rollback()
        return _step_page(service.get_campaign(db.session, campaign_id), step, _form_errors(error))
    following = STEP_KEYS[min(STEP_KEYS.index(step) + 1, len(STEP_KEYS) - 1)]
    return redirect(url_for(".step", campaign_id=campaign_id, step=following))


def _step_page(campaign, step: str, errors: FieldErrors | None = None, values: dict | None = None,
               more: str | None = None):
    described = service.describe(db.session, campaign)
    if values is None:
        values = forms.posted_values(request.form) if errors else forms.step_values(described)
    context = _review(campaign) if step == "review" else {}
    return render_template("campaigns/builder.html", campaign=campaign, described=described, step=step,
                           values=values, errors=errors or {}, more=more, **context,
                           **_choices(step)), 422 if errors else 200


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


def _funnel_rows(counts: dict, delivery: bool = True) -> list[tuple[str, float, str]]:
    """The funnel's stages; without delivery receipts (sandbox, in-app) there is no Delivered."""
    stages = [("Targeted", counts["targeted"], "#64748b"), ("Sent", counts["sent"], "#4f46e5"),
              ("Delivered", counts["delivered"], "#0ea5e9"), ("Opened", counts["opened"], "#10b981"),
              ("Clicked", counts["clicked"], "#f59e0b"), ("Converted", counts["converted"], "#8b5cf6")]
    return [stage for stage in stages if delivery or stage[0] != "Delivered"]


def _lift_chart(figures: dict):
    rows = [(v["variant"], v["lift"]["ci_low"] * 100, v["lift"]["absolute_diff"] * 100, v["lift"]["ci_high"] * 100,
             charts.color_for(v["variant"], n)) for n, v in enumerate(figures["variants"]) if v["lift"]]
    total = figures["totals"]["lift"]
    if total and len(rows) > 1:
        rows.append(("all variants", total["ci_low"] * 100, total["absolute_diff"] * 100, total["ci_high"] * 100,
                     "#1d2233"))
    if not rows:
        return None
    confidence = (figures["totals"]["lift"] or figures["variants"][0]["lift"])["confidence"]
    return charts.intervals(rows, f"Conversion difference against the holdout, {confidence:.0%} confidence interval")


@bp.get("/<int:campaign_id>/report")
@login_required
def report(campaign_id):
    campaign = service.get_campaign(db.session, campaign_id)
    described = service.describe(db.session, campaign)
    figures = stats(db.session, campaign, bucket=request.args.get("bucket", "hour")
                    if request.args.get("bucket") in ("hour", "day") else "hour")
    no_receipts = without_receipts()
    delivery = delivery_figures(figures["channels"], no_receipts)
    slots = figures["over_time"]
    labels = [datetime.fromisoformat(s["at"]).strftime("%d %b %H:%M") for s in slots]
    over_time = charts.grouped_bars(labels, {name: [s[name] for s in slots] for name in ("sent", "delivered",
                                                                                          "opened", "clicked")},
                                    "Messages over time", width=460) if slots else None
    receipts = not delivery["sandbox_only"]
    funnels = {"total": charts.horizontal_bars(_funnel_rows(figures["totals"], receipts), "Funnel, all channels")}
    for row in figures["channels"]:
        funnels[row["channel"]] = charts.horizontal_bars(_funnel_rows(row, row["channel"] not in no_receipts),
                                                         f"Funnel on {row['channel']}")
    variant_funnels = {v["variant"]: charts.horizontal_bars(_funnel_rows(v, receipts), f"Funnel of variant {v['variant']}")
                       for v in figures["variants"]} if len(figures["variants"]) > 1 else {}
    variant_chart = charts.horizontal_bars(
        [(v["variant"], (v["conversion_rate"] or 0) * 100, charts.color_for(v["variant"], n))
         for n, v in enumerate(figures["variants"])]
        + ([("holdout", (figures["holdout"]["conversion_rate"] or 0) * 100, "#94a3b8")] if figures["holdout"] else []),
        "Conversion rate by variant", unit="%") if campaign.goal else None
    template = "campaigns/_report_body.html" if request.headers.get("HX-Request") else "campaigns/report.html"
    return render_template(template, campaign=campaign, described=described, figures=figures,
                           over_time=over_time, funnels=funnels, variant_funnels=variant_funnels,
                           variant_chart=variant_chart, lift_chart=_lift_chart(figures), delivery=delivery,
                           no_receipts=no_receipts, legend=charts.legend(["sent", "delivered", "opened", "clicked"]),
                           channel_names=CHANNEL_NAMES, live=campaign.status in ("running", "scheduled"))
