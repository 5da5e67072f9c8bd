"""Signing in and out, who is signed in, and what their role lets them do.

Roles nest: an admin can do what an editor can, an editor what a viewer can. The signed-in user
is `g.user`, which is also what `orchestrator.api.auth.actor()` writes into the audit log.
"""
from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit

from flask import (
    abort, current_app, flash, g, redirect, render_template, request, session, url_for,
)
from limits import parse as parse_limit
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from marshmallow import Schema, fields, validate

from orchestrator.db import db
from orchestrator.models import ROLES, User
from orchestrator.services.users import verify_login
from orchestrator.web.audit_trail import record
from orchestrator.web.forms import load_form
from orchestrator.web.pages import ui_blueprint

bp = ui_blueprint("ui_auth", __name__)

# Lowest to highest: a role may do everything the roles before it may.
RANK = {role: rank for rank, role in enumerate(reversed(ROLES))}
LOGIN_LIMIT = parse_limit("10/minute")


class LoginSchema(Schema):
    email = fields.String(required=True, validate=validate.Length(min=1, max=320))
    password = fields.String(required=True, validate=validate.Length(min=1, max=1024))


def has_role(user: User | None, role: str) -> bool:
    return user is not None and RANK.get(user.role, -1) >= RANK[role]


def current_user() -> User | None:
    """The signed-in user of this request, loaded once; disabled users are signed out."""
    if "user" in g:
        return g.user
    user = None
    user_id = session.get("user_id")
    if user_id is not None:
        user = db.session.get(User, user_id)
        if user is None or user.disabled_at is not None:
            session.clear()
            user = None
    g.user = user
    return user


def login_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if current_user() is None:
            return redirect(url_for("ui_auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)
    return wrapped


def role_required(role: str):
    if role not in RANK:
        raise ValueError(f"unknown role {role!r}")

    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            user = current_user()
            if user is None:
                return redirect(url_for("ui_auth.login", next=request.full_path.rstrip("?")))
            if not has_role(user, role):
                abort(403, f"This needs the {role} role; you are signed in as {user.role}.")
            return view(*args, **kwargs)
        return wrapped
    return decorate


def _limiter() -> MovingWindowRateLimiter:
    # One limiter per app; its storage is the same setting the API's rate limits use.
    limiter = current_app.extensions.get("chorus_login_limiter")
    if limiter is None:
        storage = storage_from_string(current_app.config.get("RATELIMIT_STORAGE_URI", "memory://"))
        limiter = current_app.extensions["chorus_login_limiter"] = MovingWindowRateLimiter(storage)
    return limiter


def _safe_next(target: str | None) -> str:
    # Only paths on this site: an open redirect would make the login page a phishing tool.
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("ui_dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET" and current_user() is not None:
        return redirect(_safe_next(request.args.get("next")))
    errors: dict[str, list[str]] = {}
    values = {"email": request.form.get("email", "")}
    if request.method == "POST":
        # Per address and account: slows password guessing without locking out an office
        # whose people share one address.
        client = request.remote_addr or "unknown"
        account = request.form.get("email", "").strip().lower()[:320]
        if not _limiter().hit(LOGIN_LIMIT, "chorus-login", client, account):
            abort(429, "Too many sign-in attempts from here; wait a minute and try again.")
        data, errors = load_form(LoginSchema(), request.form, ["email", "password"])
        if data is not None:
            user = verify_login(db.session, data["email"], data["password"])
            if user is None:
                errors = {"password": ["That email and password do not match an active user."]}
            else:
                # A fresh session on sign-in: a session id planted before login is worth nothing.
                session.clear()
                session["user_id"] = user.id
                session.permanent = True
                g.user = user
                record("user.signed_in", "user", user.id)
                db.session.commit()
                return redirect(_safe_next(request.args.get("next")))
        db.session.rollback()
    status = 422 if errors else 200
    return render_template("auth/login.html", errors=errors, values=values), status


@bp.post("/logout")
def logout():
    user = current_user()
    if user is not None:
        record("user.signed_out", "user", user.id)
        db.session.commit()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("ui_auth.login"))
