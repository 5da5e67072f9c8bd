"""Open pixel, click redirect and one-click unsubscribe through HTTP, on both databases."""
from __future__ import annotations

from sqlalchemy import select

from orchestrator.db import db
from orchestrator.models import AuditEntry, Contact, Message, MessageEvent, Preference
from orchestrator.services import tracking
from tests.orchestrator.webhooks.conftest import add_contact, add_message


def path_of(url: str) -> str:
    return url.removeprefix("https://chorus.test")


def reload(message):
    db.session.expire_all()
    return db.session.get(Message, message.id)


def test_open_pixel_records_opened_once_and_is_never_cached(app):
    message = add_message("e1", channel="email", status="sent")
    client = app.test_client()
    pixel = path_of(tracking.open_pixel_url(message.id))
    for _ in range(2):
        r = client.get(pixel)
        assert r.status_code == 200 and r.mimetype == "image/gif" and r.data.startswith(b"GIF89a")
        assert "no-store" in r.headers["Cache-Control"]
    message = reload(message)
    assert message.status == "opened" and message.opened_at and message.delivered_at
    assert db.session.scalars(select(MessageEvent.status).where(MessageEvent.message_id == message.id)).all() == ["opened"]


def test_click_redirects_records_clicked_and_keeps_every_click(app):
    message = add_message("e2", channel="email", status="sent")
    client = app.test_client()
    first = path_of(tracking.click_url(message.id, "https://shop.test/sale?x=1"))
    second = path_of(tracking.click_url(message.id, "https://shop.test/other"))
    assert client.head(first).status_code == 302
    assert reload(message).status == "sent", "a HEAD probe (link scanner) is not a click"
    r = client.get(first)
    assert r.status_code == 302 and r.headers["Location"] == "https://shop.test/sale?x=1"
    client.get(second)
    message = reload(message)
    assert message.status == "clicked" and message.opened_at and message.clicked_at
    rows = db.session.execute(select(MessageEvent.status, MessageEvent.detail)
                              .where(MessageEvent.message_id == message.id).order_by(MessageEvent.id)).all()
    assert [(s, d["url"]) for s, d in rows] == [("clicked", "https://shop.test/sale?x=1"),
                                                ("clicked", "https://shop.test/other")]
    # An open reported after the click does not move it back.
    client.get(path_of(tracking.open_pixel_url(message.id)))
    assert reload(message).status == "clicked"


def test_tampered_tracking_tokens_are_404_never_a_redirect(app):
    message = add_message("e3", channel="email", status="sent")
    client = app.test_client()
    click = path_of(tracking.click_url(message.id, "https://shop.test/"))
    for bad in (click[:-3] + "xyz", "/t/c/" + "A" * 40, path_of(tracking.open_pixel_url(message.id)).replace("/t/o/", "/t/c/")):
        r = client.get(bad)
        assert r.status_code == 404 and "Location" not in r.headers
    assert client.get("/t/o/garbage").status_code == 404
    assert reload(message).status == "sent"


def test_unsubscribe_get_confirms_post_unsubscribes_idempotently(app):
    contact = add_contact("u1", email="u1@example.com")
    url = path_of(tracking.unsubscribe_url(contact.id, message_id=12))
    client = app.test_client()
    page = client.get(url)
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert '<form method="post">' in html and "<button" in html and "<script" not in html
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).unsubscribed_all is False, "GET never unsubscribes"
    # RFC 8058 one-click, as a mailbox provider sends it: no cookie, no CSRF token, no redirect.
    for _ in range(2):
        r = client.post(url, data={"List-Unsubscribe": "One-Click"})
        assert r.status_code == 200 and "Location" not in r.headers
        assert "You are unsubscribed" in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).unsubscribed_all is True
    details = db.session.scalars(select(AuditEntry.details).where(AuditEntry.action == "contact.unsubscribed")).all()
    assert details[0] == {"topic": None, "message_id": 12, "source": "one_click"}


def test_topic_unsubscribe_only_leaves_that_topic(app, api):
    api.post("/v1/topics", json={"key": "promotions", "name": "Promotions"})
    contact = add_contact("u2")
    url = path_of(tracking.unsubscribe_url(contact.id, topic="promotions"))
    client = app.test_client()
    assert "Promotions" in client.get(url).get_data(as_text=True)
    assert client.post(url, data={"confirm": "yes"}).status_code == 200
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).unsubscribed_all is False
    pref = db.session.scalar(select(Preference).where(Preference.contact_id == contact.id))
    assert (pref.kind, pref.key, pref.opted_in) == ("topic", "promotions", False)


def test_bad_unsubscribe_token_and_erased_contact(app):
    client = app.test_client()
    r = client.get("/u/not-a-token")
    assert r.status_code == 404 and "not valid" in r.get_data(as_text=True)
    assert client.post("/u/not-a-token").status_code == 404
    gone = path_of(tracking.unsubscribe_url(987654))
    assert client.post(gone, data={"List-Unsubscribe": "One-Click"}).status_code == 200


def test_compact_tokens_find_the_message_by_its_idempotency_key(app):
    """The pipeline signs links before the row exists: they name it by key, not id."""
    message = add_message("campaign:1:0:5:email", channel="email", status="sent")
    signer = tracking.link_signer()
    prefix = signer.message_prefix(message.idempotency_key)
    client = app.test_client()
    assert client.get(path_of(signer.open_pixel_url(prefix))).status_code == 200
    assert reload(message).status == "opened"
    r = client.get(path_of(signer.click_url(prefix, "https://shop.test/a?x=1&y=é")))
    assert r.status_code == 302 and r.headers["Location"] == "https://shop.test/a?x=1&y=%C3%A9"
    assert reload(message).status == "clicked"


def test_compact_tokens_tampered_crossed_or_stale(app):
    message = add_message("campaign:1:0:6:email", channel="email", status="sent")
    signer = tracking.link_signer()
    prefix = signer.message_prefix(message.idempotency_key)
    click = path_of(signer.click_url(prefix, "https://shop.test/"))
    payload, mac = click.removeprefix("/t/c/").split(".")
    forged = signer.message_prefix("campaign:1:0:7:email")  # another message, the same MAC
    client = app.test_client()
    for bad in ("/t/c/" + payload[:-2] + "AA." + mac, "/t/c/" + tracking._b64(forged) + "." + mac,
                path_of(signer.open_pixel_url(prefix)).replace("/t/o/", "/t/c/"),
                click.replace("/t/c/", "/u/")):
        assert client.get(bad).status_code == 404
        assert client.post(bad).status_code in (404, 405)
    # Older than TRACKING_MAX_AGE: still redirects, records nothing.
    stale = signer.message_prefix(message.idempotency_key, issued=1_000_000_000)
    r = client.get(path_of(signer.click_url(stale, "https://shop.test/old")))
    assert r.status_code == 302 and r.headers["Location"] == "https://shop.test/old"
    client.get(path_of(signer.open_pixel_url(stale)))
    # A link to a message that is gone still takes the person where they were going.
    assert client.get(path_of(signer.click_url(signer.message_prefix("gone"), "https://shop.test/"))).status_code == 302
    assert reload(message).status == "sent"
