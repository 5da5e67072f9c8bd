"""Tracking tokens: round trips, purposes kept apart, tampering refused, link rewriting."""
from __future__ import annotations

import pytest
from itsdangerous import URLSafeTimedSerializer

from orchestrator.services import tracking


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_tokens_round_trip_and_are_opaque(sqlite_app):
    click = tracking.click_url(7, "https://shop.test/p?a=1&b=2")
    assert click.startswith("https://chorus.test/t/c/")
    assert tracking.read_click(token_of(click)) == tracking.Click(7, "https://shop.test/p?a=1&b=2", True)
    assert tracking.read_open(token_of(tracking.open_pixel_url(7))) == tracking.Opened(7, True)
    unsub = tracking.unsubscribe_url(3, message_id=7, topic="promotions")
    assert tracking.read_unsubscribe(token_of(unsub)) == tracking.Unsubscribe(3, 7, "promotions")
    assert tracking.read_unsubscribe(token_of(tracking.unsubscribe_url(3))) == tracking.Unsubscribe(3, None, None)


def test_tampered_foreign_and_cross_purpose_tokens_are_refused(sqlite_app):
    click = token_of(tracking.click_url(7, "https://shop.test/"))
    for bad in (click[:-2] + ("AA" if not click.endswith("AA") else "BB"), click[5:], "", "x.y.z",
                token_of(tracking.open_pixel_url(7)),  # an open token is not a click token
                URLSafeTimedSerializer("other-secret", salt="chorus.tracking.click").dumps({"m": 7, "u": "https://evil.test"})):
        with pytest.raises(tracking.BadToken):
            tracking.read_click(bad)
    with pytest.raises(tracking.BadToken):
        tracking.read_unsubscribe(click)


def test_only_web_links_are_tracked(sqlite_app):
    with pytest.raises(ValueError):
        tracking.click_url(1, "javascript:alert(1)")
    signed = URLSafeTimedSerializer("test-secret", salt="chorus.tracking.click").dumps({"m": 1, "u": "data:text/html,x"})
    with pytest.raises(tracking.BadToken):
        tracking.read_click(signed)


def test_expired_click_still_redirects_but_is_not_fresh(sqlite_app, monkeypatch):
    token = token_of(tracking.click_url(9, "https://shop.test/"))
    monkeypatch.setattr(tracking, "TRACKING_MAX_AGE", tracking.timedelta(seconds=-1))
    assert tracking.read_click(token) == tracking.Click(9, "https://shop.test/", False)


def test_track_links_rewrites_web_links_but_not_unsubscribe_or_mailto(sqlite_app):
    unsub = tracking.unsubscribe_url(1, message_id=5)
    html = ('<p><a href="https://shop.test/a?x=1&amp;y=2">Shop</a> <a class="b" href=\'http://b.test\'>B</a>'
            f' <a href="mailto:x@y.test">mail</a> <a href="{unsub}">Unsubscribe</a></p>')
    out = tracking.track_links(html, 5)
    assert out.count("https://chorus.test/t/c/") == 2
    assert f'href="{unsub}"' in out and 'href="mailto:x@y.test"' in out
    first = out.split('href="', 1)[1].split('"', 1)[0]
    assert tracking.read_click(token_of(first)).url == "https://shop.test/a?x=1&y=2"


def test_compact_tokens_are_itsdangerous_signatures_bound_to_the_secret(sqlite_app):
    ours = tracking.link_signer()
    prefix = ours.message_prefix("campaign:1:0:5:email")
    token = token_of(ours.click_url(prefix, "https://shop.test/"))
    assert token.count(".") == 1
    assert ours.read(tracking.CLICK, token, tracking.TRACKING_MAX_AGE)[:2] == ("campaign:1:0:5:email", "https://shop.test/")
    theirs = tracking.LinkSigner("another-secret-of-enough-length-0123456789", ours.base)
    for forged in (token_of(theirs.click_url(prefix, "https://evil.test/")),
                   token_of(theirs.unsubscribe_url(1, "campaign:1:0:5:email"))):
        with pytest.raises(tracking.BadToken):
            tracking.read_click(forged)
        with pytest.raises(tracking.BadToken):
            tracking.read_unsubscribe(forged)


def test_compact_tokens_are_what_a_stock_itsdangerous_signer_makes_and_reads(sqlite_app):
    """The keys set up once change no signature: links already in inboxes keep working, and
    a key rotated in later (itsdangerous's list of secrets) still verifies old links."""
    import hashlib

    from itsdangerous import Signer

    secret = sqlite_app.config["SECRET_KEY"]
    ours = tracking.link_signer()
    prefix = ours.message_prefix("campaign:1:0:5:email", issued=1_700_000_000)
    for purpose, url in ((tracking.CLICK, ours.click_url(prefix, "https://shop.test/")),
                         (tracking.OPEN, ours.open_pixel_url(prefix)),
                         (tracking.UNSUBSCRIBE, ours.unsubscribe_url(5, "campaign:1:0:5:email", "news"))):
        stock = Signer(secret, salt=f"chorus.tracking.compact.{purpose}", key_derivation="hmac",
                       digest_method=hashlib.sha256)
        token = token_of(url)
        payload = stock.unsign(token)  # raises if the stock signer disagrees
        assert stock.sign(payload).decode() == token
        assert ours._signers[purpose].unsign(stock.sign(b"other")) == b"other"
    rotated = tracking._KeyedSigner("x" * 48, "chorus.tracking.compact.click")
    rotated.secret_keys.insert(0, secret.encode())
    old = token_of(ours.click_url(prefix, "https://shop.test/"))
    assert rotated.validate(old) and rotated.sign(b"v") != ours._signers[tracking.CLICK].sign(b"v")
