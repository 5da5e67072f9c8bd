"""The sandbox outbox: what sandboxed channels would have sent, rendered as people would see it."""
from __future__ import annotations

from flask import current_app, render_template, request

from orchestrator.db import db
from orchestrator.models import CHANNEL_KEYS
from orchestrator.services.channels import channels_for
from orchestrator.services.outbox import list_outbox
from orchestrator.web.auth import login_required
from orchestrator.web.pages import paged, ui_blueprint

bp = ui_blueprint("ui_outbox", __name__, url_prefix="/outbox")

PAGE_SIZE = 24


@bp.get("")
@login_required
def index():
    channel = request.args.get("channel") if request.args.get("channel") in CHANNEL_KEYS else None
    address = request.args.get("address", "").strip()[:4096] or None
    entries, next_url, first_url = paged(
        lambda cursor: list_outbox(db.session, limit=PAGE_SIZE, cursor=cursor, channel=channel, address=address),
        ".index", channel=channel, address=address)
    return render_template(
        "outbox.html", entries=entries, channel=channel, address=address or "", channels=CHANNEL_KEYS,
        sandboxed=channels_for(current_app).sandboxed(), next_url=next_url, first_url=first_url,
    )
