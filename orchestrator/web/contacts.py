"""Contacts: search, a profile with one timeline across channels, edits, and CSV import."""
from __future__ import annotations

import json

from flask import flash, redirect, render_template, request, url_for
from marshmallow import ValidationError
from sqlalchemy import select

from orchestrator.api.auth import actor
from orchestrator.db import db
from orchestrator.errors import ChorusError
from orchestrator.models import Event, Message
from orchestrator.schemas.contacts import ContactPatchSchema, ContactUpsertSchema, PreferencesSchema
from orchestrator.services import contacts as service
from orchestrator.services.csv_import import recent_imports
from orchestrator.services.preferences import read_preferences, write_preferences
from orchestrator.web.audit_trail import record
from orchestrator.web.auth import login_required, role_required
from orchestrator.web.forms import FieldErrors, errors_of, form_values
from orchestrator.web.pages import paged, ui_blueprint

bp = ui_blueprint("ui_contacts", __name__, url_prefix="/contacts")

PAGE_SIZE = 50
TIMELINE_SIZE = 100
CONTACT_FIELDS = ("external_id", "email", "phone", "locale", "timezone")


@bp.get("")
@login_required
def index():
    q = request.args.get("q", "").strip()[:255]
    search = {"phone": q} if q.startswith("+") else {"q": q} if q else {}
    rows, next_url, first_url = paged(
        lambda cursor: service.list_contacts(db.session, limit=PAGE_SIZE, cursor=cursor, **search), ".index", q=q)
    return render_template(
        "contacts/list.html", contacts=rows, q=q, next_url=next_url, first_url=first_url,
        imports=recent_imports(db.session, 3) if not rows and not q else [],
    )


def timeline(contact_id: int) -> list[dict]:
    """Events and messages of one person, newest first, as one list."""
    events = db.session.scalars(select(Event).where(Event.contact_id == contact_id)
                                .order_by(Event.occurred_at.desc()).limit(TIMELINE_SIZE))
    messages = db.session.scalars(select(Message).where(Message.contact_id == contact_id)
                                  .order_by(Message.created_at.desc()).limit(TIMELINE_SIZE))
    items = [{"kind": "event", "at": e.occurred_at, "event": e} for e in events]
    items += [{"kind": "message", "at": m.created_at, "message": m} for m in messages]
    return sorted(items, key=lambda item: item["at"], reverse=True)[:TIMELINE_SIZE]


@bp.get("/<external_id>")
@login_required
def profile(external_id):
    contact = service.get_contact(db.session, external_id)
    return render_template(
        "contacts/profile.html", contact=contact, preferences=read_preferences(db.session, contact),
        timeline=timeline(contact.id), errors={},
    )


def _contact_form_data(form) -> tuple[dict, FieldErrors]:
    data = form_values(form, CONTACT_FIELDS)
    raw = form.get("attributes", "").strip()
    if raw:
        try:
            data["attributes"] = json.loads(raw)
        except ValueError as exc:
            return data, {"attributes": [f"Not valid JSON: {exc.msg} (line {exc.lineno})."]}
    return data, {}


@bp.route("/new", methods=["GET", "POST"])
@role_required("editor")
def new():
    return _edit_form(None)


@bp.route("/<external_id>/edit", methods=["GET", "POST"])
@role_required("editor")
def edit(external_id):
    return _edit_form(service.get_contact(db.session, external_id))


def _edit_form(contact):
    errors: FieldErrors = {}
    if request.method == "POST":
        data, errors = _contact_form_data(request.form)
        if not errors:
            schema = ContactUpsertSchema() if contact is None else ContactPatchSchema()
            try:
                if contact is not None:
                    data.pop("external_id", None)
                    # A cleared input clears the field, as a PATCH with null does.
                    for name in CONTACT_FIELDS[1:]:
                        if name in request.form and not request.form[name].strip():
                            data[name] = None
                body = schema.load(data)
                external_id = contact.external_id if contact else body["external_id"]
                service.upsert_contacts(db.session, [{"external_id": external_id, **body}])
                record("contact.updated" if contact else "contact.created", "contact", external_id,
                       fields=sorted(body))
                db.session.commit()
                flash("Contact saved.", "success")
                return redirect(url_for(".profile", external_id=external_id))
            except ValidationError as error:
                errors = errors_of(error)
        db.session.rollback()
    values = dict(request.form) if request.method == "POST" else {
        **{name: getattr(contact, name) for name in CONTACT_FIELDS},
        "attributes": json.dumps(contact.attributes, indent=2, ensure_ascii=False),
    } if contact else {}
    return render_template("contacts/edit.html", contact=contact, values=values, errors=errors), \
        (422 if errors else 200)


@bp.post("/<external_id>/preferences")
@role_required("editor")
def preferences(external_id):
    contact = service.get_contact(db.session, external_id)
    current = read_preferences(db.session, contact)
    body = {
        "unsubscribed_all": request.form.get("unsubscribed_all") == "on",
        "channels": {key: request.form.get(f"channels.{key}") == "on" for key in current["channels"]},
        "topics": {key: request.form.get(f"topics.{key}") == "on" for key in current["topics"]},
    }
    try:
        write_preferences(db.session, contact, PreferencesSchema().load(body))
    except (ValidationError, ChorusError) as error:
        db.session.rollback()
        return render_template("contacts/profile.html", contact=contact, preferences=current,
                               timeline=timeline(contact.id), errors=errors_of(error)), 422
    record("contact.preferences_changed", "contact", external_id, **body)
    db.session.commit()
    flash("Preferences saved.", "success")
    return redirect(url_for(".profile", external_id=external_id))


@bp.post("/<external_id>/erase")
@role_required("admin")
def erase(external_id):
    service.erase_contact(db.session, external_id, actor=actor())
    db.session.commit()
    flash(f"{external_id} and their personal data were erased.", "success")
    return redirect(url_for(".index"))
