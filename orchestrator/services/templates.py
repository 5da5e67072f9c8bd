"""Templates: save (every content change is a new immutable version), publish, preview, and
the rendering entry points the delivery pipeline calls.

Validation splits in two. What can never work — a syntax error, an unknown filter, a static
action URL that is not a URL — refuses the save. What depends on data — a render failure for
the sample data, a missing email subject, an SMS too long — is kept in the version's report
and refuses publishing; warnings (variables missing from the sample data) never block.

What a template sees when it renders (`render_for_contact`):

* ``contact``: external_id, email, phone, locale, timezone and ``attributes``; each attribute
  is also at the top level (``{{ contact.first_name }}``) unless it would hide one of the
  named fields. Fields the contact lacks are undefined (render empty), never ``None``.
* ``data`` and its alias ``event``: the trigger's payload (event properties or API data).
* ``message``: links of this message — ``unsubscribe_url``, ``preferences_url``, ``view_url``.
* ``blocks``, ``variables``, ``locale``: from the template itself.

The contact's event history is not in scope; a trigger passes what it needs in ``data``.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Hashable, Mapping
from functools import cache
from typing import Any, Iterable, NamedTuple

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from orchestrator.db import driver_rows
from orchestrator.errors import Conflict, InvalidInput, NotFound
from orchestrator.models import AuditEntry, Contact, Template, TemplateVersion, Topic, utcnow
from orchestrator.services.pagination import decode_cursor, page
from templates.content import CHANNELS, SampleData, TemplateContent
from templates.email_html import LinkWrapper
from templates.errors import TemplateError
from templates.limits import RenderLimits
from templates.rendered import Rendered
from templates.rendering import SAMPLE_MESSAGE, Renderer, TemplateCache
from templates.schemas import TemplateContentSchema
from templates.validation import TemplateIssue, validate

CONTACT_FIELDS = ("external_id", "email", "phone", "locale", "timezone")
# Issues no data can fix: the version could never render, so it is not saved at all.
SAVE_BLOCKING = frozenset({"syntax", "unknown_filter", "unknown_test", "unsupported_tag", "invalid_url"})

_schema = TemplateContentSchema()
# Parsed content per version (immutable), so a send does not re-load the JSON every batch and
# the content's memoized locale resolution is reused.
_contents = TemplateCache(256)


class TemplateNotPublished(Conflict):
    """A send asked for the published version of a template that has none."""


# Saving, publishing and previewing judge a template once, on a busy web process: a verdict
# must not flip because the process was descheduled. A runaway loop still stops.
CHECK_LIMITS = RenderLimits(deadline_seconds=1.0)


@cache
def renderer() -> Renderer:
    """The process-wide renderer: its compiled-template cache is shared by every send."""
    return Renderer()


@cache
def checking_renderer() -> Renderer:
    """Renders previews under CHECK_LIMITS; its own cache, so sends keep theirs warm."""
    return Renderer(CHECK_LIMITS, cache_size=256)


# Content ------------------------------------------------------------------------------------

def dump_content(content: TemplateContent) -> dict:
    return _schema.dump(content)


def load_content(document: Mapping) -> TemplateContent:
    return _schema.load(document)


def content_hash(document: Mapping) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def version_content(version: TemplateVersion) -> TemplateContent:
    content = _contents.get(version.cache_key)
    if content is None:
        content = load_content(version.content)
        _contents.put(version.cache_key, content)
    return content


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch: objects merge key by key, ``null`` removes, anything else replaces."""
    if not isinstance(patch, Mapping):
        return patch
    merged = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


# Issues as problem-document entries ---------------------------------------------------------

def field_path(content: TemplateContent, channel: str | None, field: str | None, locale: str | None) -> str:
    """``content.email.html``, or ``content.locales.pt.sms.body`` when the failing source is
    the pt override (a pt-BR render can fail in a field the default content supplies)."""
    origin = locale if locale in content.locales else None
    if locale is not None and field and channel in (*CHANNELS, "blocks"):
        resolved = content.resolve(channel, locale).get(field)
        if resolved is not None:
            origin = resolved.origin
    parts = ["content"]
    if origin is not None:
        parts += ["locales", origin]
    if channel and channel != "template":
        parts.append(channel)
    if field:
        parts.append(field)
    return ".".join(parts)


