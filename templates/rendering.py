"""Render a template version for one recipient, one channel at a time.

Each field is compiled once per (version cache key, locale override, channel, field) and kept
in an LRU, so a campaign compiles a template once and renders it many times. A render runs
under a deadline and per-field output cap (:mod:`templates.limits`); whatever goes wrong in
template code comes out as a :class:`TemplateError` carrying the channel, field and line.
"""

from __future__ import annotations

import threading
from time import thread_time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Hashable, Iterator

from jinja2 import ChainableUndefined, TemplateSyntaxError
from jinja2 import nodes as jinja_nodes
from jinja2.environment import Template
from jinja2.exceptions import SecurityError
from markupsafe import Markup

from .content import CHANNELS, ResolvedField, TemplateContent
from .email_html import Landmarks, LinkWrapper, shape_email_html, splice_email_html
from .email_plan import (
    FILTERS as PLAN_FILTERS,
    BodyMark,
    EmailPlan,
    NotFast,
    TextParts,
    TrackedTag,
    finish_planned_text,
    plan_email,
)
from .email_text import html_to_text
from .errors import RenderLimitExceeded, TemplateError, TemplateRenderError, TemplateSyntaxIssue
from .limits import RenderLimits, check_chars, end_budget, extend_deadline, start_budget
from .push_payload import fcm_message, payload_size
from .rendered import (
    Rendered,
    RenderedAction,
    RenderedEmail,
    RenderedInapp,
    RenderedPush,
    RenderedSms,
)
from .sandbox import HTML_PREFIX, TemplateEnvironment
from .sms_encoding import analyze_sms, replace_lookalikes
from .urls import is_action_url

SCOPE_NAMES = frozenset({"contact", "event", "data", "message", "blocks", "variables", "locale"})
UNSUPPORTED_TAGS = (jinja_nodes.Extends, jinja_nodes.Include, jinja_nodes.Import, jinja_nodes.FromImport)

SAMPLE_MESSAGE = {
    "id": "preview",
    "unsubscribe_url": "https://example.invalid/u/preview",
    "unsubscribe_topic_url": "https://example.invalid/u/preview-topic",
    "preferences_url": "https://example.invalid/p/preview",
    "view_url": "https://example.invalid/v/preview",
}


NO_PLAN = False  # cached for an email body whose HTML must be analysed on every render


class TemplateCache:
    """A thread-safe LRU of compiled templates (and email plans)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Template] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Template | None:
        with self._lock:
            template = self._items.get(key)
            if template is not None:
                self._items.move_to_end(key)
            return template

    def put(self, key: Hashable, template: Template) -> None:
        with self._lock:
            self._items[key] = template
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


def compile_source(env: TemplateEnvironment, source: str, *, name: str, html: bool) -> Template:
    """Compile ``source``, refusing tags that would reach outside the template."""
    full_name = f"{HTML_PREFIX}{name}" if html else name
    try:
        tree = env.parse(source, name=full_name)
        for node in tree.find_all(UNSUPPORTED_TAGS):
            tag = type(node).__name__.lower().replace("fromimport", "from ... import")
            raise TemplateSyntaxIssue(
                f"the '{tag}' tag is not supported; use blocks", line=node.lineno, code="unsupported_tag"
            )
        code = env.compile(tree, name=full_name, filename=full_name)
    except TemplateSyntaxError as error:
        message = error.message or str(error)
        code = "unknown_filter" if message.startswith("No filter named") else None
        code = "unknown_test" if message.startswith("No test named") else code
        raise TemplateSyntaxIssue(message, line=error.lineno, code=code) from None
    except TemplateError:
        raise
    except Exception as error:  # noqa: BLE001 - constant folding ran template code: {([1],): 1}
        raise TemplateSyntaxIssue(_shortened(f"{type(error).__name__}: {error}")) from None
    return env.template_class.from_code(env, code, env.make_globals(None), None)


MAX_MESSAGE_CHARS = 500  # an error message quotes values; the problem document stays small


def _shortened(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE_CHARS else message[:MAX_MESSAGE_CHARS] + "…"


def template_line(traceback: Any) -> int | None:
    """Template line of the innermost template frame in ``traceback``."""
    line = None
    while traceback is not None:
        template = traceback.tb_frame.f_globals.get("__jinja_template__")
        if template is not None:
            line = template.get_corresponding_lineno(traceback.tb_lineno)
        traceback = traceback.tb_next
    return line


class Blocks(Mapping):
    """``{{ blocks.offer }}``: each block rendered on first use with the field's own scope."""

    def __init__(self, render: "_Render", html: bool) -> None:
        self._render = render
        self._html = html
        self._done: dict[str, Any] = {}
        self._active: set[str] = set()

    def __getitem__(self, name: str) -> Any:
        if name in self._done:
            return self._done[name]
        resolved = self._render.blocks.get(name)
        if resolved is None:
            raise KeyError(name)
        if name in self._active:
            raise TemplateRenderError(f"block '{name}' uses itself", channel="blocks", field=name)
        self._active.add(name)
        try:
            text = self._render.run(
                "blocks", resolved, html=self._html, scope=self._render.scope(self)
            )
        finally:
            self._active.discard(name)
        value = Markup(text) if self._html else text
        self._done[name] = value
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._render.blocks)

    def __len__(self) -> int:
        return len(self._render.blocks)


