"""Preview: a template rendered for its sample data on every channel, with its problems."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .content import TemplateContent
from .email_html import LinkWrapper
from .errors import TemplateError
from .rendered import Rendered, RenderedPush, RenderedSms
from .rendering import SAMPLE_MESSAGE, Renderer
from .validation import DEFAULT_MAX_SMS_SEGMENTS, TemplateIssue, validate


@dataclass(frozen=True)
class Preview:
    locale: str | None
    rendered: dict[str, Rendered] = field(default_factory=dict)
    errors: list[TemplateIssue] = field(default_factory=list)
    warnings: list[TemplateIssue] = field(default_factory=list)

    @property
    def sms_segments(self) -> int | None:
        sms = self.rendered.get("sms")
        return sms.segments if isinstance(sms, RenderedSms) else None

    @property
    def sms_encoding(self) -> str | None:
        sms = self.rendered.get("sms")
        return sms.encoding if isinstance(sms, RenderedSms) else None

    @property
    def push_payload_size(self) -> int | None:
        push = self.rendered.get("push")
        return push.payload_size if isinstance(push, RenderedPush) else None


def preview(
    content: TemplateContent,
    *,
    locale: str | None = None,
    contact: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    renderer: Renderer | None = None,
    link_wrapper: LinkWrapper | None = None,
    max_sms_segments: int = DEFAULT_MAX_SMS_SEGMENTS,
) -> Preview:
    """Render every channel for the sample data (or the given contact and data) in ``locale``.

    A channel that fails is left out of ``rendered`` and its error is in ``errors``, next to
    everything validation finds.
    """
    renderer = renderer or Renderer()
    report = validate(content, max_sms_segments=max_sms_segments, limits=renderer.limits)
    contact = dict(contact if contact is not None else content.sample_data.contact)
    if locale is not None:
        contact["locale"] = locale
    errors = list(report.errors)
    rendered: dict[str, Rendered] = {}
    for channel in content.channels:
        try:
            rendered[channel] = renderer.render(
                content, channel, locale=contact.get("locale"), contact=contact,
                data=data if data is not None else content.sample_data.data,
                message=SAMPLE_MESSAGE, link_wrapper=link_wrapper,
            )  # fmt: skip
        except TemplateError as error:
            issue = TemplateIssue(
                error.channel or channel, error.field, error.line, error.message, locale, error.code
            )
            if not any(_same(issue, known) for known in errors):
                errors.append(issue)
    return Preview(locale=contact.get("locale"), rendered=rendered, errors=errors, warnings=list(report.warnings))


def _same(a: TemplateIssue, b: TemplateIssue) -> bool:
    return (a.channel, a.field, a.line, a.message) == (b.channel, b.field, b.line, b.message)
