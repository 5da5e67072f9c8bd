"""Templates: an editor with a tab per channel, shared blocks, locales and sample data, a live
preview of all four channels for a chosen contact, version history and publishing.

The form is turned into the same content document the API accepts and loaded with the API's
schema; saving, publishing and previewing are the templates service's, so the rules (what
refuses a save, what refuses publishing) are never restated here.
"""
from __future__ import annotations

import json

from flask import flash, redirect, render_template, request, url_for
from marshmallow import ValidationError
from sqlalchemy import select

from orchestrator.api.auth import actor
from orchestrator.db import db
from orchestrator.errors import ChorusError
from orchestrator.models import Contact, Topic
from orchestrator.schemas.templates import TemplateBodySchema, TemplateCreateSchema
from orchestrator.services import templates as service
from orchestrator.web.auth import current_user, has_role, login_required, role_required
from orchestrator.web.forms import FieldErrors, errors_of
from orchestrator.web.pages import paged, ui_blueprint
from templates.content import CATEGORIES, CHANNELS

bp = ui_blueprint("ui_message_templates", __name__, url_prefix="/templates")

PAGE_SIZE = 50
# The fields the editor shows, per channel; others (push data, sound...) are kept as they are.
CHANNEL_FIELDS = {
    "sms": ("body",),
    "push": ("title", "body", "image_url", "deep_link", "priority", "ttl_seconds", "collapse_key"),
    "email": ("subject", "preheader", "html", "text", "from_name"),
    "inapp": ("title", "body", "image_url", "primary_action.label", "primary_action.url",
              "secondary_action.label", "secondary_action.url"),
}
OPTIONAL = {"image_url", "deep_link", "text", "from_name", "primary_action", "secondary_action",
            "priority", "ttl_seconds", "collapse_key"}
# Typed as numbers in the document; text that is not a whole number is left for the schema to refuse.
INTEGER_FIELDS = {"ttl_seconds"}
JSON_FIELDS = ("blocks", "variables", "locales", "sample_data")
CHANNEL_NAMES = {"sms": "SMS", "push": "Push", "email": "Email", "inapp": "In-app"}

STARTER = {
    "sms": {"body": "Hi {{ contact.first_name | default('there') }}, {{ data.offer | default('our spring sale is on') }}! {{ message.unsubscribe_url }}"},
    "push": {"title": "{{ data.offer | default('Spring sale') }}", "body": "Hi {{ contact.first_name | default('there') }}, take a look before it ends."},
    "email": {"subject": "{{ contact.first_name | default('Hi') }}, {{ data.offer | default('our spring sale is on') }}",
              "preheader": "A little something for you",
              "html": "<h1>Hi {{ contact.first_name | default('there') }}</h1>\n<p>{{ data.offer | default('Our spring sale is on') }}.</p>\n{{ blocks.footer }}"},
    "inapp": {"title": "{{ data.offer | default('Spring sale') }}", "body": "Hi {{ contact.first_name | default('there') }}, it is on now.",
              "primary_action": {"label": "Shop now", "url": "https://example.com/sale"}},
    "blocks": {"footer": "<p style=\"color:#888\">You get this because you signed up. <a href=\"{{ message.unsubscribe_url }}\">Unsubscribe</a></p>"},
    "sample_data": {"contact": {"first_name": "Ana", "locale": "en"}, "data": {"offer": "20% off everything"}},
}


# Form ⇄ content document ------------------------------------------------------------------

def _get(mapping: dict, path: str):
    for part in path.split("."):
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(part)
    return mapping


