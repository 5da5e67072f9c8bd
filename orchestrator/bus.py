"""Live pub/sub for the in-app stream: Redis pub/sub across processes, or in-process fan-out.

`CHORUS_BROKER=inprocess` (embedded mode) runs workers and web in one process and must work
without Redis, so it gets a queue per subscriber; `redis` and `rabbitmq` modes run workers
in other processes, so they need Redis pub/sub. Pub/sub is fire-and-forget: a client that was
not listening catches up from the database (the stream replays by Last-Event-ID).
"""
from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any, Protocol

from flask import current_app


class Subscription(Protocol):
    def get(self, timeout: float) -> dict | None:
        """The next payload, or None when ``timeout`` seconds pass without one."""

    def close(self) -> None: ...


class LocalSubscription:
    def __init__(self, bus: "LocalBus", channel: str):
        self.bus, self.channel = bus, channel
        self.queue: queue.Queue[dict] = queue.Queue(maxsize=1000)

    def get(self, timeout: float) -> dict | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self.bus._remove(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LocalBus:
    """Fan-out to every subscriber of a channel inside this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, set[LocalSubscription]] = {}

    def publish(self, channel: str, payload: dict) -> None:
        # JSON round trip: subscribers get the same plain data Redis would give them.
        data = json.loads(json.dumps(payload, default=str))
        with self._lock:
            targets = list(self._subscribers.get(channel, ()))
        for subscription in targets:
            try:
                subscription.queue.put_nowait(data)
            except queue.Full:  # a stuck reader loses live updates, not the process's memory
                pass

    def subscribe(self, channel: str) -> LocalSubscription:
        subscription = LocalSubscription(self, channel)
        with self._lock:
            self._subscribers.setdefault(channel, set()).add(subscription)
        return subscription

    def _remove(self, subscription: LocalSubscription) -> None:
        with self._lock:
            subscribers = self._subscribers.get(subscription.channel)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscribers[subscription.channel]

    def subscriber_count(self, channel: str) -> int:
        with self._lock:
            return len(self._subscribers.get(channel, ()))


class RedisSubscription:
    def __init__(self, client, channel: str):
        self.pubsub = client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(channel)

    def get(self, timeout: float) -> dict | None:
        # get_message returns None early when it reads a (ignored) subscribe confirmation.
        deadline = time.monotonic() + timeout
        while True:
            message = self.pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
            if message is not None and message.get("type") == "message":
                return json.loads(message["data"])
            if time.monotonic() >= deadline:
                return None

    def close(self) -> None:
        try:
            self.pubsub.close()
        except Exception:  # closing a dead connection must not fail the request's teardown
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class RedisBus:
    def __init__(self, client, namespace: str):
        self.client = client
        self.namespace = namespace

    def _name(self, channel: str) -> str:
        return f"{self.namespace}:bus:{channel}"

    def publish(self, channel: str, payload: dict) -> None:
        self.client.publish(self._name(channel), json.dumps(payload, default=str))

    def subscribe(self, channel: str) -> RedisSubscription:
        return RedisSubscription(self.client, self._name(channel))


Bus = LocalBus | RedisBus


def get_bus(app=None) -> Any:
    """This app's bus, built once."""
    app = app or current_app._get_current_object()
    bus = app.extensions.get("chorus_bus")
    if bus is None:
        if app.config["BROKER"] == "inprocess":
            bus = LocalBus()
        else:
            import redis

            # No socket timeout: a subscriber waits in get_message(timeout=...) instead.
            client = redis.Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=2,
                                          health_check_interval=30)
            bus = RedisBus(client, app.config["QUEUE_NAMESPACE"])
        bus = app.extensions.setdefault("chorus_bus", bus)
    return bus


def publish(channel: str, payload: dict, app=None) -> None:
    get_bus(app).publish(channel, payload)


def subscribe(channel: str, app=None) -> Subscription:
    return get_bus(app).subscribe(channel)