def issue_document(content: TemplateContent, issue: TemplateIssue | TemplateError,
                   locale: str | None = None) -> dict:
    channel = issue.channel if issue.channel != "template" else None
    locale = getattr(issue, "locale", locale)
    return {
        "field": field_path(content, issue.channel, issue.field, locale),
        "channel": channel,
        "line": issue.line,
        "message": issue.message,
        "code": issue.code,
        "locale": locale,
    }


def check(content: TemplateContent) -> tuple[list[dict], dict]:
    """(issues that refuse the save, the report kept on the version)."""
    report = validate(content, limits=CHECK_LIMITS)
    blocking = [issue_document(content, i) for i in report.errors if i.code in SAVE_BLOCKING]
    return blocking, {
        "errors": [issue_document(content, i) for i in report.errors if i.code not in SAVE_BLOCKING],
        "warnings": [issue_document(content, i) for i in report.warnings],
    }


def refuse(detail: str, errors: list[dict]) -> InvalidInput:
    return InvalidInput(detail + " " + "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3]), errors)


# Reading ------------------------------------------------------------------------------------

def get_template(session: Session, key: str, *, for_update: bool = False) -> Template:
    query = select(Template).where(Template.key == key, Template.archived_at.is_(None))
    if for_update:
        query = query.with_for_update()
    template = session.scalar(query)
    if template is None:
        raise NotFound(f"No template {key!r}.")
    return template


def get_version(session: Session, template: Template, number: int | None = None) -> TemplateVersion:
    query = select(TemplateVersion).where(TemplateVersion.template_id == template.id)
    if number is None:
        query = query.order_by(TemplateVersion.number.desc()).limit(1)
    else:
        query = query.where(TemplateVersion.number == number)
    version = session.scalar(query)
    if version is None:
        raise NotFound(f"Template {template.key!r} has no version {number}.")
    return version


def version_numbers(session: Session, template_ids: list[int]) -> dict[int, tuple[int | None, int | None]]:
    """Template id → (latest version number, published version number)."""
    latest = dict(session.execute(
        select(TemplateVersion.template_id, func.max(TemplateVersion.number))
        .where(TemplateVersion.template_id.in_(template_ids)).group_by(TemplateVersion.template_id)
    ).all())
    published = dict(session.execute(
        select(Template.id, TemplateVersion.number)
        .join(TemplateVersion, TemplateVersion.id == Template.published_version_id)
        .where(Template.id.in_(template_ids))
    ).all())
    return {i: (latest.get(i), published.get(i)) for i in template_ids}


def summary(template: Template, numbers: tuple[int | None, int | None]) -> dict:
    return {
        "key": template.key, "name": template.name, "category": template.category,
        "topic": template.topic, "latest_version": numbers[0], "published_version": numbers[1],
        "created_at": template.created_at, "updated_at": template.updated_at,
    }


def content_body(version: TemplateVersion) -> dict:
    """The stored content without category and topic, which the API shows beside it."""
    return {k: v for k, v in version.content.items() if k not in ("category", "topic")}


def describe(session: Session, template: Template, version: TemplateVersion) -> dict:
    """The template with one version's content and what validation said about it."""
    report = version.report or {}
    return {
        **summary(template, version_numbers(session, [template.id])[template.id]),
        "version": version.number,
        "content": content_body(version),
        "warnings": report.get("warnings", []),
        "publish_errors": report.get("errors", []),
        "publishable": not report.get("errors"),
    }


def list_templates(session: Session, *, limit: int, cursor: str | None = None,
                   category: str | None = None) -> tuple[list[dict], str | None]:
    query = (select(Template).where(Template.archived_at.is_(None))
             .order_by(Template.id).limit(limit + 1))
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(Template.id > after)
    if category:
        query = query.where(Template.category == category)
    rows, next_cursor = page(list(session.scalars(query)), limit)
    numbers = version_numbers(session, [t.id for t in rows])
    return [summary(t, numbers[t.id]) for t in rows], next_cursor


def list_versions(session: Session, key: str, *, limit: int,
                  cursor: str | None = None) -> tuple[list[dict], str | None]:
    """Newest first."""
    template = get_template(session, key)
    query = (select(TemplateVersion).where(TemplateVersion.template_id == template.id)
             .order_by(TemplateVersion.id.desc()).limit(limit + 1))
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(TemplateVersion.id < after)
    rows, next_cursor = page(list(session.scalars(query)), limit)
    return [{
        "number": v.number, "created_at": v.created_at, "hash": v.content_hash,
        "published": v.id == template.published_version_id,
        "publishable": not (v.report or {}).get("errors"),
        "warnings": len((v.report or {}).get("warnings", [])),
    } for v in rows], next_cursor


# Writing ------------------------------------------------------------------------------------

def _check_topic(session: Session, topic: str | None) -> None:
    if topic is not None and session.scalar(select(Topic.id).where(Topic.key == topic)) is None:
        raise InvalidInput.field("topic", f"No topic {topic!r}; create it first (POST /v1/topics).")


def _audit(session: Session, action: str, template: Template, actor: dict | None, **details) -> None:
    session.add(AuditEntry(action=action, target_type="template", target_id=str(template.id),
                           details={"key": template.key, **details}, **(actor or {})))


def checked_report(content: TemplateContent) -> dict:
    """The report to keep on a new version; raises when the content cannot be saved."""
    blocking, report = check(content)
    if blocking:
        raise refuse("The template has errors.", blocking)
    return report


def _add_version(session: Session, template: Template, content: TemplateContent, number: int,
                 report: dict, actor: dict | None) -> TemplateVersion:
    document = dump_content(content)
    actor = actor or {}
    version = TemplateVersion(
        template_id=template.id, number=number, content=document, content_hash=content_hash(document),
        report=report, created_by_api_key_id=actor.get("api_key_id"),
        created_by_user_id=actor.get("user_id"),
    )
    session.add(version)
    template.category, template.topic = content.category, content.topic
    template.updated_at = utcnow()
    return version


def _flush(session: Session, what: str) -> None:
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(what) from None


def create_template(session: Session, *, key: str, name: str, category: str, topic: str | None,
                    content: TemplateContent, actor: dict | None = None) -> tuple[Template, TemplateVersion]:
    """A new template and its version 1. The caller commits."""
    content = dataclasses.replace(content, category=category, topic=topic)
    _check_topic(session, topic)
    report = checked_report(content)
    if session.scalar(select(Template.id).where(Template.key == key)) is not None:
        raise Conflict(f"A template with key {key!r} exists already.")
    template = Template(key=key, name=name, category=category, topic=topic)
    session.add(template)
    _flush(session, f"A template with key {key!r} exists already.")
    version = _add_version(session, template, content, 1, report, actor)
    _flush(session, f"A template with key {key!r} exists already.")
    _audit(session, "template.created", template, actor, version=1)
    return template, version


_UNCHANGED: Any = object()


def update_template(session: Session, key: str, *, name: str | None = None, category: str | None = None,
                    topic: str | None = _UNCHANGED, content: TemplateContent | None = None,
                    actor: dict | None = None) -> tuple[Template, TemplateVersion, bool]:
    """Rename, and/or save new content as the next version. Content identical to the latest
    version adds nothing. Returns (template, latest version, whether a version was added)."""
    template = get_template(session, key, for_update=True)
    latest = get_version(session, template)
    base = content if content is not None else version_content(latest)
    current = version_content(latest)
    merged = dataclasses.replace(
        base,
        category=category or current.category,
        topic=current.topic if topic is _UNCHANGED else topic,
    )
    if merged.topic != current.topic:
        _check_topic(session, merged.topic)
    changed = content_hash(dump_content(merged)) != latest.content_hash
    report = checked_report(merged) if changed else None
    if name is not None and name != template.name:
        template.name = name
        template.updated_at = utcnow()
    if not changed:
        return template, latest, False
    version = _add_version(session, template, merged, latest.number + 1, report, actor)
    _flush(session, f"Template {key!r} changed at the same time; reload it and try again.")
    _audit(session, "template.version_created", template, actor, version=version.number)
    return template, version, True


def publish(session: Session, key: str, number: int | None = None,
            actor: dict | None = None) -> tuple[Template, TemplateVersion]:
    """Make a version (default: the latest) the one sends use. It must render for its sample
    data on every channel, in the default content and in every locale."""
    template = get_template(session, key, for_update=True)
    version = get_version(session, template, number)
    content = version_content(version)
    report = validate(content, limits=CHECK_LIMITS)
    if report.errors:
        raise refuse(f"Version {version.number} of {key!r} cannot be published.",
                     [issue_document(content, issue) for issue in report.errors])
    if template.published_version_id != version.id:
        template.published_version_id = version.id
        template.updated_at = utcnow()
        _audit(session, "template.published", template, actor, version=version.number)
    return template, version


# Sending ------------------------------------------------------------------------------------

class VersionRef(NamedTuple):
    """A published version whose content this process has parsed already: what a send needs
    of it without loading the row (versions do not change once saved)."""
    id: int
    template_id: int
    number: int
    content_hash: str

    @property
    def cache_key(self) -> tuple[int, str]:
        return (self.id, self.content_hash)


def load_for_send(session: Session, key: str,
                  version: int | None = None) -> tuple[TemplateVersion | VersionRef, TemplateContent]:
    """The published version of ``key`` — or version number ``version`` when a campaign pinned one."""
    if version is None:  # the hot path of every API send: one small query for the published version
        if session.get_bind().dialect.name == "postgresql":
            found = driver_rows(session, PUBLISHED_SQL, {"key": key})
            ref = found[0] if found else None
        else:
            ref = session.execute(_published(), {"key": key}).first()
        if ref is not None:
            ref = VersionRef(*ref)
            content = _contents.get(ref.cache_key)
            if content is not None:
                return ref, content
            row = session.get(TemplateVersion, ref.id)
            return row, version_content(row)
    template = session.scalar(select(Template).where(Template.key == key))
    if template is None:
        raise NotFound(f"No template {key!r}.")
    if version is not None:
        row = get_version(session, template, version)
    elif template.published_version_id is None:
        raise TemplateNotPublished(f"Template {key!r} has no published version.")
    else:
        row = session.get(TemplateVersion, template.published_version_id)
    return row, version_content(row)


PUBLISHED_SQL = ("SELECT v.id, v.template_id, v.number, v.content_hash FROM template_versions AS v "
                 "JOIN templates AS t ON t.published_version_id = v.id WHERE t.key = %(key)s")


@cache
def _published():
    versions, templates = TemplateVersion.__table__.c, Template.__table__.c
    return (select(versions.id, versions.template_id, versions.number, versions.content_hash)
            .join_from(TemplateVersion.__table__, Template.__table__, templates.published_version_id == versions.id)
            .where(templates.key == bindparam("key")))


def load_version(session: Session, version_id: int) -> tuple[TemplateVersion, TemplateContent]:
    """A version by id (what a message row or a pinned campaign stores)."""
    row = session.get(TemplateVersion, version_id)
    if row is None:
        raise NotFound(f"No template version {version_id}.")
    return row, version_content(row)


def contact_scope(contact: Any) -> dict:
    """The ``contact`` a template sees, from a Contact row or a dict (inline or sample data:
    loose keys there are attributes, as sample data writes ``{"first_name": "Ana"}``)."""
    if contact is None:
        contact = {}
    if isinstance(contact, Mapping):
        loose = dict(contact)
        attributes = loose.pop("attributes", None)
        fields = {name: loose.pop(name, None) for name in CONTACT_FIELDS}
        attributes = {**loose, **(attributes if isinstance(attributes, Mapping) else {})}
    else:
        fields = {name: getattr(contact, name, None) for name in CONTACT_FIELDS}
        attributes = dict(contact.attributes or {})
    scope = {k: v for k, v in attributes.items() if k not in CONTACT_FIELDS}
    scope.update((k, v) for k, v in fields.items() if v is not None)
    scope["attributes"] = attributes
    return scope


def render_for_contact(content: TemplateContent, version_id: Hashable | None, contact: Any,
                       data: Mapping | None, locale: str | None, channels: Iterable[str] | None = None,
                       link_wrapper: LinkWrapper | None = None, open_pixel_url: str | None = None,
                       message: Mapping | None = None, using: Renderer | None = None) -> dict[str, Rendered]:
    """Render ``channels`` (default: all the template has) for one recipient.

    ``version_id`` keys the compiled-template cache: pass ``version.cache_key``. ``locale``
    defaults to the contact's; ``using`` defaults to the process-wide ``renderer()``.
    Raises ``templates.errors.TemplateError`` (with channel, field, line).
    """
    scope = contact_scope(contact)
    locale = locale or scope.get("locale")
    return {
        channel: (using or renderer()).render(
            content, channel, locale=locale, contact=scope, data=data or {}, message=message or {},
            cache_key=version_id, link_wrapper=link_wrapper, open_pixel_url=open_pixel_url,
        )
        for channel in (channels or content.channels)
    }


def locale_used(content: TemplateContent, locale: str | None) -> str | None:
    """The most specific override applied to ``locale`` after fallback; None: the default."""
    overrides = content.overrides_for(locale)
    return overrides[0][0] if overrides else None


# Preview ------------------------------------------------------------------------------------

def preview(session: Session, key: str, *, version: int | None = None, external_id: str | None = None,
            contact: Mapping | None = None, data: Mapping | None = None, locale: str | None = None,
            channels: list[str] | None = None) -> dict:
    """Render a stored version for a stored contact (``external_id``), an inline contact, or the
    template's sample contact; ``data`` defaults to the sample data."""
    template = get_template(session, key)
    row = get_version(session, template, version)
    content = version_content(row)
    if external_id is not None:
        person = session.scalar(select(Contact).where(Contact.external_id == external_id))
        if person is None:
            raise InvalidInput.field("external_id", f"No contact with external_id {external_id!r}.")
    else:
        person = contact if contact is not None else content.sample_data.contact
    payload = data if data is not None else content.sample_data.data
    return {"version": row.number,
            **preview_content(content, row.cache_key, person, payload, locale=locale, channels=channels)}


def preview_content(content: TemplateContent, cache_key: Hashable | None, contact: Any, data: Mapping,
                    *, locale: str | None = None, channels: list[str] | None = None) -> dict:
    """Preview any content, saved or not (the editor previews before saving)."""
    missing = [c for c in channels or () if getattr(content, c) is None]
    if missing:
        raise InvalidInput.field("channels", f"The template has no {', '.join(missing)} content.")
    channels = [c for c in CHANNELS if c in (channels or content.channels)]
    scope = contact_scope(contact)
    locale = locale or scope.get("locale")
    try:
        rendered = render_for_contact(content, cache_key, scope, data, locale, channels,
                                      message=SAMPLE_MESSAGE, using=checking_renderer())
    except TemplateError as error:
        raise refuse("The template does not render for this data.",
                     [issue_document(content, error, locale)]) from None
    used = locale_used(content, locale)
    return {
        "locale": locale,
        "locale_used": used,
        "channels": {channel: dataclasses.asdict(result) for channel, result in rendered.items()},
        "warnings": _preview_warnings(content, scope, data, locale, channels),
    }


def _preview_warnings(content: TemplateContent, scope: dict, data: Mapping, locale: str | None,
                      channels: list[str]) -> list[dict]:
    """Validation's warnings for this contact and data: the default pass renders in the preview
    locale; the per-locale passes are other locales' business and are left out."""
    shown = dataclasses.replace(content, sample_data=SampleData(contact={**scope, "locale": locale}, data=dict(data)))
    applied = {tag for tag, _ in content.overrides_for(locale)}
    return [
        issue_document(content, issue)
        for issue in validate(shown, limits=CHECK_LIMITS).warnings
        if issue.channel in (*channels, "blocks", "template") and (issue.locale is None or issue.locale in applied)
    ]
