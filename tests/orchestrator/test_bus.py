"""The live bus: in-process fan-out, and Redis pub/sub against a real Redis."""
from __future__ import annotations

import threading

import pytest

from orchestrator.bus import LocalBus, RedisBus


def test_local_bus_fans_out_to_each_subscriber_of_a_channel():
    bus = LocalBus()
    a, b, other = bus.subscribe("inbox:1"), bus.subscribe("inbox:1"), bus.subscribe("inbox:2")
    threading.Thread(target=bus.publish, args=("inbox:1", {"type": "item", "id": 1})).start()
    assert a.get(timeout=2) == {"type": "item", "id": 1}
    assert b.get(timeout=2) == {"type": "item", "id": 1}
    assert other.get(timeout=0.05) is None
    a.close()
    assert bus.subscriber_count("inbox:1") == 1
    b.close()
    other.close()
    assert bus.subscriber_count("inbox:1") == 0


def test_redis_bus_delivers_across_clients(redis_url):
    import redis

    namespace = "chorus-test-bus"
    publisher = RedisBus(redis.Redis.from_url(redis_url), namespace)
    listener = RedisBus(redis.Redis.from_url(redis_url), namespace)
    with listener.subscribe("inbox:7") as subscription, listener.subscribe("inbox:8") as elsewhere:
        publisher.publish("inbox:7", {"type": "counts", "unread": 2})
        assert subscription.get(timeout=2) == {"type": "counts", "unread": 2}
        assert elsewhere.get(timeout=0.05) is None


@pytest.mark.parametrize("broker", ["inprocess", "redis"])
def test_app_picks_the_bus_from_the_broker_setting(broker):
    from flask import Flask

    from orchestrator.bus import get_bus

    app = Flask("t")
    app.config.update(BROKER=broker, REDIS_URL="redis://127.0.0.1:6379/15", QUEUE_NAMESPACE="x")
    bus = get_bus(app)
    assert isinstance(bus, LocalBus if broker == "inprocess" else RedisBus)
    assert get_bus(app) is bus
