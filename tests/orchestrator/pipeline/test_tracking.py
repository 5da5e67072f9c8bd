"""Email the pipeline sends is tracked: its links, pixel and unsubscribe link lead back to the
message (by its idempotency key) through the real endpoints, and marketing email over real
SMTP carries List-Unsubscribe with one-click."""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from orchestrator.db import db
from orchestrator.models import AuditEntry, Contact, Preference, Topic
from orchestrator.pipeline import deliver_batch, send_messages
from orchestrator.pipeline.job import DeliveryJob
from orchestrator.pipeline.tracking import email_tracking
from orchestrator.services import templates as template_service
from orchestrator.services import tracking
from orchestrator.services.channels import close_channels
from templates.content import EmailContent, PushContent, TemplateContent
from tests.fakes.smtp_server import FakeSmtp
from tests.orchestrator.pipeline.conftest import add_contacts, drain, job, make_template, messages, timeline

HTML = ('<html><body><p>Hi {{ contact.external_id }}, <a href="https://shop.test/sale?a=1&amp;b=2">the sale</a>'
        ' and <a href="https://shop.test/new">what is new</a>, again <a href="https://shop.test/new">here</a>.'
        ' <a href="mailto:help@shop.test">Help</a></p>'
        '<p><a href="{{ message.unsubscribe_url }}">Unsubscribe</a>'
        '{% if message.unsubscribe_topic_url %} · <a href="{{ message.unsubscribe_topic_url }}">Fewer of these</a>'
        '{% endif %}</p></body></html>')


def email_template(key: str, *, category: str = "marketing", topic: str | None = None, html: str = HTML) -> None:
    content = TemplateContent(email=EmailContent(subject="News", html=html),
                              push=PushContent(title="News", body="Open the app"))
    template_service.create_template(db.session, key=key, name=key, category=category, topic=topic, content=content)
    template_service.publish(db.session, key)
    db.session.commit()


def hrefs(html: str) -> list[str]:
    return [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]+)"', html)]


def path_of(url: str) -> str:
    return url.removeprefix("https://chorus.test")


def test_a_marketing_email_is_tracked_from_click_to_unsubscribe(app):
    email_template("news")
    [contact] = add_contacts(1)
    deliver_batch(db.session, job([contact], template_key="news", channels=["email"]))
    drain(app)
    [message] = messages()
    assert message.status == "sent"
    links = hrefs(message.content["html"])
    sale, new, again, help_link, unsubscribe = links
    assert sale.startswith("https://chorus.test/t/c/") and new.startswith("https://chorus.test/t/c/")
    assert new == again, "one signed URL per distinct link"
    assert help_link == "mailto:help@shop.test"
    assert unsubscribe.startswith("https://chorus.test/u/"), "Chorus's own links are not click-wrapped"
    assert len(links) == 5, "no topic: no topic link, and no footer added (the author has one)"
    assert sale in message.content["text"] and new in message.content["text"], "the text part is tracked too"
    [pixel] = re.findall(r'<img src="(https://chorus\.test/t/o/[^"]+)"', message.content["html"])

    client = app.test_client()
    assert client.get(path_of(pixel)).status_code == 200
    assert messages()[0].status == "opened"
    r = client.get(path_of(sale))
    assert r.status_code == 302 and r.headers["Location"] == "https://shop.test/sale?a=1&b=2"
    [message] = messages()
    assert message.status == "clicked" and message.clicked_at
    assert timeline(message.id) == ["queued", "sending", "sent", "opened", "clicked"]

    assert client.get(path_of(unsubscribe)).status_code == 200
    assert client.post(path_of(unsubscribe), data={"confirm": "yes"}).status_code == 200
    db.session.expire_all()
    assert db.session.get(Contact, contact).unsubscribed_all is True
    details = db.session.scalar(select(AuditEntry.details).where(AuditEntry.action == "contact.unsubscribed"))
    assert details == {"topic": None, "message_id": message.id, "source": "link"}


def test_a_topic_email_offers_leaving_only_that_topic(app):
    db.session.add(Topic(key="promotions", name="Promotions"))
    db.session.commit()
    email_template("promo", topic="promotions")
    [contact] = add_contacts(1)
    deliver_batch(db.session, job([contact], template_key="promo", channels=["email"]), enqueue=False)
    [message] = messages()
    *_, everything, topic_only = hrefs(message.content["html"])
    assert tracking.read_unsubscribe(everything.rsplit("/", 1)[1]).topic is None
    wanted = tracking.read_unsubscribe(topic_only.rsplit("/", 1)[1])
    assert (wanted.contact_id, wanted.topic, wanted.message_key) == (contact, "promotions", message.idempotency_key)

    assert app.test_client().post(path_of(topic_only), data={"confirm": "yes"}).status_code == 200
    db.session.expire_all()
    assert db.session.get(Contact, contact).unsubscribed_all is False
    pref = db.session.scalar(select(Preference).where(Preference.contact_id == contact))
    assert (pref.kind, pref.key, pref.opted_in) == ("topic", "promotions", False)


