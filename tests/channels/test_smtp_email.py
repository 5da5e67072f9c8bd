"""smtplib against a real aiosmtpd server."""

import socket

import pytest

from channels import Accepted, EmailChannel, Envelope
from tests.channels.conftest import smtp_settings
from tests.fakes.smtp_server import FakeSmtp

CONTENT = {
    "subject": "Spring sale",
    "preheader": "20% off",
    "html": "<p>Hello <b>Ada</b></p>",
    "text": "Hello Ada",
    "from_name": None,
    "from_address": None,
    "reply_to": "help@chorus.example",
}


def mail(message_id, to, category="transactional", **metadata):
    return Envelope(message_id, f"c:1:{message_id}:email", to, CONTENT, {"category": category, **metadata})


def test_success_sends_multipart_text_and_html(email_channel, smtp):
    [result] = email_channel.send_batch([mail(1, "Ada@Example.com")])
    assert isinstance(result, Accepted)
    [received] = smtp.messages
    message = received.message
    assert received.recipients == ["Ada@example.com"]
    assert received.mail_from == "news@chorus.example"
    assert message["Message-ID"] == result.provider_id
    assert message["From"] == "Chorus News <news@chorus.example>"
    assert message["Reply-To"] == "help@chorus.example"
    assert message["Subject"] == "Spring sale"
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert message.get_body(("plain",)).get_content().strip() == "Hello Ada"
    assert "<b>Ada</b>" in message.get_body(("html",)).get_content()
    assert "List-Unsubscribe" not in message


def test_marketing_mail_carries_one_click_unsubscribe(email_channel, smtp):
    email_channel.send_batch([
        mail(1, "ada@example.com", "marketing", unsubscribe_url="https://chorus.example/u/signed-token"),
        mail(2, "bob@example.com", "marketing", unsubscribe_url="http://localhost:5000/u/signed-token"),
    ])
    https, plain = (m.message for m in smtp.messages)
    assert https["List-Unsubscribe"] == "<https://chorus.example/u/signed-token>"
    assert https["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert plain["List-Unsubscribe"] == "<http://localhost:5000/u/signed-token>"
    assert "List-Unsubscribe-Post" not in plain  # RFC 8058 one-click needs HTTPS


def test_one_connection_serves_the_whole_batch_and_failures_stay_per_recipient(email_channel, smtp):
    smtp.reject("gone@example.com", "550 5.1.1 No such user here")
    smtp.reject("full@example.com", "452 4.2.2 Mailbox full")
    smtp.reject("policy@example.com", "554 5.7.1 Message refused by policy")
    results = email_channel.send_batch([
        mail(1, "ada@example.com"), mail(2, "gone@example.com"), mail(3, "full@example.com"),
        mail(4, "policy@example.com"), mail(5, "bad address"), mail(6, "bob@example.com"),
    ])
    ok, gone, full, policy, bad, ok2 = results
    assert ok.ok and ok2.ok
    assert (gone.error.code, gone.error.address_invalid) == ("550", True)
    assert full.transient and full.error.code == "452"
    assert not policy.transient and policy.error.code == "554" and not policy.error.address_invalid
    assert bad.error.code == "invalid_address"
    assert [m.recipients for m in smtp.messages] == [["ada@example.com"], ["bob@example.com"]]
    assert smtp.connections == 1


# Under implicit TLS aiosmtpd cannot tell the session is encrypted (see tests/fakes/smtp_server.py).
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_and_auth(security):
    with FakeSmtp(security, users={"chorus": "s3cret"}) as server:
        channel = EmailChannel(smtp_settings(server, smtp_username="chorus", smtp_password="s3cret"), server.client_context)
        assert channel.send_batch([mail(1, "ada@example.com"), mail(2, "bob@example.com")])[1].ok
        assert len(server.messages) == 2 and server.connections == 1

        wrong = EmailChannel(smtp_settings(server, smtp_username="chorus", smtp_password="nope"), server.client_context)
        results = wrong.send_batch([mail(3, "ada@example.com"), mail(4, "bob@example.com")])
        assert all(r.transient and r.error.code == "auth" for r in results)
        assert len(server.messages) == 2


def test_a_dropped_connection_is_reopened_once(email_channel, smtp):
    connection = email_channel.connect()
    connection.close()  # as if the server had timed out an idle connection
    result, reopened = email_channel._send_one(connection, mail(1, "ada@example.com"))
    assert result.ok and reopened is not connection
    reopened.quit()


def test_an_unreachable_server_fails_the_batch_as_transient_without_waiting_per_message():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    channel = EmailChannel(smtp_settings(FakeSmtp(), smtp_host="127.0.0.1", smtp_port=port, smtp_security="none"))
    results = channel.send_batch([mail(1, "ada@example.com"), mail(2, "bob@example.com")])
    assert all(r.transient and r.error.code == "network" for r in results)


def test_unicode_content_arrives_intact_and_a_rendered_newline_cannot_add_a_header(email_channel, smtp):
    content = {**CONTENT, "subject": "Olá, Ana ✓\nBcc: everyone@example.com", "from_name": "Loja Ünica",
               "text": "Até já — 20% off ✓", "html": "<p>Até já — <b>20%</b> ✓</p>"}
    [result] = email_channel.send_batch([Envelope(1, "c:1:1:email", "ana@example.com", content, {})])
    assert isinstance(result, Accepted)
    [received] = smtp.messages
    message = received.message
    assert received.recipients == ["ana@example.com"]
    assert message["Subject"] == "Olá, Ana ✓ Bcc: everyone@example.com"
    assert "Bcc" not in message
    assert message["From"] == "Loja Ünica <news@chorus.example>"
    assert message.get_body(("plain",)).get_content().strip() == "Até já — 20% off ✓"
    assert "<b>20%</b> ✓" in message.get_body(("html",)).get_content()
