from dataclasses import dataclass

import pytest

from channels import Accepted, BatchTooLarge, Envelope, Failed, SandboxChannel
from tests.channels.conftest import MemoryOutbox


@dataclass
class RenderedPush:
    title: str
    body: str
    payload_size: int


def test_records_what_would_be_sent_with_normalised_addresses(outbox):
    channel = SandboxChannel("email", outbox)
    results = channel.send_batch([
        Envelope(1, "c:1:1:email", "Ada@Example.COM", {"subject": "Hi", "html": "<p>Hi</p>", "text": "Hi"}, {"category": "marketing"}),
        Envelope(2, "c:1:2:email", "not-an-address", {"subject": "Hi"}),
    ])
    assert isinstance(results[0], Accepted) and results[0].provider_id.startswith("sandbox-")
    assert isinstance(results[1], Failed) and results[1].error.address_invalid
    [entry] = outbox.entries
    assert (entry.channel, entry.message_id, entry.address) == ("email", 1, "Ada@example.com")
    assert entry.content["subject"] == "Hi" and entry.metadata == {"category": "marketing"}
    assert entry.provider_id == results[0].provider_id and entry.recorded_at.tzinfo is not None


def test_dataclass_content_is_stored_as_a_dict(outbox):
    SandboxChannel("push", outbox).send_batch([Envelope(1, "k", "token-1", RenderedPush("T", "B", 40))])
    assert outbox.entries[0].content == {"title": "T", "body": "B", "payload_size": 40}


def test_magic_addresses_fail_like_the_provider(outbox):
    channel = SandboxChannel("sms", outbox)
    invalid, opted_out, throttled = channel.send_batch([
        Envelope(1, "a", "+15005550001", {"text": "x"}),
        Envelope(2, "b", "+15005550004", {"text": "x"}),
        Envelope(3, "c", "+15005550429", {"text": "x"}),
    ])
    assert invalid.error.code == "21211" and invalid.error.address_invalid
    assert opted_out.error.opt_out and not opted_out.error.address_invalid
    assert throttled.transient and throttled.error.retry_after == 1.0
    assert outbox.entries == []


def test_a_failing_outbox_is_a_transient_error_for_the_batch():
    channel = SandboxChannel("inapp", MemoryOutbox(fail=RuntimeError("db down")))
    results = channel.send_batch([Envelope(1, "a", "42", {"title": "x"}), Envelope(2, "b", "", {"title": "x"})])
    assert results[0].transient
    assert not results[1].transient and results[1].error.code == "invalid_address"


def test_oversized_batches_are_a_caller_bug(outbox):
    channel = SandboxChannel("email", outbox)
    with pytest.raises(BatchTooLarge):
        channel.send_batch([Envelope(i, str(i), "a@example.com", {}) for i in range(channel.max_batch + 1)])
