"""Dramatiq's Redis broker with a doorbell: idle workers sleep until something is enqueued.

Dramatiq's Redis consumer finds out about new work by polling: it fetches, and when the queue
is empty sleeps up to the worker timeout before fetching again. The sleep is the floor of an
OTP's latency, and polling often enough to keep that floor low costs an idle worker process a
seventh of a core. Here every enqueue also pushes a token on the queue's doorbell (a short Redis
list), and a consumer that found its queue empty (its fetch brought back fewer messages than
it had room for) blocks on BLPOP of that list for up to the worker timeout: woken within a
Redis round trip, idle otherwise.

Tokens only wake; the queue itself is still Dramatiq's, fetched by its Lua script, so a lost or
extra token costs at most one timeout or one empty fetch, never a message. Messages Dramatiq's
maintenance puts back after a dead worker ring no bell and are found within the timeout.
"""
from __future__ import annotations

import time

import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import dq_name
from dramatiq.errors import ConnectionClosed
from dramatiq.message import Message

# More tokens than this wake nobody extra: every consumer woken fetches a whole prefetch.
BELL_TOKENS = 64
# A consumer whose every prefetch slot is taken looks again this soon (worker threads ack).
BUSY_PAUSE_MS = 10
# A delay queue's consumer thread releases held messages whose time has come only between two
# fetches, so while it holds some it must not sleep long: this is their lateness at most.
HOLDING_PAUSE_MS = 100


class DoorbellRedisBroker(RedisBroker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._full_bells: set[str] = set()  # queues whose bell was at its bound when last rung

    def bell_key(self, queue_name: str) -> str:
        return f"{self.namespace}:{queue_name}.bell"

    def ring(self, queue_name: str) -> None:
        """Push a token, keeping at most BELL_TOKENS.

        LPUSH answers the list's length, so a bell that consumers keep taking tokens from is
        rung with that one command (146 Python calls, where a pipeline of LPUSH and LTRIM is
        260). A bell nobody takes from (every consumer busy or down) fills up; while it is full
        each ring is the pipeline, still one round trip."""
        key = self.bell_key(queue_name)
        if queue_name in self._full_bells:
            with self.client.pipeline(transaction=False) as pipe:
                pipe.lpush(key, 1)
                pipe.ltrim(key, 0, BELL_TOKENS - 1)
                length = pipe.execute()[0]
        else:
            length = self.client.lpush(key, 1)
            if length > BELL_TOKENS:
                self.client.ltrim(key, 0, BELL_TOKENS - 1)
        if length > BELL_TOKENS:
            self._full_bells.add(queue_name)
        else:
            self._full_bells.discard(queue_name)

    def wait_for_bell(self, queue_name: str, timeout_ms: int) -> bool:
        """Block until the queue's bell rings or `timeout_ms` passes; True when it rang."""
        try:
            return self.client.blpop([self.bell_key(queue_name)], timeout=max(timeout_ms, 1) / 1000) is not None
        except redis.TimeoutError:
            # A socket_timeout in CHORUS_REDIS_URL shorter than the wait: as good as a timeout.
            return False

    def enqueue(self, message: Message, *, delay: int | None = None) -> Message:
        enqueued = super().enqueue(message, delay=delay)
        self.ring(enqueued.queue_name)  # the delay queue's bell for a delayed message
        return enqueued

    @property
    def consumer_class(self):
        return DoorbellConsumer


class DoorbellConsumer(_RedisConsumer):
    drained = False  # the last fetch came back short of what was asked

    def __next__(self):
        try:
            while True:
                if self.message_cache:
                    data = self.message_cache.pop(0)
                    if data is None:  # see dramatiq#266: skip, as Dramatiq's own consumer does
                        continue
                    self.misses = 0
                    message = Message.decode(data)
                    self.queued_message_ids.add(message.message_id)
                    return MessageProxy(message)
                free = self.prefetch - self.outstanding_message_count
                if free <= 0:
                    # Every slot is taken and the threads are busy: look again shortly, and
                    # leave the bell's tokens to a consumer that can take the work.
                    time.sleep(BUSY_PAUSE_MS / 1000)
                    return None
                if not self.drained:
                    self.message_cache = self.broker.do_fetch(self.queue_name, free)
                    # Fewer than asked for: the queue was empty just now, and whatever is
                    # enqueued from here on rings the bell. So the next look waits on the bell
                    # instead of fetching again: one Lua fetch fewer per wake-up.
                    self.drained = len(self.message_cache) < free
                    if self.message_cache:
                        continue
                self.drained = False
                wait_ms = self.timeout
                if self.queued_message_ids and self.queue_name == dq_name(self.queue_name):
                    wait_ms = min(wait_ms, HOLDING_PAUSE_MS)
                self.broker.wait_for_bell(self.queue_name, wait_ms)
                return None
        except redis.ConnectionError as error:
            raise ConnectionClosed(error) from None

    def requeue(self, messages):
        messages = list(messages)
        super().requeue(messages)
        if messages:  # a worker shutting down hands its prefetched messages to the others now
            self.broker.ring(self.queue_name)
