"""The Redis doorbell: idle consumers sleep on it, every enqueue wakes one, nothing is lost."""
from __future__ import annotations

import threading
import time
import uuid
from unittest import mock

import dramatiq
import pytest
import redis
from dramatiq.message import Message

from orchestrator.doorbell import BELL_TOKENS, DoorbellRedisBroker

pytestmark = pytest.mark.redis

LONG_MS = 30_000  # the consumers' poll: a test that waited for it would take 30 s


@pytest.fixture
def broker(redis_url):
    broker = DoorbellRedisBroker(url=redis_url, namespace=f"chorus-test-{uuid.uuid4().hex[:8]}")
    broker.declare_queue("transactional")
    yield broker
    broker.flush_all()
    for queue in ("transactional", "transactional.DQ"):
        broker.client.delete(broker.bell_key(queue))
    broker.close()


def message(queue="transactional", **options) -> Message:
    return Message(queue_name=queue, actor_name="noop", args=(), kwargs={}, options=options)


def count_fetches(broker) -> list[int]:
    calls = [0]
    fetch = broker.do_fetch

    def counting(*args):
        calls[0] += 1
        return fetch(*args)

    broker.do_fetch = counting
    return calls


def next_in_thread(consumer) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def run():
        out["value"] = next(consumer)
        out["at"] = time.monotonic()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_an_idle_consumer_sleeps_on_the_bell_and_wakes_at_the_enqueue(broker):
    fetches = count_fetches(broker)
    consumer = broker.consume("transactional", prefetch=4, timeout=LONG_MS)
    thread, out = next_in_thread(consumer)
    deadline = time.monotonic() + 10
    while fetches[0] == 0 and time.monotonic() < deadline:  # a loaded machine may start it late
        time.sleep(0.01)
    time.sleep(1.0)
    assert thread.is_alive(), "an empty queue and no bell: the consumer is still asleep"
    assert fetches[0] == 1, "one look at the queue, then no polling"
    enqueued_at = time.monotonic()
    broker.enqueue(message())
    thread.join(timeout=10)
    assert not thread.is_alive() and out["value"] is None, "the bell woke it long before its 30 s poll"
    assert out["at"] - enqueued_at < 10
    received = next(consumer)
    assert received is not None and received.queue_name == "transactional"
    consumer.ack(received)


def test_after_a_short_fetch_the_consumer_waits_on_the_bell_without_fetching_again(broker):
    fetches = count_fetches(broker)
    consumer = broker.consume("transactional", prefetch=4, timeout=LONG_MS)
    received = []
    for expected_fetches in (1, 2):
        thread, out = next_in_thread(consumer)
        time.sleep(0.5)
        assert thread.is_alive() and fetches[0] == expected_fetches, "asleep on the bell after one look"
        broker.enqueue(message())
        thread.join(timeout=10)
        assert not thread.is_alive() and out["value"] is None, "the enqueue's bell woke it"
        received.append(next(consumer))
        assert received[-1] is not None and fetches[0] == expected_fetches + 1
    # The second wait came straight after a fetch that found one message of the four asked for:
    # the queue was empty then, and the next enqueue was bound to ring.
    assert received[0].message_id != received[1].message_id
    for taken in received:
        consumer.ack(taken)


def test_a_delayed_message_rings_the_delay_queue(broker):
    consumer = broker.consume("transactional.DQ", prefetch=4, timeout=LONG_MS)
    thread, _ = next_in_thread(consumer)
    time.sleep(0.3)
    broker.enqueue(message(), delay=50)
    thread.join(timeout=10)
    assert not thread.is_alive()
    held = next(consumer)
    assert held is not None and held.options["eta"] > 0


def test_a_consumer_holding_delayed_messages_comes_back_soon(broker):
    # Dramatiq releases a held delayed message only between two fetches of its consumer.
    consumer = broker.consume("transactional.DQ", prefetch=4, timeout=LONG_MS)
    broker.enqueue(message(), delay=60_000)
    assert next(consumer) is not None
    started = time.monotonic()
    assert next(consumer) is None
    assert time.monotonic() - started < 10, "not the 30 s poll: the held message's time may come"


def test_the_bell_keeps_a_bounded_number_of_tokens(broker):
    for _ in range(BELL_TOKENS * 3):
        broker.ring("transactional")
    assert broker.client.llen(broker.bell_key("transactional")) == BELL_TOKENS


def test_a_ring_is_one_round_trip_whether_the_bell_is_full_or_not(broker):
    trips = []
    single, pipelined = broker.client.execute_command, redis.client.Pipeline.execute
    broker.client.execute_command = lambda *args, **kwargs: trips.append(args[0]) or single(*args, **kwargs)
    with mock.patch.object(redis.client.Pipeline, "execute",
                           lambda pipe, *a, **k: trips.append("pipeline") or pipelined(pipe, *a, **k)):
        broker.ring("transactional")
        assert trips == ["LPUSH"], "a bell consumers take from: one command"
        for _ in range(BELL_TOKENS):
            broker.ring("transactional")
        trips.clear()
        broker.ring("transactional")
        broker.ring("transactional")
        assert trips == ["pipeline", "pipeline"], "a full bell: LPUSH and LTRIM in one round trip"
        assert broker.client.llen(broker.bell_key("transactional")) == BELL_TOKENS
        broker.client.delete(broker.bell_key("transactional"))  # consumers took the tokens
        trips.clear()
        broker.ring("transactional")
        broker.ring("transactional")
        assert trips == ["pipeline", "LPUSH"], "back to one command once the bell has room"


def test_messages_put_back_by_a_stopping_worker_wake_another(broker):
    first = broker.consume("transactional", prefetch=4, timeout=LONG_MS)
    broker.enqueue(message())
    taken = next(first)
    assert taken is not None
    broker.client.delete(broker.bell_key("transactional"))
    second = broker.consume("transactional", prefetch=4, timeout=LONG_MS)
    thread, _ = next_in_thread(second)
    time.sleep(0.3)
    first.requeue([taken])
    thread.join(timeout=10)
    assert not thread.is_alive()
    again = next(second)
    assert again is not None and again.message_id == taken.message_id


def test_a_dramatiq_worker_on_the_doorbell_runs_each_message_promptly(broker):
    done = []

    @dramatiq.actor(queue_name="transactional", broker=broker, actor_name=f"note_{uuid.uuid4().hex[:6]}")
    def note(n):
        done.append((n, time.monotonic()))

    # A stopping worker waits out its consumers' sleep on the bell: a shorter poll here.
    poll_ms = 5_000
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=poll_ms)
    worker.start()
    try:
        time.sleep(0.5)  # the consumers are asleep on the bell now
        sent = {}
        for n in range(5):
            sent[n] = time.monotonic()
            note.send(n)
            time.sleep(0.1)
        deadline = time.monotonic() + 20
        while len(done) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sorted(n for n, _ in done) == [0, 1, 2, 3, 4]
        assert all(at - sent[n] < poll_ms / 1000 * 0.8 for n, at in done), "each woke the worker, no poll"
    finally:
        worker.stop()


def test_a_socket_timeout_shorter_than_the_wait_is_just_a_timeout(redis_url):
    broker = DoorbellRedisBroker(url=redis_url + "?socket_timeout=0.2", namespace=f"chorus-test-{uuid.uuid4().hex[:8]}")
    try:
        assert broker.wait_for_bell("transactional", 2_000) is False
        broker.ring("transactional")
        assert broker.wait_for_bell("transactional", 2_000) is True
    finally:
        broker.client.delete(broker.bell_key("transactional"))
        broker.close()