def _set(mapping: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    for part in parents:
        if not isinstance(mapping.get(part), dict):
            mapping[part] = {}
        mapping = mapping[part]
    mapping[last] = value


def form_from_document(document: dict) -> dict:
    """Field name → text, for filling the form from stored content."""
    values: dict = {}
    for channel, names in CHANNEL_FIELDS.items():
        content = document.get(channel)
        values[f"{channel}.enabled"] = content is not None
        for name in names:
            value = _get(content or {}, name)
            values[f"{channel}.{name}"] = "" if value is None else value
    for name in JSON_FIELDS:
        value = document.get(name)
        values[name] = json.dumps(value, indent=2, ensure_ascii=False) if value else ""
    return values


def document_from_form(form, base: dict | None = None) -> tuple[dict, FieldErrors]:
    """The content document the form describes, on top of `base` (what the form does not show
    is kept). JSON boxes that do not parse are reported at their field."""
    document = json.loads(json.dumps(base or {}))
    errors: FieldErrors = {}
    for channel, names in CHANNEL_FIELDS.items():
        if form.get(f"{channel}.enabled") != "on":
            document.pop(channel, None)
            continue
        content = document.get(channel) if isinstance(document.get(channel), dict) else {}
        for name in names:
            text = form.get(f"{channel}.{name}", "").replace("\r\n", "\n")
            top = name.split(".")[0]
            if text.strip() == "" and top in OPTIONAL:
                if "." in name:
                    _set(content, name, "")
                else:
                    content.pop(name, None)
            elif top in INTEGER_FIELDS and text.strip().isdigit():
                _set(content, name, int(text.strip()))
            else:
                _set(content, name, text)
        for action in ("primary_action", "secondary_action"):
            if action in content and not any((content[action] or {}).values()):
                content.pop(action)  # both label and url left blank: no button
        document[channel] = content
    for name in JSON_FIELDS:
        raw = form.get(name, "").strip()
        if not raw:
            document.pop(name, None)
            continue
        try:
            document[name] = json.loads(raw)
        except ValueError as exc:
            errors[name] = [f"Line {exc.lineno}: not valid JSON ({exc.msg})."]
    return document, errors


def issue_errors(issues: list[dict]) -> FieldErrors:
    """Service issues (`content.email.html`, line 3) as errors on the form's fields."""
    errors: FieldErrors = {}
    for issue in issues:
        field = issue.get("field", "form").removeprefix("content.")
        if field.split(".")[0] in JSON_FIELDS:
            field = field.split(".")[0]
        elif field.split(".")[0] in CHANNEL_FIELDS and field.split(".")[0] != field:
            channel, rest = field.split(".", 1)
            field = f"{channel}.{rest}" if rest in CHANNEL_FIELDS[channel] else channel
        where = f"Line {issue['line']}: " if issue.get("line") else ""
        locale = f" ({issue['locale']})" if issue.get("locale") else ""
        errors.setdefault(field, []).append(f"{where}{issue['message']}{locale}")
    return errors


def schema_errors(error: ValidationError) -> FieldErrors:
    return issue_errors([{"field": field, "message": message}
                         for field, messages in errors_of(error).items() for message in messages])


def load_body(document: dict) -> tuple[object | None, FieldErrors]:
    try:
        return TemplateBodySchema().load(document), {}
    except ValidationError as error:
        return None, schema_errors(error)


# Pages ------------------------------------------------------------------------------------

@bp.get("")
@login_required
def index():
    rows, next_url, first_url = paged(
        lambda cursor: service.list_templates(db.session, limit=PAGE_SIZE, cursor=cursor), ".index")
    return render_template("message_templates/list.html", templates=rows, next_url=next_url, first_url=first_url)


def _topics() -> list[str]:
    return list(db.session.scalars(select(Topic.key).order_by(Topic.key)))


def _editor(template=None, version=None, values=None, errors=None, status=200, issues=None):
    versions = service.list_versions(db.session, template.key, limit=30)[0] if template else []
    described = service.describe(db.session, template, version) if template else None
    return render_template(
        "message_templates/edit.html", template=template, described=described, versions=versions,
        values=values, errors=errors or {}, issues=issues or [], categories=CATEGORIES,
        topics=_topics(), channels=CHANNELS, channel_names=CHANNEL_NAMES,
        editable=has_role(current_user(), "editor"),
    ), status


@bp.route("/new", methods=["GET", "POST"])
@role_required("editor")
def new():
    if request.method == "GET":
        return _editor(values={"category": "marketing", **form_from_document(STARTER)})
    document, errors = document_from_form(request.form)
    meta = {k: request.form.get(k, "").strip() for k in ("key", "name", "category")}
    meta["topic"] = request.form.get("topic", "").strip() or None
    if not errors:
        try:
            body = TemplateCreateSchema().load({**meta, "content": document})
            template, version = service.create_template(db.session, actor=actor(), **body)
            db.session.commit()
            flash(f"Template “{template.name}” saved as version 1.", "success")
            return redirect(url_for(".edit", key=template.key))
        except ValidationError as error:
            errors = schema_errors(error)
        except ChorusError as error:
            db.session.rollback()
            errors = issue_errors(error.errors or [{"field": "key", "message": error.detail}])
    return _editor(values=dict(request.form), errors=errors, status=422)


@bp.get("/<key>")
@login_required
def edit(key):
    template = service.get_template(db.session, key)
    number = request.args.get("version", type=int)
    version = service.get_version(db.session, template, number)
    values = {"name": template.name, "category": template.category, "topic": template.topic or "",
              **form_from_document(service.content_body(version))}
    return _editor(template, version, values)


@bp.post("/<key>")
@role_required("editor")
def save(key):
    template = service.get_template(db.session, key)
    latest = service.get_version(db.session, template)
    document, errors = document_from_form(request.form, service.content_body(latest))
    content = None
    if not errors:
        content, errors = load_body(document)
    if not errors:
        try:
            template, version, added = service.update_template(
                db.session, key, name=request.form.get("name", "").strip() or None,
                category=request.form.get("category") or None,
                topic=request.form.get("topic", "").strip() or None, content=content, actor=actor())
            db.session.commit()
        except ChorusError as error:
            db.session.rollback()
            errors = issue_errors(error.errors or [{"field": "form", "message": error.detail}])
        else:
            flash(f"Saved as version {version.number}." if added else "No change to save.", "success")
            return redirect(url_for(".edit", key=key))
    return _editor(template, latest, dict(request.form), errors, 422)


@bp.post("/<key>/publish")
@role_required("editor")
def publish(key):
    number = request.form.get("version", type=int)
    try:
        template, version = service.publish(db.session, key, number, actor=actor())
        db.session.commit()
    except ChorusError as error:
        db.session.rollback()
        template = service.get_template(db.session, key)
        version = service.get_version(db.session, template, number)
        values = {"name": template.name, "category": template.category, "topic": template.topic or "",
                  **form_from_document(service.content_body(version))}
        return _editor(template, version, values, issue_errors(error.errors or []), 422,
                       issues=error.errors or [{"field": "form", "message": error.detail}])
    flash(f"Version {version.number} is published: sends now use it.", "success")
    return redirect(url_for(".edit", key=key))


@bp.post("/preview")
@login_required
def preview():
    """The preview panel for the form as it is now (saved or not), for a chosen contact."""
    key = request.form.get("template_key") or None
    base = None
    if key:
        template = service.get_template(db.session, key)
        base = service.content_body(service.get_version(db.session, template))
    document, errors = document_from_form(request.form, base)
    content = None
    if not errors:
        content, errors = load_body(document)
    chosen = request.form.get("preview_contact", "").strip()
    locale = request.form.get("preview_locale", "").strip() or None
    person = None
    if chosen:
        person = db.session.scalar(select(Contact).where(Contact.external_id == chosen))
        if person is None:
            errors = {**errors, "preview_contact": [f"No contact {chosen!r}; showing the sample contact."]}
    result, issues = None, []
    if content is not None:
        contact = person if person is not None else content.sample_data.contact
        try:
            result = service.preview_content(content, None, contact, content.sample_data.data,
                                             locale=locale)
        except ChorusError as error:
            issues = error.errors or [{"field": "form", "message": error.detail}]
    return render_template("message_templates/_preview.html", result=result, issues=issues,
                           errors=errors, person=person, channel_names=CHANNEL_NAMES,
                           channels=[c for c in CHANNELS])