class _Render:
    """One channel render: the resolved sources, the scope, and a way to run a field."""

    def __init__(self, renderer: "Renderer", content: TemplateContent, locale: str | None,
                 cache_key: Hashable | None, base_scope: dict[str, Any]) -> None:  # fmt: skip
        self.renderer = renderer
        self.content = content
        self.locale = locale
        self.cache_key = cache_key
        self.base_scope = base_scope
        self.blocks = content.resolve("blocks", locale)
        self._scopes: dict[bool, dict[str, Any]] = {}

    def scope(self, blocks: Blocks | None = None, html: bool = False) -> dict[str, Any]:
        if blocks is not None:
            return {**self.base_scope, "blocks": blocks}
        scope = self._scopes.get(html)
        if scope is None:
            scope = {**self.base_scope, "blocks": Blocks(self, html)}
            self._scopes[html] = scope
        return scope

    def field(self, channel: str, resolved: ResolvedField | None, html: bool = False) -> str:
        if resolved is None or resolved.source is None:
            return ""
        return self.run(channel, resolved, html=html, scope=self.scope(html=html))

    def run(self, channel: str, resolved: ResolvedField, *, html: bool, scope: dict) -> str:
        source = resolved.source if isinstance(resolved.source, str) else str(resolved.source)
        try:
            template = self.renderer.compiled(
                source, self.cache_key, resolved.origin, channel, resolved.path, html
            )
            return self.renderer.execute(template, scope)
        except TemplateError as error:
            raise error.located(channel, resolved.path) from None

    def plan(self, resolved: ResolvedField) -> EmailPlan | None:
        source = resolved.source if isinstance(resolved.source, str) else str(resolved.source)
        try:
            return self.renderer.email_plan(source, self.cache_key, resolved.origin, resolved.path)
        except TemplateError as error:
            raise error.located("email", resolved.path) from None

    def run_planned(self, plan: EmailPlan, resolved: ResolvedField) -> tuple[str, Landmarks, TextParts]:
        landmarks, text = Landmarks(), TextParts()
        try:
            html = self.renderer.execute(plan.html, self.scope(html=True), landmarks=landmarks, text=text)
        except TemplateError as error:
            raise error.located("email", resolved.path) from None
        return html, landmarks, text


