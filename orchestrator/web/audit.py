"""The audit log: who launched, paused or changed what (admins only)."""
from __future__ import annotations

from flask import render_template, request
from sqlalchemy import select

from orchestrator.db import db
from orchestrator.models import ApiKey, AuditEntry, User
from orchestrator.services.pagination import decode_cursor, page
from orchestrator.web.auth import role_required
from orchestrator.web.pages import paged, ui_blueprint

bp = ui_blueprint("ui_audit", __name__, url_prefix="/audit")

PAGE_SIZE = 50


@bp.get("")
@role_required("admin")
def index():
    action = request.args.get("action", "").strip()[:64]

    def fetch(cursor):
        query = (select(AuditEntry, User.email, ApiKey.name)
                 .outerjoin(User, User.id == AuditEntry.user_id)
                 .outerjoin(ApiKey, ApiKey.id == AuditEntry.api_key_id)
                 .order_by(AuditEntry.id.desc()).limit(PAGE_SIZE + 1))
        before = decode_cursor(cursor)
        if before is not None:
            query = query.where(AuditEntry.id < before)
        if action:
            query = query.where(AuditEntry.action.like(action.replace("%", "") + "%"))
        return page(list(db.session.execute(query)), PAGE_SIZE, key=lambda row: row[0].id)

    rows, next_url, first_url = paged(fetch, ".index", action=action)
    return render_template("audit.html", rows=rows, action=action, next_url=next_url, first_url=first_url)
