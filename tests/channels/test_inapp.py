from dataclasses import dataclass

from channels import Accepted, Envelope, InappChannel


@dataclass
class RenderedInapp:
    title: str
    body: str
    image_url: str | None
    primary_action: dict | None
    secondary_action: dict | None


def test_cards_are_stored_then_published_in_order(inbox):
    channel = InappChannel(inbox)
    content = RenderedInapp("Order shipped", "It is on its way", None, {"label": "Track", "url": "/orders/9"}, None)
    results = channel.send_batch([
        Envelope(1, "t:1", "42", content, {"campaign_id": 3}),
        Envelope(2, "t:2", " ", content),
        Envelope(3, "t:3", "43", {"title": "", "body": ""}),
        Envelope(4, "t:4", "44", {"title": "Hi", "body": "there"}),
    ])
    assert [type(r).__name__ for r in results] == ["Accepted", "Failed", "Failed", "Accepted"]
    assert results[0].provider_id == "inbox-1" and results[3].provider_id == "inbox-2"
    assert results[1].error.address_invalid and results[2].error.code == "empty"
    first, second = inbox.items
    assert (first.address, first.title, first.primary_action, first.metadata) == ("42", "Order shipped", {"label": "Track", "url": "/orders/9"}, {"campaign_id": 3})
    assert second.idempotency_key == "t:4"
    assert [item_id for item_id, _ in inbox.published] == [1, 2]


def test_a_store_failure_is_transient_and_a_publish_failure_is_not_a_failure(inbox):
    channel = InappChannel(inbox)
    inbox.fail_publish = ConnectionError("redis down")
    assert isinstance(channel.send_batch([Envelope(1, "k", "42", {"title": "Hi"})])[0], Accepted)
    inbox.fail_add = RuntimeError("db down")
    [result] = channel.send_batch([Envelope(2, "k2", "42", {"title": "Hi"})])
    assert result.transient and result.error.code == "store"
