"""The real twilio SDK against the loopback Twilio API."""

import base64
import socket

import pytest

from channels import Accepted, Envelope, Failed, SmsChannel
from channels.twilio_sms import classify_twilio_error
from tests.channels.conftest import PUBLIC_URL, twilio_settings
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, MESSAGING_SERVICE_SID


def sms(message_id, to, text="Your code is 123456", segments=1):
    return Envelope(message_id, f"otp:{message_id}", to, {"text": text, "encoding": "GSM-7", "segments": segments})


def test_success_sends_through_the_messaging_service_with_a_status_callback(sms_channel, twilio):
    [result] = sms_channel.send_batch([sms(1, "+1 415 555 2671")])
    assert isinstance(result, Accepted)
    assert result.provider_id.startswith("SM") and len(result.provider_id) == 34
    [request] = twilio.requests
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert base64.b64decode(request.headers["Authorization"][6:]).decode() == f"{ACCOUNT_SID}:{AUTH_TOKEN}"
    assert request.form() == {
        "To": "+14155552671",
        "Body": "Your code is 123456",
        "MessagingServiceSid": MESSAGING_SERVICE_SID,
        "StatusCallback": f"{PUBLIC_URL}/webhooks/twilio/status?m=1",
    }


def test_without_a_messaging_service_it_sends_from_the_number(twilio):
    channel = SmsChannel(twilio_settings(twilio, twilio_messaging_service_sid=None, twilio_from_number="+14155550100", public_url=None))
    try:
        assert channel.send_batch([sms(1, "+14155552671")])[0].ok
    finally:
        channel.close()
    form = twilio.sent()[0]
    assert form["From"] == "+14155550100" and "MessagingServiceSid" not in form and "StatusCallback" not in form


def test_a_batch_keeps_envelope_order_and_isolates_failures(sms_channel, twilio):
    numbers = ["+14155552671", "+15005550001", "+15005550004", "+15005550003", "+15005550009", "nonsense", "+33612345678"]
    results = sms_channel.send_batch([sms(i, n) for i, n in enumerate(numbers)])
    assert [r.message_id for r in results] == list(range(len(numbers)))
    ok, invalid, opted_out, region, landline, nonsense, france = results
    assert ok.ok and france.ok
    assert (invalid.error.code, invalid.error.address_invalid, invalid.error.opt_out) == ("21211", True, False)
    assert (opted_out.error.code, opted_out.error.address_invalid, opted_out.error.opt_out) == ("21610", False, True)
    assert region.error.code == "21408" and not region.error.address_invalid
    assert landline.error.code == "21614" and landline.error.address_invalid
    assert nonsense.error.code == "invalid_address"
    assert len(twilio.requests) == 6  # the unparseable number never left the process


def test_rate_limit_is_transient_with_retry_after(sms_channel, twilio):
    twilio.fail_next(429, 20429, retry_after=12)
    [result] = sms_channel.send_batch([sms(1, "+14155552671")])
    assert isinstance(result, Failed) and result.transient
    assert (result.error.code, result.error.retry_after) == ("20429", 12.0)


def test_server_errors_are_transient_and_never_resent_by_the_http_layer(sms_channel, twilio):
    twilio.fail_next(500, 20500)
    twilio.fail_next(503, 30001)
    results = sms_channel.send_batch([sms(1, "+14155552671")]) + sms_channel.send_batch([sms(2, "+14155552671")])
    assert all(r.transient and r.error.retry_after is None for r in results)
    assert len(twilio.requests) == 2


def test_timeouts_and_refused_connections_are_transient(twilio):
    channel = SmsChannel(twilio_settings(twilio, twilio_timeout=0.2))
    twilio.delay_next(1.0)
    try:
        [result] = channel.send_batch([sms(1, "+14155552671")])
    finally:
        channel.close()
    assert result.transient and result.error.code == "timeout"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    channel = SmsChannel(twilio_settings(twilio, twilio_api_url=dead_url))
    try:
        [result] = channel.send_batch([sms(2, "+14155552671")])
    finally:
        channel.close()
    assert result.transient and result.error.code == "network"


