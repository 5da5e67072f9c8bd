"""Template service: versions, the send-time loaders, the render context and its cache."""
from __future__ import annotations

import dataclasses
import uuid

import pytest
from sqlalchemy import func, select

from orchestrator.db import db
from orchestrator.errors import InvalidInput, NotFound
from orchestrator.models import Contact, TemplateVersion
from orchestrator.services import templates as service
from templates.errors import TemplateError
from templates.schemas import TemplateContentSchema


def content(**raw):
    raw.setdefault("sms", {"body": "Hi {{ contact.first_name }} {{ data.code }}"})
    raw.setdefault("sample_data", {"contact": {"first_name": "Ana"}, "data": {"code": "1"}})
    return TemplateContentSchema().load(raw)


def save(key="otp", **raw):
    template, version = service.create_template(
        db.session, key=key, name=key, category="transactional", topic=None, content=content(**raw))
    db.session.commit()
    return template, version


def test_merge_patch_follows_rfc_7396():
    target = {"a": {"b": 1, "c": 2}, "d": [1, 2], "e": "x"}
    assert service.merge_patch(target, {"a": {"b": None, "z": 3}, "d": [3], "e": None}) == {
        "a": {"c": 2, "z": 3}, "d": [3]}
    assert target["a"] == {"b": 1, "c": 2}, "the target is not mutated"


def test_content_hash_ignores_key_order_and_round_trips():
    document = service.dump_content(content(blocks={"a": "1", "b": "2"}))
    reordered = dict(reversed(list(document.items())))
    assert service.content_hash(document) == service.content_hash(reordered)
    assert service.load_content(document) == content(blocks={"a": "1", "b": "2"})


def test_contact_scope_from_row_and_dict():
    row = Contact(external_id="c1", email="a@example.com", phone=None, locale="pt-BR",
                  timezone="Europe/Lisbon", attributes={"first_name": "Ana", "email": "spoof"})
    scope = service.contact_scope(row)
    assert scope["first_name"] == "Ana" and scope["email"] == "a@example.com", "attributes never hide fields"
    assert "phone" not in scope, "a missing field is undefined, not None"
    assert scope["attributes"] == {"first_name": "Ana", "email": "spoof"}
    loose = service.contact_scope({"first_name": "Bo", "locale": "pt", "attributes": {"plan": "pro"}})
    assert loose == {"first_name": "Bo", "plan": "pro", "locale": "pt",
                     "attributes": {"first_name": "Bo", "plan": "pro"}}
    assert service.contact_scope(loose) == loose, "shaping is idempotent"


def test_render_for_contact_uses_attributes_locale_and_caches_per_version(app):
    # A variable unique to this run: the renderer is process-wide and keyed by (id, hash).
    save(variables={"run": uuid.uuid4().hex},
         locales={"pt": {"sms": {"body": "Oi {{ contact.first_name }} {{ event.code }}"}}})
    row, loaded = service.load_for_send(db.session, "otp", version=1)
    person = Contact(external_id="c1", locale="pt-BR", attributes={"first_name": "Joana"})
    cache = service.renderer().cache
    before = len(cache)
    rendered = service.render_for_contact(loaded, row.cache_key, person, {"code": "42"}, None)
    assert rendered["sms"].text == "Oi Joana 42"
    assert len(cache) == before + 1
    service.render_for_contact(loaded, row.cache_key, person, {"code": "43"}, "en")
    assert len(cache) == before + 2, "one compile per (version, locale override, field)"
    again = service.render_for_contact(loaded, row.cache_key, person, {"code": "44"}, "pt")
    assert again["sms"].text == "Oi Joana 44" and len(cache) == before + 2
    assert service.locale_used(loaded, "pt-BR") == "pt" and service.locale_used(loaded, "fr") is None


def test_a_reused_version_id_never_serves_stale_compiled_templates(app):
    save(sms={"body": "first {{ data.code }}"})
    row, loaded = service.load_for_send(db.session, "otp", 1)
    first = service.render_for_contact(loaded, row.cache_key, {}, {"code": 1}, None)["sms"].text
    # Same id, different content (what a wiped SQLite database hands out again).
    twin = TemplateVersion(id=row.id, template_id=row.template_id, number=1,
                           content=service.dump_content(content(sms={"body": "second {{ data.code }}"})),
                           content_hash="other")
    second = service.render_for_contact(service.version_content(twin), twin.cache_key, {}, {"code": 1}, None)
    assert (first, second["sms"].text) == ("first 1", "second 1")


