"""Save-time validation: every problem with its channel, field, line and locale.

Errors block publishing; warnings do not. The bar for publishing is that every channel
renders for the template's sample data in the default content and in every locale.
"""

from __future__ import annotations

import sys
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from babel import Locale, UnknownLocaleError
from jinja2 import ChainableUndefined, Environment, meta, nodes

from .content import CHANNELS, HTML_FIELDS, LITERAL_FIELDS, TemplateContent, flatten_fields
from .errors import RenderLimitExceeded, TemplateError, TemplateValidationError
from .limits import RenderLimits
from .locales import display_locale
from .push_payload import FCM_MAX_PAYLOAD_BYTES
from .rendered import RenderedPush, RenderedSms
from .rendering import SAMPLE_MESSAGE, SCOPE_NAMES, Renderer, compile_source
from .sandbox import HTML_PREFIX
from .sms_encoding import non_gsm_characters
from .urls import is_action_url, is_web_url

DEFAULT_MAX_SMS_SEGMENTS = 10


@dataclass(frozen=True)
class TemplateIssue:
    channel: str  # "sms" | "push" | "email" | "inapp" | "blocks" | "template"
    field: str | None
    line: int | None
    message: str
    locale: str | None = None  # None: the default content
    code: str = "invalid"


@dataclass(frozen=True)
class ValidationReport:
    errors: list[TemplateIssue] = field(default_factory=list)
    warnings: list[TemplateIssue] = field(default_factory=list)

    @property
    def publishable(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> None:
        if self.errors:
            raise TemplateValidationError(list(self.errors))


# Undefined values actually printed or iterated while rendering sample data ---------------

_seen_undefined: ContextVar[list | None] = ContextVar("chorus_seen_undefined", default=None)


class RecordingUndefined(ChainableUndefined):
    """Renders like production's lenient undefined but notes where a missing value was used.

    Tests and ``default`` do not count: ``{% if x %}`` and ``x|default('…')`` are how a
    template says a value is optional.
    """

    __slots__ = ()

    def _note(self) -> None:
        seen = _seen_undefined.get()
        if seen is None:
            return
        frame = sys._getframe(2)
        while frame is not None:
            template = frame.f_globals.get("__jinja_template__")
            if template is not None:
                line = template.get_corresponding_lineno(frame.f_lineno)
                seen.append((template.name, line, self._undefined_name))
                return
            frame = frame.f_back

    def __str__(self) -> str:
        self._note()
        return ""

    def __iter__(self):
        self._note()
        return iter(())

    def __len__(self) -> int:
        self._note()
        return 0

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any):
        self._note()
        return super()._fail_with_undefined_error(*args, **kwargs)


class _Collector:
    def __init__(self) -> None:
        self.errors: list[TemplateIssue] = []
        self.warnings: list[TemplateIssue] = []
        self._keys: set[tuple] = set()

    def add(self, issue: TemplateIssue, *, warning: bool = False, about: str | None = None) -> None:
        # The same source fails the same way in every locale that falls back to it, and a
        # missing variable is found both by reading the source and by rendering it.
        key = (warning, issue.code, issue.channel, issue.field, issue.line, about or issue.message)
        if key in self._keys:
            return
        self._keys.add(key)
        (self.warnings if warning else self.errors).append(issue)

    def from_error(self, error: TemplateError, locale: str | None, channel: str, field_: str | None) -> None:
        self.add(
            TemplateIssue(
                channel=error.channel or channel,
                field=error.field or field_,
                line=error.line,
                message=error.message,
                locale=locale,
                code=error.code,
            )
        )


def validate(
    content: TemplateContent,
    *,
    max_sms_segments: int = DEFAULT_MAX_SMS_SEGMENTS,
    limits: RenderLimits | None = None,
) -> ValidationReport:
    """Check ``content`` the way a save does; ``report.publishable`` is the bar for publishing."""
    found = _Collector()
    renderer = Renderer(limits, cache_size=256, undefined=RecordingUndefined)
    broken = _check_sources(content, renderer, found)
    _check_required(content, found)
    _check_locales(content, found)
    too_slow: set[frozenset] = set()
    for locale in (None, *content.locales):
        for channel in content.channels:
            if _uses_broken_source(content, channel, locale, broken):
                continue  # already reported; a render would only repeat it
            sources = _signature(content, channel, locale)
            if sources in too_slow:
                continue  # the same sources already ran out of time; don't wait again
            if not _check_render(content, renderer, channel, locale, max_sms_segments, found):
                too_slow.add(sources)
    if not content.channels:
        found.add(TemplateIssue("template", None, None, "the template has no channel content", code="no_channels"))
    return ValidationReport(errors=found.errors, warnings=found.warnings)


