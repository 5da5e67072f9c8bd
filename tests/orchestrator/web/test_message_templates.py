"""The template editor: form ⇄ content, errors at their line, four-channel preview, publish."""
from __future__ import annotations

import re

from sqlalchemy import select

from orchestrator.db import db
from orchestrator.models import AuditEntry, Template
from orchestrator.services.contacts import upsert_contacts
from orchestrator.web.message_templates import STARTER, document_from_form, form_from_document


def starter_form(**changes):
    form = {k: ("on" if v else "") if isinstance(v, bool) else v for k, v in form_from_document(STARTER).items()}
    form.update({"key": "spring", "name": "Spring sale", "category": "marketing"}, **changes)
    return form


def test_form_round_trips_the_document_and_keeps_what_it_does_not_show():
    document, errors = document_from_form(starter_form())
    assert errors == {} and document["inapp"]["primary_action"] == STARTER["inapp"]["primary_action"]
    assert document["sample_data"] == STARTER["sample_data"]
    base = {"push": {"title": "t", "body": "b", "data": {"order": "1"}, "sound": "ping"}}
    form = {"push.enabled": "on", "push.title": "New", "push.body": "b", "push.image_url": ""}
    document, _ = document_from_form(form, base)
    assert document == {"push": {"title": "New", "body": "b", "data": {"order": "1"}, "sound": "ping"}}
    assert "sms" not in document_from_form({"sms.body": "unticked"})[0]
    assert document_from_form({"locales": "{broken"})[1]["locales"][0].startswith("Line 1:")


def test_push_delivery_options_from_the_form(as_role):
    form = {"push.enabled": "on", "push.title": "Digest", "push.body": "b", "push.priority": "normal",
            "push.ttl_seconds": " 3600 ", "push.collapse_key": "digest"}
    document, errors = document_from_form(form)
    assert errors == {}
    assert document["push"] == {"title": "Digest", "body": "b", "priority": "normal", "ttl_seconds": 3600,
                                "collapse_key": "digest"}
    assert form_from_document(document)["push.ttl_seconds"] == 3600
    cleared, _ = document_from_form({**form, "push.priority": "", "push.ttl_seconds": "", "push.collapse_key": ""})
    assert cleared["push"] == {"title": "Digest", "body": "b"}

    editor = as_role("editor")
    editor.post("/templates/new", starter_form())
    response = editor.post("/templates/spring", starter_form(**{"push.ttl_seconds": "soon"}))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(r'id="push-ttl_seconds-error">[^<]*integer', page, re.IGNORECASE), "the error sits at the field"
    saved = editor.post("/templates/spring", starter_form(**{"push.priority": "normal", "push.ttl_seconds": "600"}))
    assert saved.status_code == 302
    page = editor.get("/templates/spring").get_data(as_text=True)
    assert re.search(r'<option value="normal" selected>', page) and 'value="600"' in page


def test_create_preview_and_publish(as_role, users):
    editor = as_role("editor")
    editor.get("/templates/new")
    response = editor.post("/templates/new", starter_form())
    assert response.status_code == 302 and response.location == "/templates/spring"
    upsert_contacts(db.session, [{"external_id": "bea", "attributes": {"first_name": "Bea"}, "locale": "en"}])
    db.session.commit()
    preview = editor.post("/templates/preview", starter_form(template_key="spring", preview_contact="bea"))
    page = preview.get_data(as_text=True)
    for marker in ("sms-bubble", "push-card", "email-frame", "inapp-card"):
        assert marker in page
    assert "Hi Bea" in page and "For <strong>bea</strong>" in page
    assert editor.post("/templates/spring/publish", {"version": "1"}).status_code == 302
    template = db.session.scalar(select(Template).where(Template.key == "spring"))
    assert template.published_version_id is not None
    audit = set(db.session.scalars(select(AuditEntry.action).where(AuditEntry.user_id == users["editor"].id)))
    assert {"template.created", "template.published"} <= audit


def test_a_syntax_error_is_shown_at_its_field_and_line_and_saves_nothing(as_role):
    editor = as_role("editor")
    editor.post("/templates/new", starter_form())
    response = editor.post("/templates/spring", starter_form(**{"email.html": "<p>ok</p>\n<p>{{ oops </p>"}))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    error = re.search(r'id="email-html-error">([^<]+)<', page).group(1)
    assert error.startswith("Line 2:")
    assert "v1" in page and "v2" not in page


def test_preview_lists_render_problems_and_unknown_contacts(as_role):
    editor = as_role("editor")
    page = editor.post("/templates/preview", starter_form(**{"sms.body": "{{ 1 / 0 }}"}, preview_contact="ghost"))
    text = page.get_data(as_text=True)
    assert "No contact &#39;ghost&#39;" in text and 'class="issues"' in text


def test_viewers_read_templates_but_cannot_change_them(as_role):
    as_role("editor").post("/templates/new", starter_form())
    viewer = as_role("viewer")
    page = viewer.get("/templates/spring").get_data(as_text=True)
    assert "<fieldset disabled" in page and "Publish v1" not in page
    assert viewer.post("/templates/spring/publish", {"version": "1"}).status_code == 403
    assert viewer.post("/templates/spring", starter_form()).status_code == 403
    assert "sms-bubble" in viewer.post("/templates/preview", starter_form()).get_data(as_text=True)
