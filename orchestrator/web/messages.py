"""Messages: a searchable log, each message's timeline, and dead letters."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import select

from orchestrator.db import db
from orchestrator.errors import Conflict
from orchestrator.models import CHANNEL_KEYS, Contact, Message, OutboxEntry, utcnow
from orchestrator.services.messages import get_message, list_messages, retry_message
from orchestrator.web.audit_trail import record
from orchestrator.web.auth import login_required, role_required
from orchestrator.web.pages import paged, ui_blueprint

bp = ui_blueprint("ui_messages", __name__, url_prefix="/messages")

PAGE_SIZE = 50
STATUSES = ("queued", "sending", "sent", "delivered", "opened", "clicked",
            "failed", "undelivered", "bounced", "suppressed")
# A dead letter is a message that failed for good; the messages service can send it again.
DEAD = "failed"


def _filters() -> dict:
    args = request.args
    campaign = args.get("campaign", "").strip()
    return {
        "status": args.get("status") if args.get("status") in STATUSES else None,
        "channel": args.get("channel") if args.get("channel") in CHANNEL_KEYS else None,
        "contact": args.get("contact", "").strip()[:255] or None,
        "campaign": campaign if campaign.isdigit() else None,
    }


def _listing(template: str, endpoint: str, status: str | None = None):
    filters = _filters()
    query = {"contact": filters["contact"], "channel": filters["channel"],
             "status": status or filters["status"],
             "campaign_id": int(filters["campaign"]) if filters["campaign"] else None}
    rows, next_url, first_url = paged(
        lambda cursor: list_messages(db.session, limit=PAGE_SIZE, cursor=cursor, **query), endpoint, **filters)
    ids = {row["contact_id"] for row in rows if row["contact_id"]}
    people = dict(db.session.execute(select(Contact.id, Contact.external_id).where(Contact.id.in_(ids))).all()) if ids else {}
    return render_template(
        template, rows=[(row, people.get(row["contact_id"])) for row in rows], filters=filters,
        filtered=any(filters.values()), statuses=STATUSES, channels=CHANNEL_KEYS, next_url=next_url,
        first_url=first_url,
    )


@bp.get("")
@login_required
def index():
    return _listing("messages/list.html", ".index")


@bp.get("/dead-letters")
@login_required
def dead_letters():
    return _listing("messages/dead_letters.html", ".dead_letters", DEAD)


@bp.get("/<int:message_id>")
@login_required
def show(message_id):
    message = get_message(db.session, message_id)
    contact = db.session.get(Contact, message["contact_id"]) if message["contact_id"] else None
    stored = db.session.get(Message, message_id)
    outbox = db.session.scalar(select(OutboxEntry).where(OutboxEntry.message_id == message_id)
                               .order_by(OutboxEntry.id.desc()).limit(1))
    return render_template("messages/show.html", message=message, content=stored.content, contact=contact,
                           outbox=outbox, dead=message["status"] == DEAD)


@bp.post("/<int:message_id>/retry")
@role_required("editor")
def retry(message_id):
    try:
        retry_message(db.session, message_id, utcnow())
    except Conflict as error:
        db.session.rollback()
        flash(error.detail, "error")
    else:
        record("message.retried", "message", message_id)
        db.session.commit()
        flash(f"Message #{message_id} is queued again.", "success")
    return redirect(url_for(".show", message_id=message_id))
