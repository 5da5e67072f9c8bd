"""The real firebase-admin SDK against the loopback FCM v1 API and OAuth token endpoint."""

import time
from dataclasses import dataclass, field

import pytest

from channels import Accepted, ChannelSettings, Envelope, Failed, PushChannel
from tests.fakes.fcm_server import make_service_account


@dataclass
class RenderedPush:
    title: str
    body: str
    image_url: str | None = None
    deep_link: str | None = None
    data: dict = field(default_factory=dict)
    sound: str | None = None
    badge: int | None = None
    priority: str | None = None
    ttl_seconds: int | None = None
    collapse_key: str | None = None
    payload_size: int = 120


def push(message_id, token, **content):
    return Envelope(message_id, f"c:1:{message_id}:push", token, RenderedPush(**{"title": "Sale", "body": "20% off", **content}))


def test_success_builds_every_platform_from_the_template(push_channel, fcm):
    content = dict(image_url="https://cdn.example/p.png", deep_link="https://shop.example/sale",
                   data={"sku": "A1", "qty": 2}, sound="default", badge=3)
    [result] = push_channel.send_batch([push(7, "token-1", **content)])
    assert isinstance(result, Accepted)
    assert result.provider_id.startswith(f"projects/{fcm.project_id}/messages/")
    [sent] = fcm.sends()
    assert sent["token"] == "token-1"
    assert sent["notification"] == {"title": "Sale", "body": "20% off", "image": "https://cdn.example/p.png"}
    assert sent["data"] == {"sku": "A1", "qty": "2", "deep_link": "https://shop.example/sale", "chorus_message_id": "7"}
    assert sent["android"] == {"priority": "high", "notification": {"sound": "default", "image": "https://cdn.example/p.png"}}
    assert sent["apns"]["payload"]["aps"] == {"sound": "default", "badge": 3, "mutable-content": 1}
    assert sent["apns"]["fcm_options"] == {"image": "https://cdn.example/p.png"}
    assert sent["webpush"] == {"fcm_options": {"link": "https://shop.example/sale"}}


def test_the_templates_delivery_options_reach_every_platform(push_channel, fcm):
    before = int(time.time())
    [result] = push_channel.send_batch([push(8, "token-1", priority="normal", ttl_seconds=3600,
                                             collapse_key="weekly-offer")])
    assert result.ok
    [sent] = fcm.sends()
    assert sent["android"] == {"priority": "normal", "ttl": "3600s", "collapse_key": "weekly-offer"}
    headers = sent["apns"]["headers"]
    assert headers["apns-priority"] == "5" and headers["apns-collapse-id"] == "weekly-offer"
    assert before + 3600 <= int(headers["apns-expiration"]) <= int(time.time()) + 3600
    assert sent["webpush"] == {"headers": {"TTL": "3600", "Urgency": "normal"}}


def test_a_zero_ttl_means_now_or_never(push_channel, fcm):
    push_channel.send_batch([push(9, "token-1", ttl_seconds=0)])
    [sent] = fcm.sends()
    assert sent["android"]["ttl"] == "0s" and sent["apns"]["headers"]["apns-expiration"] == "0"
    assert sent["android"]["priority"] == "high", "no priority chosen: urgent, as before"


def test_the_service_account_jwt_is_exchanged_for_a_bearer_token(push_channel, fcm):
    push_channel.send_batch([push(1, "token-1")])
    fcm.revoke_access_tokens()  # forces the SDK through the JWT exchange again
    fcm.reset()
    [result] = push_channel.send_batch([push(2, "token-2")])
    assert result.ok
    exchange, *_ = [r for r in fcm.requests if r.path == "/token"]
    assert exchange.form()["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    send = [r for r in fcm.requests if r.path.endswith("messages:send")][-1]
    assert send.headers["Authorization"].startswith("Bearer ya29.fake-")


def test_dead_tokens_are_permanent_and_marked_for_removal(push_channel, fcm):
    fcm.fail_token("uninstalled", "UNREGISTERED")
    fcm.fail_token("other-project", "SENDER_ID_MISMATCH")
    fcm.fail_token("malformed", "INVALID_ARGUMENT")
    ok, gone, mismatch, malformed = push_channel.send_batch(
        [push(1, "token-1"), push(2, "uninstalled"), push(3, "other-project"), push(4, "malformed")]
    )
    assert ok.ok
    assert (gone.error.code, gone.error.address_invalid) == ("UNREGISTERED", True)
    assert (mismatch.error.code, mismatch.error.address_invalid) == ("SENDER_ID_MISMATCH", True)
    assert not malformed.transient and not malformed.error.address_invalid


@pytest.mark.parametrize("fcm_code", ["QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL"])
def test_quota_and_server_errors_are_transient_and_sent_once(push_channel, fcm, fcm_code):
    fcm.fail_token("busy", fcm_code)
    [result] = push_channel.send_batch([push(1, "busy")])
    assert isinstance(result, Failed) and result.transient
    if fcm_code != "INTERNAL":
        assert result.error.retry_after == 30.0
    # The SDK's own urllib3 retry would have re-sent a 500/503 up to four times.
    assert len(fcm.sends()) == 1


def test_large_batches_go_in_chunks_and_keep_order(fcm):
    channel = PushChannel(ChannelSettings(fcm_service_account=fcm.service_account, fcm_api_url=fcm.url), chunk_size=3)
    fcm.fail_token("token-4", "UNREGISTERED")
    try:
        results = channel.send_batch([push(i, f"token-{i}") for i in range(8)])
    finally:
        channel.close()
    assert [r.message_id for r in results] == list(range(8))
    assert [r.ok for r in results] == [True] * 4 + [False] + [True] * 3
    assert sorted(s["token"] for s in fcm.sends()) == sorted(f"token-{i}" for i in range(8))


def test_bad_messages_fail_alone_before_the_provider(push_channel, fcm):
    big, blank, bad_badge, ok = push_channel.send_batch([
        push(1, "token-1", payload_size=5000),
        push(2, "   "),
        push(3, "token-3", badge="lots"),
        push(4, "token-4"),
    ])
    assert big.error.code == "payload_too_large"
    assert blank.error.code == "invalid_address"
    assert bad_badge.error.code == "INVALID_ARGUMENT"  # the SDK's own validation, kept to one envelope
    assert ok.ok and [s["token"] for s in fcm.sends()] == ["token-4"]


def test_a_non_https_deep_link_travels_in_data_only(push_channel, fcm):
    assert push_channel.send_batch([push(1, "token-1", deep_link="myapp://orders/1")])[0].ok
    [sent] = fcm.sends()
    assert sent["data"]["deep_link"] == "myapp://orders/1" and "webpush" not in sent


def test_an_untrusted_key_fails_the_whole_chunk_as_transient(fcm):
    stranger = make_service_account(fcm.token_url, fcm.project_id)  # never trusted by the fake
    channel = PushChannel(ChannelSettings(fcm_service_account=stranger, fcm_api_url=fcm.url))
    try:
        results = channel.send_batch([push(1, "token-1"), push(2, "token-2")])
    finally:
        channel.close()
    assert all(r.transient for r in results)
    assert fcm.sends() == []
