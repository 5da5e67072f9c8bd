"""Unified message templates: content model, sandboxed rendering, validation, locales."""

from .content import (
    CATEGORIES,
    CHANNELS,
    EmailContent,
    InappAction,
    InappContent,
    LocaleOverride,
    PushContent,
    SampleData,
    SmsContent,
    TemplateContent,
)
from .email_html import shape_email_html, wrap_links
from .email_text import html_to_text
from .errors import (
    RenderLimitExceeded,
    TemplateError,
    TemplateRenderError,
    TemplateSyntaxIssue,
    TemplateValidationError,
)
from .limits import RenderLimits
from .locales import locale_chain, normalize_locale
from .preview import Preview, preview
from .push_payload import FCM_MAX_PAYLOAD_BYTES, fcm_message, payload_size
from .rendered import (
    Rendered,
    RenderedAction,
    RenderedEmail,
    RenderedInapp,
    RenderedPush,
    RenderedSms,
)
from .rendering import SAMPLE_MESSAGE, Renderer
from .schemas import (
    EmailSchema,
    InappSchema,
    LocaleOverrideSchema,
    PushSchema,
    SampleDataSchema,
    SmsSchema,
    TemplateContentSchema,
)
from .sms_encoding import SmsEncoding, analyze_sms
from .urls import is_action_url
from .validation import DEFAULT_MAX_SMS_SEGMENTS, TemplateIssue, ValidationReport, validate

__all__ = [
    "CATEGORIES", "CHANNELS", "DEFAULT_MAX_SMS_SEGMENTS", "FCM_MAX_PAYLOAD_BYTES", "SAMPLE_MESSAGE",
    "EmailContent", "EmailSchema", "InappAction", "InappContent", "InappSchema", "LocaleOverride",
    "LocaleOverrideSchema", "Preview", "PushContent", "PushSchema", "Rendered", "RenderedAction",
    "RenderedEmail", "RenderedInapp", "RenderedPush", "RenderedSms", "RenderLimitExceeded",
    "RenderLimits", "Renderer", "SampleData", "SampleDataSchema", "SmsContent", "SmsEncoding",
    "SmsSchema", "TemplateContent", "TemplateContentSchema", "TemplateError", "TemplateIssue",
    "TemplateRenderError", "TemplateSyntaxIssue", "TemplateValidationError", "ValidationReport",
    "analyze_sms", "fcm_message", "html_to_text", "is_action_url", "locale_chain",
    "normalize_locale", "payload_size", "preview", "shape_email_html", "validate", "wrap_links",
]  # fmt: skip
