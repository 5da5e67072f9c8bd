"""Tracking for the emails the pipeline renders: click redirects, the open pixel, unsubscribe links.

The pipeline renders before the message row exists, so every link names the message by its
idempotency key (known at render time, unique and indexed), not its id.

* Clicks and opens are tracked on every email, marketing or transactional: they are the
  measure of the message, not a consent matter.
* Marketing email gets ``message.unsubscribe_url`` (and ``message.unsubscribe_topic_url``
  when it has a topic) in the template scope, for the author's footer. If the rendered email
  has no unsubscribe link at all, a minimal one is appended: a marketing email without one
  breaks CAN-SPAM and the bulk-sender rules of the big mailbox providers, and Braze and
  Customer.io refuse to send one. The ``List-Unsubscribe`` header is added at send time
  (``pipeline.send.envelope``). Transactional email gets neither.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from flask import current_app

from orchestrator.services import tracking as links

if TYPE_CHECKING:  # render.py imports this module
    from orchestrator.pipeline.job import DeliveryJob
    from orchestrator.pipeline.render import LoadedTemplate

MARKETING = "marketing"
_WEB = re.compile(r"https?://", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
FOOTER_LABEL = "Unsubscribe"


@dataclass
class EmailTracking:
    """One message's links; ``link_wrapper`` signs each distinct URL once (the renderer calls
    it for the HTML and again for the text part)."""

    link_wrapper: Callable[[str], str]
    open_pixel_url: str
    message: dict[str, Any] = field(default_factory=dict)
    unsubscribe_url: str | None = None


def email_tracking(channel: str, message_key: str, job: DeliveryJob, template: LoadedTemplate,
                   contact_id: int | None, app=None) -> EmailTracking | None:
    """What the renderer needs for this message, or None when the channel is not email. The
    topic link is the job's topic, else the template's."""
    if channel != "email":
        return None
    category, topic = job.category, job.topic or template.content.topic
    app = app or current_app
    signer = links.link_signer(app)
    prefix = signer.message_prefix(message_key)
    own = signer.base + "/"
    signed: dict[str, str] = {}

    def wrap(url: str) -> str:
        found = signed.get(url)
        if found is None:
            # Chorus's own links (unsubscribe) stay themselves; deep links cannot redirect.
            found = url if url.startswith(own) or not _WEB.match(url) else signer.click_url(prefix, url)
            signed[url] = found
        return found

    tracking = EmailTracking(wrap, signer.open_pixel_url(prefix))
    if category == MARKETING and contact_id is not None:
        everything = signer.unsubscribe_url(contact_id, message_key)
        tracking.message["unsubscribe_url"] = tracking.unsubscribe_url = everything
        if topic:
            tracking.message["unsubscribe_topic_url"] = signer.unsubscribe_url(contact_id, message_key, topic)
    return tracking


def with_unsubscribe_footer(content: Mapping[str, Any], tracking: EmailTracking | None) -> Mapping[str, Any]:
    """The rendered email with a minimal unsubscribe line when it is marketing and the author
    put no unsubscribe link in it (the same line goes into the text part)."""
    if tracking is None or tracking.unsubscribe_url is None:
        return content
    body, text = content.get("html") or "", content.get("text") or ""
    marker = tracking.unsubscribe_url.split(links.UNSUBSCRIBE_PATH, 1)[0] + links.UNSUBSCRIBE_PATH
    if marker in (body or text):
        return content
    url = tracking.unsubscribe_url
    footer = (f'<p style="margin:24px 0 0;font-size:12px;color:#6b7280;text-align:center">'
              f'<a href="{html.escape(url, quote=True)}" style="color:#6b7280">{FOOTER_LABEL}</a></p>')
    if body:
        ends = list(_BODY_END.finditer(body))
        at = ends[-1].start() if ends else len(body)
        body = body[:at] + footer + body[at:]
    text = f"{text}\n\n{FOOTER_LABEL}: {url}" if text else f"{FOOTER_LABEL}: {url}"
    return {**content, "html": body, "text": text}
