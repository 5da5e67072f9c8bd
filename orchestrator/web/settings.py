"""Settings: which channels are live or sandboxed, API keys, users, webhook endpoints."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import select

from orchestrator.api.webhook_endpoints import EndpointInSchema
from orchestrator.db import db
from orchestrator.errors import ChorusError, NotFound
from orchestrator.models import ROLES, ApiKey, User, WebhookEndpoint, utcnow
from orchestrator.services.api_keys import PREFIXES, create_api_key, revoke_api_key
from orchestrator.services.channels import channel_settings, channels_for
from orchestrator.services.users import create_user
from orchestrator.services import webhooks as webhook_service
from orchestrator.web.audit_trail import record
from orchestrator.web.auth import current_user, login_required, role_required
from orchestrator.web.forms import errors_of, load_form
from orchestrator.services.pagination import decode_cursor, page
from orchestrator.web.pages import paged, ui_blueprint

bp = ui_blueprint("ui_settings", __name__, url_prefix="/settings")


class ApiKeyCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    kind = fields.String(load_default="secret", validate=validate.OneOf(list(PREFIXES)))


PAGE_SIZE = 25
LIST_PARAMS = ("keys_cursor", "users_cursor", "webhooks_cursor")


class UserCreateSchema(Schema):
    email = fields.Email(required=True, validate=validate.Length(max=320))
    password = fields.String(required=True, validate=validate.Length(min=10, max=1024))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class RoleSchema(Schema):
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


def channel_status() -> list[dict]:
    """Each channel, its provider, and whether it really sends or writes to the outbox."""
    registry = channels_for(current_app)
    sandboxed = set(registry.sandboxed())
    settings = channel_settings(current_app)
    providers = {
        "sms": ("Twilio", "CHORUS_TWILIO_ACCOUNT_SID, CHORUS_TWILIO_AUTH_TOKEN and a sender",
                settings.twilio_from_number or settings.twilio_messaging_service_sid),
        "push": ("Firebase Cloud Messaging", "CHORUS_FCM_SERVICE_ACCOUNT", None),
        "email": ("SMTP", "CHORUS_SMTP_HOST and CHORUS_EMAIL_FROM_ADDRESS",
                  settings.smtp_host and f"{settings.smtp_host}:{settings.smtp_port}"),
        "inapp": ("Chorus in-app inbox", "nothing: it is built in", None),
    }
    return [{
        "key": key,
        "provider": providers.get(key, (key, "", None))[0],
        "needs": providers.get(key, (key, "", None))[1],
        "detail": providers.get(key, (key, "", None))[2],
        "sandbox": key in sandboxed,
    } for key in registry.keys()]


def _keyset(model, param: str, anchor: str, *where):
    """One settings list, a page at a time in id order (its own cursor `param`)."""
    others = {p: request.args.get(p) for p in LIST_PARAMS if p != param}

    def fetch(cursor):
        query = select(model).where(*where).order_by(model.id).limit(PAGE_SIZE + 1)
        after = decode_cursor(cursor)
        if after is not None:
            query = query.where(model.id > after)
        return page(list(db.session.scalars(query)), PAGE_SIZE)

    rows, next_url, first_url = paged(fetch, ".index", param=param, anchor=anchor, **others)
    return {"rows": rows, "next_url": next_url, "first_url": first_url}


def _page(**context):
    user = current_user()
    admin = user.role == "admin"
    context.setdefault("errors", {})
    empty = {"rows": [], "next_url": None, "first_url": None}
    return render_template(
        "settings/index.html",
        channels=channel_status(),
        api_keys=_keyset(ApiKey, "keys_cursor", "#api-keys") if admin else empty,
        users=_keyset(User, "users_cursor", "#users") if admin else empty,
        # The endpoints the webhooks service lists: the active ones (a removed one keeps its log).
        webhooks=_keyset(WebhookEndpoint, "webhooks_cursor", "#webhooks", WebhookEndpoint.active.is_(True))
        if admin else empty,
        roles=ROLES, kinds=list(PREFIXES), **context,
    )


@bp.get("")
@login_required
def index():
    return _page()


@bp.post("/api-keys")
@role_required("admin")
def create_key():
    data, errors = load_form(ApiKeyCreateSchema(), request.form, ["name", "kind"])
    if data is None:
        return _page(key_errors=errors, key_values=request.form), 422
    issued = create_api_key(db.session, data["name"], data["kind"])
    record("api_key.created", "api_key", issued.key.id, name=data["name"], kind=data["kind"])
    db.session.commit()
    # Rendered, not redirected: the secret is never stored, not even in the session.
    return _page(new_secret=issued.secret, new_key=issued.key)


@bp.post("/api-keys/<int:key_id>/revoke")
@role_required("admin")
def revoke_key(key_id):
    key = revoke_api_key(db.session, key_id)
    record("api_key.revoked", "api_key", key.id, name=key.name)
    db.session.commit()
    flash(f"API key “{key.name}” is revoked; requests with it now get 401.", "success")
    return redirect(url_for(".index") + "#api-keys")


@bp.post("/users")
@role_required("admin")
def create_account():
    data, errors = load_form(UserCreateSchema(), request.form, ["email", "password", "role"])
    if data is not None:
        try:
            user = create_user(db.session, data["email"], data["password"], data["role"])
            record("user.created", "user", user.id, email=user.email, role=user.role)
            db.session.commit()
            flash(f"{user.email} can now sign in as {user.role}.", "success")
            return redirect(url_for(".index") + "#users")
        except ChorusError as error:
            db.session.rollback()
            errors = errors_of(error)
            if "form" in errors:  # a Conflict names no field: it is the email
                errors["email"] = errors.pop("form")
    values = {k: v for k, v in request.form.items() if k != "password"}
    return _page(user_errors=errors, user_values=values), 422


def _other_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(f"No user {user_id}.")
    return user


@bp.post("/users/<int:user_id>/role")
@role_required("admin")
def change_role(user_id):
    user = _other_user(user_id)
    if user.id == current_user().id:
        # So there is always an admin left: another admin can change yours.
        flash("You cannot change your own role; ask another admin.", "error")
        return redirect(url_for(".index") + "#users")
    data, errors = load_form(RoleSchema(), request.form, ["role"])
    if data is None:
        flash(f"Role: {' '.join(errors.get('role', ['not valid']))}", "error")
        return redirect(url_for(".index") + "#users")
    before = user.role
    if data["role"] != before:
        user.role = data["role"]
        record("user.role_changed", "user", user.id, email=user.email, before=before, after=user.role)
        db.session.commit()
        flash(f"{user.email} is now {user.role} (was {before}).", "success")
    return redirect(url_for(".index") + "#users")


@bp.post("/users/<int:user_id>/access")
@role_required("admin")
def toggle_access(user_id):
    user = _other_user(user_id)
    if user.id == current_user().id:
        flash("You cannot disable your own account.", "error")
        return redirect(url_for(".index") + "#users")
    enable = request.form.get("enable") == "1"
    user.disabled_at = None if enable else utcnow()
    record("user.enabled" if enable else "user.disabled", "user", user.id, email=user.email)
    db.session.commit()
    flash(f"{user.email} is {'enabled' if enable else 'disabled'}.", "success")
    return redirect(url_for(".index") + "#users")



@bp.post("/webhooks")
@role_required("admin")
def create_webhook():
    events = [part.strip() for part in request.form.get("event_types", "").split(",") if part.strip()]
    body = {"url": request.form.get("url", "").strip(), "event_types": events,
            "description": request.form.get("description", "").strip()}
    try:
        data = EndpointInSchema().load(body)
        endpoint = webhook_service.create_endpoint(
            db.session, allow_private=current_app.config["ALLOW_PRIVATE_WEBHOOK_URLS"], **data)
        record("webhook_endpoint.created", "webhook_endpoint", endpoint.id, url=endpoint.url,
               event_types=endpoint.event_types)
        db.session.commit()
    except (ValidationError, ChorusError) as error:
        db.session.rollback()
        return _page(webhook_errors=errors_of(error), webhook_values=request.form), 422
    # Like an API key, the signing secret is shown once and never stored in the session.
    return _page(new_webhook=endpoint)


@bp.post("/webhooks/<int:endpoint_id>/delete")
@role_required("admin")
def delete_webhook(endpoint_id):
    webhook_service.delete_endpoint(db.session, endpoint_id)
    record("webhook_endpoint.deleted", "webhook_endpoint", endpoint_id)
    db.session.commit()
    flash("The webhook endpoint is removed; its delivery log is kept.", "success")
    return redirect(url_for(".index") + "#webhooks")