def test_load_for_send_returns_the_published_or_pinned_version(app):
    save()
    with pytest.raises(service.TemplateNotPublished):
        service.load_for_send(db.session, "otp")
    template, _, created = service.update_template(db.session, "otp", content=content(sms={"body": "v2"}))
    assert created
    service.publish(db.session, "otp", 1)
    db.session.commit()
    row, loaded = service.load_for_send(db.session, "otp")
    assert row.number == 1 and loaded.category == "transactional"
    assert service.load_for_send(db.session, "otp", 2)[1].sms.body == "v2"
    assert service.load_version(db.session, row.id)[0].number == 1
    with pytest.raises(NotFound):
        service.load_for_send(db.session, "missing")
    with pytest.raises(NotFound):
        service.load_version(db.session, 10**9)


def test_category_or_topic_change_is_a_new_version_and_the_row_mirrors_it(app):
    save()
    template, version, created = service.update_template(db.session, "otp", category="marketing")
    assert created and version.number == 2 and template.category == "marketing"
    assert service.version_content(version).category == "marketing"
    _, _, created = service.update_template(db.session, "otp", category="marketing", name="OTP")
    assert not created
    db.session.commit()
    assert db.session.scalar(select(func.count(TemplateVersion.id))) == 2


def test_refused_save_writes_nothing(app):
    with pytest.raises(InvalidInput) as refused:
        save(sms={"body": "{{ data.code | nope }}"})
    assert refused.value.errors[0]["field"] == "content.sms.body"
    db.session.rollback()
    assert db.session.scalar(select(func.count(TemplateVersion.id))) == 0


def test_render_errors_in_a_fallback_locale_point_at_the_source_that_failed(app):
    broken = content(email={"subject": "S", "html": "<p>{{ 1 / 0 }}</p>"},
                     locales={"pt": {"email": {"subject": "Assunto"}}})
    with pytest.raises(TemplateError) as error:
        service.render_for_contact(broken, None, {}, {}, "pt-BR", ["email"])
    assert service.issue_document(broken, error.value, "pt-BR")["field"] == "content.email.html"
    with pytest.raises(InvalidInput) as refused:
        service.preview_content(broken, None, {}, {}, locale="pt-BR")
    assert refused.value.errors[0] | {"message": ""} == {
        "field": "content.email.html", "channel": "email", "line": 1, "message": "",
        "code": "render_failed", "locale": "pt-BR"}


def test_preview_content_of_unsaved_content_and_missing_channels():
    draft = dataclasses.replace(content(), push=None)
    shown = service.preview_content(draft, None, {"first_name": "Ana"}, {"code": "9"})
    assert shown["channels"]["sms"]["text"] == "Hi Ana 9" and shown["locale_used"] is None
    with pytest.raises(InvalidInput) as refused:
        service.preview_content(draft, None, {}, {}, channels=["push"])
    assert refused.value.errors[0]["field"] == "channels"


def test_a_send_reads_only_the_published_versions_reference_once_its_content_is_parsed(app):
    save(sms={"body": f"v1 {uuid.uuid4().hex} {{{{ data.code }}}}"})
    service.publish(db.session, "otp", 1)
    db.session.commit()
    first, loaded = service.load_for_send(db.session, "otp")
    again, cached = service.load_for_send(db.session, "otp")
    assert isinstance(again, service.VersionRef) and cached is loaded
    assert (again.id, again.number, again.cache_key) == (first.id, 1, first.cache_key)

    service.update_template(db.session, "otp", content=content(sms={"body": "v2 {{ data.code }}"}))
    service.publish(db.session, "otp", 2)
    db.session.commit()
    newer, content_now = service.load_for_send(db.session, "otp")
    assert newer.number == 2 and content_now.sms.body == "v2 {{ data.code }}"