def _sources(content: TemplateContent):
    """(channel, field path, source, locale) for every templated source, overrides included."""
    layers = [(None, {c: flatten_fields(getattr(content, c)) for c in CHANNELS}, content.blocks)]
    for tag, override in content.locales.items():
        layers.append((tag, override.paths, override.blocks))
    for locale, channels, blocks in layers:
        for channel, paths in channels.items():
            for path, source in paths.items():
                if path not in LITERAL_FIELDS[channel] and isinstance(source, str):
                    yield channel, path, source, locale
        for name, source in blocks.items():
            yield "blocks", name, source, locale


def _signature(content: TemplateContent, channel: str, locale: str | None) -> frozenset:
    return frozenset(
        (kind, path, resolved.origin)
        for kind in (channel, "blocks")
        for path, resolved in content.resolve(kind, locale).items()
    )


def _uses_broken_source(content: TemplateContent, channel: str, locale: str | None, broken: set) -> bool:
    for kind in (channel, "blocks"):
        for path, resolved in content.resolve(kind, locale).items():
            if (kind, path, resolved.origin) in broken:
                return True
    return False


def _check_sources(content: TemplateContent, renderer: Renderer, found: _Collector) -> set:
    """Compile every source; returns the (channel, field path, locale) that do not compile."""
    broken: set[tuple[str, str, str | None]] = set()
    known = SCOPE_NAMES | set(renderer.environment.globals)
    for channel, path, source, locale in _sources(content):
        html = path in HTML_FIELDS.get(channel, ())
        try:
            compile_source(renderer.environment, source, name=f"{channel}.{path}", html=html)
        except TemplateError as error:
            found.from_error(error, locale, channel, path)
            broken.add((channel, path, locale))
            continue
        tree = renderer.environment.parse(source)
        for name in sorted(meta.find_undeclared_variables(tree) - known):
            line = next((n.lineno for n in tree.find_all(nodes.Name) if n.name == name), None)
            found.add(
                TemplateIssue(channel, path, line, _unknown_name_message(name), locale, "undefined_variable"),
                warning=True,
                about=name,
            )
    return broken


def _unknown_name_message(name: str) -> str:
    return (
        f"'{name}' is not defined; templates see contact, data (alias event), message, "
        f"blocks and variables — did you mean contact.attributes.{name} or data.{name}?"
    )


def _check_required(content: TemplateContent, found: _Collector) -> None:
    def error(channel: str, field_: str | None, message: str, code: str) -> None:
        found.add(TemplateIssue(channel, field_, None, message, None, code))

    if content.sms is not None and not content.sms.body.strip():
        error("sms", "body", "an SMS needs a body", "required")
    if content.push is not None:
        if not content.push.title.strip() and not content.push.body.strip():
            error("push", "body", "a push notification needs a title or a body", "required")
        image = content.push.image_url
        if image and "{" not in image and not image.startswith("https://"):
            found.add(TemplateIssue("push", "image_url", None, "push images must be https URLs", None, "invalid_url"), warning=True)
    if content.email is not None:
        if not content.email.subject.strip():
            error("email", "subject", "an email needs a subject", "email_subject_missing")
        if not content.email.html.strip() and not (content.email.text or "").strip():
            error("email", "html", "an email needs an HTML or a text body", "email_body_missing")
    if content.inapp is not None:
        if not content.inapp.title.strip() and not content.inapp.body.strip():
            error("inapp", "body", "an in-app message needs a title or a body", "required")
        for name in ("primary_action", "secondary_action"):
            action = getattr(content.inapp, name)
            if action is None:
                continue
            if not action.label.strip():
                error("inapp", f"{name}.label", "an action needs a label", "required")
            if not action.url.strip():
                error("inapp", f"{name}.url", "an action needs a URL", "required")
            elif "{" not in action.url and not is_action_url(action.url.strip()):
                error("inapp", f"{name}.url", f"{action.url!r} is not an http(s) URL or an app deep link", "invalid_url")
        image = content.inapp.image_url
        if image and "{" not in image and not is_web_url(image):
            error("inapp", "image_url", f"{image!r} is not an http(s) URL", "invalid_url")


