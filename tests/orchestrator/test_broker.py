"""Each broker mode runs a real actor: in-process worker threads, a Redis worker process, RabbitMQ."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from orchestrator.actors.system import record_heartbeat
from orchestrator.app import create_app
from orchestrator.broker import activate_broker, start_inprocess_worker
from orchestrator.db import db
from orchestrator.models import AuditEntry
from tests.conftest import SECRET_KEY, base_config, unavailable

ROOT = Path(__file__).parents[2]


def wait_for_heartbeat(app, token: str, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.app_context():
            found = db.session.scalar(select(AuditEntry.id).where(AuditEntry.target_id == token))
            db.session.remove()
        if found:
            return True
        time.sleep(0.1)
    return False


def test_inprocess_worker_threads_run_an_actor(sqlite_app):
    worker = start_inprocess_worker(sqlite_app)
    try:
        token = uuid.uuid4().hex
        record_heartbeat.send(token)
        assert wait_for_heartbeat(sqlite_app, token)
        # At-least-once delivery: the same message twice still writes one row.
        record_heartbeat.send(token)
        sqlite_app.extensions["chorus_broker"].join("default", timeout=10_000)
        with sqlite_app.app_context():
            rows = db.session.scalars(select(AuditEntry).where(AuditEntry.target_id == token)).all()
        assert len(rows) == 1
    finally:
        worker.stop()
        sqlite_app.extensions.pop("chorus_worker", None)


@pytest.mark.redis
@pytest.mark.postgres
def test_redis_broker_with_a_separate_dramatiq_worker_process(postgres_url, redis_url, tmp_path):
    namespace = f"chorus-test-{uuid.uuid4().hex[:8]}"
    app = create_app(base_config(postgres_url, BROKER="redis", REDIS_URL=redis_url, QUEUE_NAMESPACE=namespace))
    env = {**os.environ, "CHORUS_DATABASE_URL": postgres_url, "CHORUS_BROKER": "redis",
           "CHORUS_REDIS_URL": redis_url, "CHORUS_QUEUE_NAMESPACE": namespace, "CHORUS_SECRET_KEY": SECRET_KEY}
    log = open(tmp_path / "worker.log", "w")
    worker = subprocess.Popen([sys.executable, "-m", "dramatiq", "orchestrator.worker", "--processes", "1",
                               "--threads", "2"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        activate_broker(app)
        token = uuid.uuid4().hex
        record_heartbeat.send(token)
        assert wait_for_heartbeat(app, token, timeout=60), (tmp_path / "worker.log").read_text()[-2000:]
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        app.extensions["chorus_broker"].close()


def test_rabbitmq_broker_runs_an_actor(sqlite_url):
    import pika

    try:
        pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/%2F")).close()
    except Exception as exc:  # pika raises several unrelated types for "nobody there"
        unavailable("RabbitMQ", repr(exc))
    app = create_app(base_config(sqlite_url, BROKER="rabbitmq"))
    broker = activate_broker(app)
    worker = start_inprocess_worker(app)
    try:
        token = uuid.uuid4().hex
        record_heartbeat.send(token)
        assert wait_for_heartbeat(app, token)
    finally:
        worker.stop()
        broker.close()