class Renderer:
    """Renders template versions; holds the sandboxed environment and the compiled cache.

    One renderer per process is the intent (a worker shares it across threads).
    """

    def __init__(
        self,
        limits: RenderLimits | None = None,
        *,
        cache_size: int = 2048,
        undefined: type = ChainableUndefined,
        plan_emails: bool = True,
    ) -> None:
        """``plan_emails=False`` parses every rendered email body (the reference behaviour)."""
        self.limits = limits or RenderLimits()
        self.environment = TemplateEnvironment(undefined=undefined)
        self.environment.filters.update(PLAN_FILTERS)
        self.cache = TemplateCache(cache_size)
        self.plan_emails = plan_emails
        self._globals = dict(self.environment.globals)

    # Compilation and execution --------------------------------------------------------
    def compiled(self, source: str, cache_key: Hashable | None, origin: str | None,
                 channel: str, path: str, html: bool) -> Template:  # fmt: skip
        # Without a version key the source itself is the key: always correct, and a str
        # caches its hash so the lookup stays cheap.
        key = (cache_key, origin, channel, path, html) if cache_key is not None else (source, html)
        template = self.cache.get(key)
        if template is None:
            started = thread_time()
            template = compile_source(self.environment, source, name=f"{channel}.{path}", html=html)
            # Compiling is once per version: it must not spend this recipient's deadline.
            extend_deadline(thread_time() - started)
            self.cache.put(key, template)
        return template

    def email_plan(self, source: str, cache_key: Hashable | None, origin: str | None,
                   path: str) -> EmailPlan | None:  # fmt: skip
        """The once-per-template analysis of an email HTML body, or None when it has none."""
        if not self.plan_emails:
            return None
        key = (cache_key, origin, "email", path, "plan") if cache_key is not None else (source, "plan")
        plan = self.cache.get(key)
        if plan is None:
            self.compiled(source, cache_key, origin, "email", path, True)  # syntax errors as usual
            started = thread_time()
            try:
                plan = plan_email(self.environment, source, name=f"{HTML_PREFIX}email.{path}")
            except Exception:  # noqa: BLE001 - unsupported markup, or a bug: render the general way
                plan = NO_PLAN
            extend_deadline(thread_time() - started)
            self.cache.put(key, plan)
        return plan or None

    def execute(self, template: Template, scope: dict[str, Any], *, landmarks: Landmarks | None = None,
                text: TextParts | None = None) -> str:  # fmt: skip
        """Run ``template``; for an email plan, collect its ``landmarks`` and ``text``."""
        limit = self.limits.max_field_chars
        token = start_budget(self.limits)
        try:
            # The scope already holds the globals, so the context is built directly rather
            # than through new_context, which would copy them on every render.
            context = self.environment.context_class(
                self.environment, scope, template.name, template.blocks
            )
            parts, size = [], 0
            if landmarks is not None:
                context.chorus_text = text
                for chunk in template.root_render_func(context):
                    kind = chunk.__class__
                    if kind is TrackedTag:
                        landmarks.links.append((size, size + len(chunk)))
                    elif kind is BodyMark:
                        if chunk.opens:
                            landmarks.body_open_end = size
                        else:
                            landmarks.body_close = size
                        continue
                    size += len(chunk)
                    if size > limit:
                        check_chars(size, "output")
                    parts.append(chunk)
            else:
                for chunk in template.root_render_func(context):
                    size += len(chunk)
                    if size > limit:
                        check_chars(size, "output")
                    parts.append(chunk)
            return "".join(parts)
        except NotFast:
            raise
        except TemplateError as error:
            if error.line is None:
                error.line = template_line(error.__traceback__)
            raise
        except SecurityError as error:
            raise TemplateRenderError(
                _shortened(f"not allowed: {error}"), line=template_line(error.__traceback__)
            ) from None
        except RecursionError as error:
            raise RenderLimitExceeded(
                "template recursion is too deep", line=template_line(error.__traceback__)
            ) from None
        except MemoryError as error:
            raise RenderLimitExceeded("template used too much memory", line=template_line(error.__traceback__)) from None
        except Exception as error:  # anything template code raises is the template's fault
            raise TemplateRenderError(
                _shortened(f"{type(error).__name__}: {error}"), line=template_line(error.__traceback__)
            ) from None
        finally:
            end_budget(token)

    # Public API -----------------------------------------------------------------------
    def scope(
        self,
        *,
        locale: str | None = None,
        contact: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        message: Mapping[str, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        contact = dict(contact or {})
        contact.setdefault("attributes", {})
        payload = data if data is not None else {}
        return {
            **self._globals,
            "contact": contact,
            "data": payload,
            "event": payload,
            "message": message if message is not None else {},
            "variables": variables if variables is not None else {},
            "locale": locale or contact.get("locale"),
        }

    def render(
        self,
        content: TemplateContent,
        channel: str,
        *,
        locale: str | None = None,
        contact: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        message: Mapping[str, Any] | None = None,
        cache_key: Hashable | None = None,
        link_wrapper: LinkWrapper | None = None,
        open_pixel_url: str | None = None,
    ) -> Rendered:
        """Render ``channel`` of ``content`` for one recipient.

        ``locale`` defaults to the contact's; ``cache_key`` should identify the immutable
        version (its id or hash). Raises :class:`TemplateError` subclasses.
        """
        if channel not in CHANNELS:
            raise TemplateRenderError(f"unknown channel {channel!r}", channel=channel)
        if getattr(content, channel) is None:
            raise TemplateRenderError(f"the template has no {channel} content", channel=channel)
        if locale is None and contact is not None:
            locale = contact.get("locale")
        variables = {path: field.source for path, field in content.resolve("variables", locale).items()}
        base_scope = self.scope(
            locale=locale, contact=contact, data=data, message=message, variables=variables
        )
        run = _Render(self, content, locale, cache_key, base_scope)
        fields = content.resolve(channel, locale)
        token = start_budget(self.limits)
        try:
            if channel == "sms":
                return _shape_sms(run, fields)
            if channel == "push":
                return _shape_push(run, fields)
            if channel == "email":
                return _shape_email(run, fields, link_wrapper, open_pixel_url)
            return _shape_inapp(run, fields)
        finally:
            end_budget(token)

    def render_all(self, content: TemplateContent, **kwargs: Any) -> dict[str, Rendered]:
        """Every channel the template has, rendered with the same arguments."""
        return {channel: self.render(content, channel, **kwargs) for channel in content.channels}


def _literal(fields: dict[str, ResolvedField], path: str) -> Any:
    resolved = fields.get(path)
    return resolved.source if resolved is not None else None


def _optional(run: _Render, channel: str, fields: dict[str, ResolvedField], path: str) -> str | None:
    resolved = fields.get(path)
    if resolved is None:
        return None
    return run.field(channel, resolved).strip() or None


def _shape_sms(run: _Render, fields: dict[str, ResolvedField]) -> RenderedSms:
    text = replace_lookalikes(run.field("sms", fields.get("body"))).strip()
    analysis = analyze_sms(text)
    return RenderedSms(text=text, encoding=analysis.encoding, segments=analysis.segments)


def _shape_push(run: _Render, fields: dict[str, ResolvedField]) -> RenderedPush:
    data = {
        path[len("data."):]: run.field("push", resolved)
        for path, resolved in fields.items()
        if path.startswith("data.")
    }
    badge = _literal(fields, "badge")
    rendered = dict(
        title=run.field("push", fields.get("title")).strip(),
        body=run.field("push", fields.get("body")).strip(),
        image_url=_optional(run, "push", fields, "image_url"),
        deep_link=_optional(run, "push", fields, "deep_link"),
        data=data,
        sound=_literal(fields, "sound"),
        badge=int(badge) if badge is not None else None,
        priority=_literal(fields, "priority"),
        ttl_seconds=_literal(fields, "ttl_seconds"),
        collapse_key=_literal(fields, "collapse_key"),
    )
    return RenderedPush(**rendered, payload_size=payload_size(fcm_message(**rendered)))


def _shape_email(run: _Render, fields: dict[str, ResolvedField],
                 link_wrapper: LinkWrapper | None, open_pixel_url: str | None) -> RenderedEmail:  # fmt: skip
    html_field = fields.get("html")
    plan, landmarks = None, None
    shaping = link_wrapper is not None or open_pixel_url or fields.get("preheader") is not None
    if html_field is not None and html_field.source is not None and (shaping or not fields.get("text")):
        plan = run.plan(html_field)
    if plan is not None:
        try:
            html_body, landmarks, planned_text = run.run_planned(plan, html_field)
        except NotFast:
            plan = None
    if plan is None:
        html_body = run.field("email", html_field, html=True)
    preheader = run.field("email", fields.get("preheader")).strip()
    text = run.field("email", fields.get("text")) if fields.get("text") else ""
    if not text.strip() and html_body:
        text = finish_planned_text(planned_text, link_wrapper) if plan is not None else None
        if text is None:
            text = html_to_text(html_body, link_wrapper)
    if not html_body:
        final_html = ""
    elif landmarks is not None:
        final_html = splice_email_html(html_body, landmarks, preheader, link_wrapper, open_pixel_url)
    else:
        final_html = shape_email_html(
            html_body, preheader=preheader, link_wrapper=link_wrapper, open_pixel_url=open_pixel_url
        )
    return RenderedEmail(
        subject=" ".join(run.field("email", fields.get("subject")).split()),
        preheader=preheader,
        html=final_html,
        text=text.strip(),
        from_name=_optional(run, "email", fields, "from_name"),
        from_address=_literal(fields, "from_address"),
        reply_to=_literal(fields, "reply_to"),
    )


def _action(run: _Render, fields: dict[str, ResolvedField], name: str) -> RenderedAction | None:
    label_field, url_field = fields.get(f"{name}.label"), fields.get(f"{name}.url")
    if label_field is None and url_field is None:
        return None
    label = run.field("inapp", label_field).strip()
    url = run.field("inapp", url_field).strip()
    if not is_action_url(url):
        raise TemplateRenderError(
            f"{url[:200]!r} is not an http(s) URL or an app deep link",
            channel="inapp",
            field=f"{name}.url",
            code="invalid_url",
        )
    return RenderedAction(label=label, url=url)


def _shape_inapp(run: _Render, fields: dict[str, ResolvedField]) -> RenderedInapp:
    return RenderedInapp(
        title=run.field("inapp", fields.get("title")).strip(),
        body=run.field("inapp", fields.get("body")).strip(),
        image_url=_optional(run, "inapp", fields, "image_url"),
        primary_action=_action(run, fields, "primary_action"),
        secondary_action=_action(run, fields, "secondary_action"),
    )


