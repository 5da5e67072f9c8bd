"""Render a batch: the template version is loaded once, each (recipient, channel) rendered once.

Rendered content is stored on the message row as JSON, so a retry, a sweep or a fallback sends
exactly what was decided without loading the template or the contact again.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Hashable, Mapping

from sqlalchemy.orm import Session

from orchestrator.pipeline.tracking import EmailTracking, with_unsubscribe_footer
from orchestrator.services import templates as template_service
from templates.content import TemplateContent
from templates.errors import TemplateError



@dataclass(frozen=True)
class LoadedTemplate:
    version_id: int
    cache_key: Hashable
    content: TemplateContent


class RenderFailed(Exception):
    def __init__(self, error: TemplateError):
        super().__init__(str(error))
        self.error = error


def load_template(session: Session, key: str, version_id: int | None) -> LoadedTemplate:
    """The pinned version, else the published one (raises NotFound / TemplateNotPublished)."""
    if version_id is not None:
        version, content = template_service.load_version(session, version_id)
    else:
        version, content = template_service.load_for_send(session, key)
    return LoadedTemplate(version.id, version.cache_key, content)


_FIELDS: dict[type, tuple[str, ...]] = {}
_PLAIN = frozenset({str, int, float, bool})


def as_json(rendered: Any) -> dict:
    """The rendered dataclass as the row's JSON. `dataclasses.asdict` deep-copies recursively
    and was a tenth of a bulk worker's CPU; rendered content is flat but for a nested action
    or a string map, so one level of conversion does."""
    if not (dataclasses.is_dataclass(rendered) and not isinstance(rendered, type)):
        return dict(rendered)
    names = _FIELDS.get(type(rendered))
    if names is None:
        names = _FIELDS[type(rendered)] = tuple(f.name for f in dataclasses.fields(rendered))
    out = {}
    for name in names:
        value = getattr(rendered, name)
        if value is None or type(value) in _PLAIN:  # nearly every field: text
            out[name] = value
            continue
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        elif isinstance(value, dict):
            value = dict(value)
        elif isinstance(value, (list, tuple)):
            value = [dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v for v in value]
        out[name] = value
    return out


def render_one(template: LoadedTemplate, channel: str, contact: Mapping[str, Any], data: Mapping[str, Any],
               locale: str | None, message: Mapping[str, Any] | None = None,
               tracking: EmailTracking | None = None) -> dict:
    """One channel for one recipient, as the JSON the row stores; raises RenderFailed.
    ``tracking`` (email only): its links, pixel and ``message`` scope; see pipeline.tracking."""
    wrapper, pixel = (tracking.link_wrapper, tracking.open_pixel_url) if tracking else (None, None)
    if tracking is not None and tracking.message:
        message = {**tracking.message, **(message or {})}
    # The render deadline counts the thread's CPU time (templates.limits), so a busy worker's
    # GIL waits never fail a good template: one try, and a limit hit is the template's fault.
    try:
        rendered = template_service.render_for_contact(
            template.content, template.cache_key, contact, data, locale, channels=(channel,), message=message,
            link_wrapper=wrapper, open_pixel_url=pixel)
    except TemplateError as error:
        raise RenderFailed(error) from None
    return with_unsubscribe_footer(as_json(rendered[channel]), tracking)


def has_channel(template: LoadedTemplate, channel: str) -> bool:
    return getattr(template.content, channel, None) is not None