def test_marketing_without_an_unsubscribe_link_gets_a_footer_transactional_gets_none(app):
    make_template()  # "welcome": marketing, no unsubscribe link in its HTML
    make_template("receipt", category="transactional")
    [contact] = add_contacts(1)
    deliver_batch(db.session, job([contact], channels=["email", "sms"]), enqueue=False)
    deliver_batch(db.session, job([contact], template_key="receipt", channels=["email"], campaign_id=8,
                                  category="transactional"), enqueue=False)
    marketing, sms = messages(campaign_id=7, channel="email")[0], messages(channel="sms")[0]
    [footer] = hrefs(marketing.content["html"])
    assert footer.startswith("https://chorus.test/u/") and marketing.content["html"].endswith("</p>")
    assert f"Unsubscribe: {footer}" in marketing.content["text"]
    assert "chorus.test" not in sms.content["text"], "SMS marketing has STOP, no link"
    [receipt] = messages(campaign_id=8)
    assert "/u/" not in receipt.content["html"] and "Unsubscribe" not in receipt.content["text"]
    assert "https://chorus.test/t/o/" in receipt.content["html"], "transactional email is still measured"


def test_a_fallback_email_links_to_the_row_the_fallback_will_have(app):
    email_template("news")
    [contact] = add_contacts(1)
    deliver_batch(db.session, job([contact], template_key="news", channels=["push", "email"],
                                  strategy="fallback"), enqueue=False)
    [push] = messages()
    [entry] = push.fallback_channels
    click = tracking.read_click(hrefs(entry["content"]["html"])[0].rsplit("/", 1)[1])
    assert click.message_key == f"{push.idempotency_key}:fallback:email"


def test_list_unsubscribe_over_real_smtp_on_marketing_only(app, monkeypatch):
    email_template("news")
    email_template("receipt", category="transactional")
    [contact] = add_contacts(1)
    with FakeSmtp() as smtp:
        for name, value in (("SMTP_HOST", "127.0.0.1"), ("SMTP_PORT", smtp.port), ("SMTP_SECURITY", "none"),
                            ("EMAIL_FROM_ADDRESS", "news@shop.test")):
            monkeypatch.setitem(app.config, name, value)
        close_channels(app)
        try:
            rows = deliver_batch(db.session, job([contact], template_key="news", channels=["email"]),
                                 enqueue=False).messages
            rows += deliver_batch(db.session, job([contact], template_key="receipt", channels=["email"],
                                                  campaign_id=8, category="transactional"), enqueue=False).messages
            report = send_messages(db.session, [m.id for m in rows], enqueue=False)
        finally:
            close_channels(app)  # the next test gets the sandbox again
        assert report.sent == 2
        by_subject = {mail.message["X-Chorus-Message-Id"]: mail.message for mail in smtp.messages}
    marketing, receipt = by_subject[str(rows[0].id)], by_subject[str(rows[1].id)]
    header = marketing["List-Unsubscribe"]
    assert re.fullmatch(r"<https://chorus\.test/u/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+>", header)
    assert marketing["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert receipt["List-Unsubscribe"] is None and receipt["List-Unsubscribe-Post"] is None
    assert "https://chorus.test/t/c/" in receipt.get_body(("html",)).get_content()

    # What a mailbox provider does with the header: a POST with the one-click body.
    r = app.test_client().post(path_of(header.strip("<>")), data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 200
    db.session.expire_all()
    assert db.session.get(Contact, contact).unsubscribed_all is True
    details = db.session.scalar(select(AuditEntry.details).where(AuditEntry.action == "contact.unsubscribed"))
    assert details == {"topic": None, "message_id": rows[0].id, "source": "one_click"}


@pytest.mark.parametrize("category", ["marketing", "transactional"])
def test_each_distinct_link_is_signed_once_per_message(app, category):
    """The renderer calls the wrapper for the HTML and again for the text part."""
    links = email_tracking("email", "k:1:email", DeliveryJob("t", ("email",), category=category),
                           SimpleNamespace(content=SimpleNamespace(topic=None)), 5)
    urls = [f"https://shop.test/p/{i}" for i in range(20)]
    first, second = [links.link_wrapper(u) for u in urls], [links.link_wrapper(u) for u in urls]
    assert all(a is b for a, b in zip(first, second)) and len(set(first)) == 20
    assert [tracking.read_click(u.rsplit("/", 1)[1]).url for u in first] == urls
    assert links.link_wrapper("myapp://orders/1") == "myapp://orders/1"
    assert ("unsubscribe_url" in links.message) == (category == "marketing")