def _check_locales(content: TemplateContent, found: _Collector) -> None:
    for tag, override in content.locales.items():
        try:
            Locale.parse(display_locale(tag), sep="-")
        except (UnknownLocaleError, ValueError):
            found.add(TemplateIssue("template", None, None, f"unknown locale {tag!r}", tag, "unknown_locale"), warning=True)
        for channel in CHANNELS:
            if override.paths[channel] and getattr(content, channel) is None:
                found.add(
                    TemplateIssue(channel, None, None, f"locale {tag!r} overrides {channel}, which the template does not have", tag, "orphan_override"),
                    warning=True,
                )


def _check_render(content: TemplateContent, renderer: Renderer, channel: str, locale: str | None,
                  max_sms_segments: int, found: _Collector) -> bool:  # fmt: skip
    """Render one channel for the sample data; False when it ran out of time or output."""
    sample = content.sample_data
    contact = dict(sample.contact)
    if locale is not None:
        contact["locale"] = locale
    seen: list = []
    token = _seen_undefined.set(seen)
    try:
        rendered = renderer.render(
            content, channel, locale=locale or contact.get("locale"), contact=contact,
            data=sample.data, message=SAMPLE_MESSAGE,
        )  # fmt: skip
    except RenderLimitExceeded as error:
        found.from_error(error, locale, channel, None)
        return False
    except TemplateError as error:
        found.from_error(error, locale, channel, None)
        rendered = None
    finally:
        _seen_undefined.reset(token)
    for name, line, variable in seen:
        where_channel, _, where_field = name.removeprefix(HTML_PREFIX).partition(".")
        resolved = content.resolve(where_channel, locale).get(where_field)
        path = _lookup_path(resolved.source, line, variable) if resolved else None
        found.add(
            TemplateIssue(where_channel, where_field, line, f"{path or variable!r} is not in the sample data", locale, "undefined_variable"),
            warning=True,
            about=path or variable,
        )
    if isinstance(rendered, RenderedSms):
        if rendered.segments > max_sms_segments:
            found.add(TemplateIssue("sms", "body", None, f"renders to {rendered.segments} SMS segments for the sample data; the maximum is {max_sms_segments}", locale, "sms_segments"))
        if rendered.encoding == "UCS-2":
            chars = "".join(non_gsm_characters(rendered.text)[:10])
            found.add(
                TemplateIssue("sms", "body", None, f"uses UCS-2 (70 characters a segment) because of {chars!r}", locale, "sms_encoding"),
                warning=True,
            )
    elif isinstance(rendered, RenderedPush) and rendered.payload_size > FCM_MAX_PAYLOAD_BYTES:
        found.add(TemplateIssue("push", None, None, f"the push payload is {rendered.payload_size} bytes for the sample data; FCM allows {FCM_MAX_PAYLOAD_BYTES}", locale, "push_payload_size"))
    return True


def _lookup_path(source: Any, line: int | None, name: str | None) -> str | None:
    """``contact.attributes.nome`` for the lookup of ``nome`` on ``line``, to name what is missing."""
    if not isinstance(source, str) or not name:
        return None
    try:
        tree = Environment().parse(source)
    except Exception:
        return None
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
        if node.lineno != line:
            continue
        dotted = _dotted(node)
        if dotted and dotted.rsplit(".", 1)[-1] == name:
            return dotted
    return None


def _dotted(node: nodes.Node) -> str | None:
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        parent = _dotted(node.node)
        return f"{parent}.{node.attr}" if parent else None
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        parent = _dotted(node.node)
        return f"{parent}.{node.arg.value}" if parent else None
    return None

