"""What every UI page shares: templates and assets, navigation, filters, error pages.

Assets are served from here, never from a CDN: Chorus works offline.
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask import Blueprint
from markupsafe import Markup
from werkzeug.exceptions import HTTPException, InternalServerError

from orchestrator.api import problems
from orchestrator.web.auth import current_user, has_role
from orchestrator.web.pages import ERROR_TITLES, error_page

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/assets")

# (endpoint, label, the least role that sees it)
NAVIGATION = (
    ("ui_dashboard.index", "Dashboard", "viewer"),
    ("ui_contacts.index", "Contacts", "viewer"),
    ("ui_segments.index", "Segments", "viewer"),
    ("ui_message_templates.index", "Templates", "viewer"),
    ("ui_campaigns.index", "Campaigns", "viewer"),
    ("ui_messages.index", "Messages", "viewer"),
    ("ui_outbox.index", "Outbox", "viewer"),
    ("ui_settings.index", "Settings", "viewer"),
    ("ui_audit.index", "Audit log", "admin"),
)

def _http_error(error: HTTPException):
    # The API's paths keep their JSON problem documents; people get a page.
    if problems.wants_json():
        return problems.http_exception_problem(error)
    description = error.description if error.code != 500 else None
    return error_page(error.code or 500, description)


for _code in ERROR_TITLES:
    bp.app_errorhandler(_code)(_http_error)


@bp.app_errorhandler(InternalServerError)
def _internal_error(error):
    return _http_error(error if isinstance(error, HTTPException) else InternalServerError())


@bp.app_context_processor
def _shared_context():
    try:
        user = current_user()
    except Exception:  # an error page must render even when the database is what failed
        user = None
    return {
        "current_user": user,
        "can": lambda role: has_role(user, role),
        "navigation": [(endpoint, label) for endpoint, label, role in NAVIGATION if has_role(user, role)],
    }


@bp.app_template_filter("when")
def _when(value: datetime | None) -> Markup | str:
    if value is None:
        return "—"
    value = value.astimezone(timezone.utc)
    return Markup('<time datetime="{iso}" title="{iso}">{text}</time>').format(
        iso=value.isoformat(timespec="seconds"), text=value.strftime("%Y-%m-%d %H:%M UTC"))


@bp.app_template_filter("ago")
def _ago(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "never"
    seconds = int(((now or datetime.now(timezone.utc)) - value).total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if abs(seconds) >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


@bp.app_template_filter("number")
def _number(value) -> str:
    return f"{value or 0:,}"


@bp.app_template_filter("pct")
def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"
