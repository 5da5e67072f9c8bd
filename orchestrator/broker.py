"""The one place that picks Dramatiq's broker from config, and the middleware actors run under.

- `inprocess`: Dramatiq's in-memory broker with a real `dramatiq.Worker` started inside the web
  process (embedded mode and most tests). Nothing survives a restart, which is fine: the
  database is the source of truth and the sweeper re-enqueues what was in flight.
- `redis` (production default) and `rabbitmq`: separate `worker` processes consume. On Redis,
  idle workers wait on a doorbell rung by every enqueue (`orchestrator.doorbell`), not a poll.
"""
from __future__ import annotations

import importlib
import logging
import pkgutil
import threading

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage, Middleware

from orchestrator.db import db

log = logging.getLogger(__name__)

# Queues, most urgent first: an OTP never waits behind a broadcast.
QUEUES = ("transactional", "default", "bulk", "webhooks")


class AppContextMiddleware(Middleware):
    """Runs every actor inside the Flask app context with a fresh DB session (Flask + Celery pattern)."""

    def __init__(self, app):
        self.app = app
        self._local = threading.local()

    def before_process_message(self, broker, message):
        context = self.app.app_context()
        context.push()
        self._local.context = context

    def after_process_message(self, broker, message, *, result=None, exception=None):
        self._leave()

    def after_skip_message(self, broker, message):
        self._leave()

    def _leave(self):
        context = getattr(self._local, "context", None)
        if context is None:
            return
        try:
            db.session.remove()
        finally:
            self._local.context = None
            context.pop()


def build_broker(app) -> dramatiq.Broker:
    kind = app.config["BROKER"]
    if kind == "inprocess":
        broker = StubBroker()
    elif kind == "redis":
        from orchestrator.doorbell import DoorbellRedisBroker

        broker = DoorbellRedisBroker(url=app.config["REDIS_URL"], namespace=app.config["QUEUE_NAMESPACE"])
    elif kind == "rabbitmq":
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=app.config["RABBITMQ_URL"])
    else:
        raise ValueError(f"CHORUS_BROKER must be inprocess, redis or rabbitmq, not {kind!r}")
    broker.add_middleware(CurrentMessage())
    broker.add_middleware(AppContextMiddleware(app))
    return broker


def actor_modules() -> list[str]:
    import orchestrator.actors as package

    return [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)]


def setup_broker(app) -> dramatiq.Broker:
    broker = build_broker(app)
    for queue in QUEUES:
        broker.declare_queue(queue)
    app.extensions["chorus_broker"] = broker
    activate_broker(app)
    return broker


def activate_broker(app) -> dramatiq.Broker:
    """Make this app's broker the global one and (re)declare every actor on it.

    Actors are module-level objects; a process that builds several apps (tests) rebinds them
    to the app in use.
    """
    broker = app.extensions["chorus_broker"]
    dramatiq.set_broker(broker)
    for name in actor_modules():
        module = importlib.import_module(name)
        for value in vars(module).values():
            if isinstance(value, dramatiq.Actor) and value.broker is not broker:
                value.broker = broker
                broker.declare_actor(value)
    return broker


def start_inprocess_worker(app) -> dramatiq.Worker:
    """Real Dramatiq worker threads inside this process, for the embedded mode."""
    broker = app.extensions["chorus_broker"]
    worker = dramatiq.Worker(broker, worker_threads=app.config["INPROCESS_WORKER_THREADS"],
                             worker_timeout=100)
    worker.start()
    app.extensions["chorus_worker"] = worker
    return worker
