"""The dashboard: messages today and over 30 days, by channel and status, with charts."""
from __future__ import annotations

from flask import render_template
from sqlalchemy import func, select

from orchestrator.db import db
from orchestrator.models import CHANNEL_KEYS, Contact
from orchestrator.services.dashboard import overview, running_campaigns
from orchestrator.web import charts
from orchestrator.web.auth import login_required
from orchestrator.web.delivery import delivery_figures, without_receipts
from orchestrator.web.pages import ui_blueprint

bp = ui_blueprint("ui_dashboard", __name__)

CHANNEL_NAMES = {"sms": "SMS", "push": "Push", "email": "Email", "inapp": "In-app"}


@bp.get("/")
@login_required
def index():
    figures = overview(db.session)
    labels = [day.strftime("%d %b") for day in figures.days]
    daily_chart = charts.stacked_bars(labels, figures.daily, "Messages per day over 30 days, by channel")
    month = figures.month
    no_receipts = without_receipts()
    delivery = delivery_figures([{"channel": c, "sent": f.sent, "delivered": f.delivered, "failed": f.failed}
                                 for c, f in figures.by_channel.items()], no_receipts)
    funnel_chart = charts.horizontal_bars([stage for stage in (
        ("Created", month.total, "#64748b"), ("Sent", month.sent, "#4f46e5"),
        ("Delivered", month.delivered, "#0ea5e9"), ("Opened", month.opened, "#10b981"),
        ("Clicked", month.clicked, "#f59e0b"), ("Failed", month.failed, "#ef4444"),
    ) if stage[0] != "Delivered" or not delivery["sandbox_only"]], "Message funnel over 30 days")
    statuses = sorted(figures.by_status.items(), key=lambda item: -item[1])
    return render_template(
        "dashboard.html", figures=figures, daily_chart=daily_chart, funnel_chart=funnel_chart,
        legend=charts.legend(list(CHANNEL_KEYS), CHANNEL_NAMES), statuses=statuses,
        channel_names=CHANNEL_NAMES, channels=CHANNEL_KEYS, delivery=delivery, no_receipts=no_receipts,
        contacts=db.session.scalar(select(func.count(Contact.id))) or 0,
        campaigns=running_campaigns(db.session),
    )