def test_wrong_credentials_are_transient_so_a_fixed_config_can_retry(twilio):
    channel = SmsChannel(twilio_settings(twilio, twilio_auth_token="wrong"))
    try:
        [result] = channel.send_batch([sms(1, "+14155552671")])
    finally:
        channel.close()
    assert result.transient and result.error.code == "20003"


def test_too_many_segments_and_empty_text_fail_before_the_provider(sms_channel, twilio):
    long, empty = sms_channel.send_batch([sms(1, "+14155552671", "x" * 2000, segments=14), sms(2, "+14155552671", "")])
    assert long.error.code == "too_long" and empty.error.code == "empty"
    assert twilio.requests == []


def test_status_callbacks_go_to_the_url_the_send_asked_for(sms_channel, twilio):
    from tests.fakes.loopback import LoopbackServer, Reply

    class Receiver(LoopbackServer):
        def handle(self, request):
            return Reply(204)

    with Receiver() as receiver:
        channel = SmsChannel(twilio_settings(twilio, public_url=receiver.url))
        try:
            [result] = channel.send_batch([sms(1, "+14155552671")])
        finally:
            channel.close()
        assert twilio.post_status(result.provider_id, "delivered").status_code == 204
        [callback] = receiver.requests
    assert callback.path == "/webhooks/twilio/status" and callback.query == {"m": ["1"]}
    assert callback.form()["MessageSid"] == result.provider_id
    assert callback.form()["MessageStatus"] == "delivered"


@pytest.mark.parametrize(
    ("http_status", "code", "kind"),
    [(400, 21211, "address"), (400, 21612, "address"), (400, 21610, "opt_out"), (400, 21602, "permanent"),
     (429, 20429, "transient"), (503, None, "transient"), (401, 20003, "transient")],
)
def test_error_classification(http_status, code, kind):
    error = classify_twilio_error(http_status, code, "text")
    assert {
        "address": lambda: error.address_invalid,
        "opt_out": lambda: error.opt_out and not error.address_invalid,
        "permanent": lambda: not hasattr(error, "retry_after") and not error.address_invalid,
        "transient": lambda: hasattr(error, "retry_after"),
    }[kind]()


@pytest.mark.usefixtures("no_proxy_environment")
def test_proxy_and_ca_settings_are_read_once_when_the_client_is_built(twilio, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/chorus/corporate-ca.pem")
    proxied = SmsChannel(twilio_settings(twilio))
    session = proxied.http_client.session
    assert session.proxies["http"] == "http://proxy.internal:3128"
    assert session.verify == "/etc/chorus/corporate-ca.pem" and session.trust_env is False
    proxied.close()

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    channel = SmsChannel(twilio_settings(twilio))
    try:
        assert "http" not in channel.http_client.session.proxies  # NO_PROXY holds for the loopback
        # Changed afterwards, the environment is not read again on each send.
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        monkeypatch.delenv("NO_PROXY")
        assert channel.send_batch([sms(1, "+14155552671")])[0].ok
    finally:
        channel.close()


@pytest.mark.usefixtures("no_proxy_environment")
def test_a_send_goes_through_the_configured_proxy_with_its_form_and_basic_auth(twilio, monkeypatch):
    """The HTTP client sends through the session's adapter itself (not Session.send): the
    proxy, the form body and the credentials must still be the ones requests would use."""
    monkeypatch.setenv("HTTP_PROXY", twilio.url)  # the loopback Twilio answers absolute-form requests too
    channel = SmsChannel(twilio_settings(twilio, twilio_api_url="http://api.twilio.invalid"))
    try:
        result = channel.send_batch([sms(7, "+14155552671", text="Ünïcode & more=yes")])[0]
    finally:
        channel.close()
    assert result.ok, result
    (sent,) = twilio.sent()
    assert sent["To"] == "+14155552671" and sent["Body"] == "Ünïcode & more=yes"
    assert sent["MessagingServiceSid"] == MESSAGING_SERVICE_SID and "From" not in sent
