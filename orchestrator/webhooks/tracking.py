"""Email tracking links: open pixel, click redirect, one-click unsubscribe (RFC 8058).

No login, no CSRF token: the signed token is the authority. Bad tokens answer 404, never 5xx.
"""
from __future__ import annotations

import base64
import logging

from flask import Blueprint, Response, redirect, render_template, request

from orchestrator.api.problems import problem
from orchestrator.db import db
from orchestrator.services import tracking

log = logging.getLogger(__name__)

bp = Blueprint("tracking_links", __name__, template_folder="templates")

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, private, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
}


def _not_found() -> Response:
    return problem(404, "Not Found", "This link is not valid.")


@bp.get("/t/o/<token>")
def open_pixel(token: str):
    try:
        opened = tracking.read_open(token)
    except tracking.BadToken:
        return _not_found()
    if request.method == "GET" and tracking.record_open(db.session, opened):
        db.session.commit()
    return Response(PIXEL, mimetype="image/gif", headers=NO_STORE)


@bp.get("/t/c/<token>")
def click(token: str):
    try:
        clicked = tracking.read_click(token)
    except tracking.BadToken:
        return _not_found()
    # Link scanners probe with HEAD; only a real GET is a click.
    if request.method == "GET":
        tracking.record_click(db.session, clicked)
        db.session.commit()
    response = redirect(clicked.url, code=302)
    response.headers.update(NO_STORE)
    return response


def _page(name: str, status: int = 200, **context) -> Response:
    response = Response(render_template(f"unsubscribe/{name}.html", **context), status=status,
                        mimetype="text/html")
    response.headers.update(NO_STORE)
    # Nothing on these pages needs scripts or other origins.
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/u/<token>", methods=["GET", "POST"])
def unsubscribe(token: str):
    try:
        wanted = tracking.read_unsubscribe(token)
    except tracking.BadToken:
        return _page("invalid", 404)
    about = tracking.describe(db.session, wanted)
    if request.method == "GET":
        # A GET never unsubscribes: mail scanners follow links (RFC 8058 section 3.2).
        return _page("confirm", **about)
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    tracking.unsubscribe(db.session, wanted, source="one_click" if one_click else "link")
    db.session.commit()
    log.info("unsubscribed", extra={"contact_id": wanted.contact_id, "message_id": wanted.message_id})
    return _page("done", **about)
