"""A real deployment on one machine for integration tests: PostgreSQL, Redis, `dramatiq`
worker processes started as the Procfile starts them, and loopback Twilio, FCM and SMTP."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Callable

from sqlalchemy import func, insert, select

from orchestrator.app import create_app
from orchestrator.broker import activate_broker
from orchestrator.config import from_environ
from orchestrator.db import db
from orchestrator.models import Contact, Device, Message
from tests.conftest import reset_database
from tests.fakes.fcm_server import FakeFcm
from tests.fakes.smtp_server import FakeSmtp
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, MESSAGING_SERVICE_SID, FakeTwilio

ROOT = Path(__file__).resolve().parents[2]


class Stack:
    def __init__(self, database_url: str, redis_url: str, **settings: str):
        self.twilio = FakeTwilio().start()
        self.fcm = FakeFcm().start()
        self.smtp = FakeSmtp().start()
        self.namespace = f"chorus-it-{uuid.uuid4().hex[:8]}"
        self.env = {
            "CHORUS_DATABASE_URL": database_url, "CHORUS_BROKER": "redis", "CHORUS_REDIS_URL": redis_url,
            "CHORUS_QUEUE_NAMESPACE": self.namespace, "CHORUS_SECRET_KEY": "chorus-integration-tests-secret-key-0123",
            "CHORUS_PUBLIC_URL": "https://chorus.test", "CHORUS_LOG_LEVEL": "WARNING",
            "CHORUS_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "CHORUS_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "CHORUS_TWILIO_MESSAGING_SERVICE_SID": MESSAGING_SERVICE_SID, "CHORUS_TWILIO_API_URL": self.twilio.url,
            "CHORUS_FCM_SERVICE_ACCOUNT": json.dumps(self.fcm.service_account), "CHORUS_FCM_API_URL": self.fcm.url,
            "CHORUS_SMTP_HOST": "127.0.0.1", "CHORUS_SMTP_PORT": str(self.smtp.port), "CHORUS_SMTP_SECURITY": "none",
            "CHORUS_EMAIL_FROM_ADDRESS": "chorus@example.com",
            "CHORUS_CHANNEL_RATES": "sms=100000,push=100000,email=100000",
            **settings,
        }
        self.app = create_app({**from_environ(self.env), "TESTING": True})
        activate_broker(self.app)
        reset_database(self.app.extensions["chorus_engine"])
        self.workers: list[subprocess.Popen] = []

    # -- processes ---------------------------------------------------------------------
    def start_worker(self, processes: int = 1, threads: int = 8) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-m", "dramatiq", "orchestrator.worker", "--processes", str(processes),
             "--threads", str(threads)],
            cwd=ROOT, env={**os.environ, **self.env}, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.workers.append(process)
        return process

    def start_scheduler(self, **settings: str) -> subprocess.Popen:
        """`chorus scheduler`, as the Procfile runs it (stopped with the workers)."""
        process = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", "scheduler"],
            cwd=ROOT, env={**os.environ, **self.env, **settings}, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.workers.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL the worker's whole process group: no shutdown, no acks, no cleanup."""
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        self.app.extensions["chorus_broker"].flush_all()
        self.twilio.stop()
        self.fcm.stop()
        self.smtp.stop()

    # -- data ----------------------------------------------------------------------------
    def statuses(self, campaign_id: int | None = None) -> Counter:
        """Messages per status (of one campaign, when given): what the tests wait on."""
        query = select(Message.status, func.count()).group_by(Message.status)
        if campaign_id is not None:
            query = query.where(Message.campaign_id == campaign_id)
        with self.app.app_context():
            return Counter(dict(db.session.execute(query).all()))

    def add_contacts(self, count: int, **fields) -> list[int]:
        with self.app.app_context():
            rows = [{"external_id": f"p{i}", "email": f"p{i}@example.com", "phone": f"+14152{i:06d}",
                     "attributes": {"first_name": f"P{i}"}, "unsubscribed_all": False, "sms_opted_out": False,
                     **fields} for i in range(count)]
            for start in range(0, count, 5000):
                db.session.execute(insert(Contact), rows[start:start + 5000])
            ids = list(db.session.scalars(select(Contact.id).order_by(Contact.id)))
            db.session.execute(insert(Device), [{"contact_id": c, "token": f"fcm-token-{c}", "platform": "android"}
                                                for c in ids])
            db.session.commit()
            return ids


def wait_for_progress(measure: Callable[[], int], target: int, *, stall: float, limit: float,
                      every: float = 0.5) -> bool:
    """Wait until `measure()` reaches `target` while it keeps moving: False once it has not
    grown for `stall` seconds (stuck work), or after `limit` in all. A fixed deadline either
    fails a busy CI machine that is still delivering or waits out a hang in full."""
    started = last_move = time.monotonic()
    best = measure()
    while best < target:
        now = time.monotonic()
        if now - last_move > stall or now - started > limit:
            return False
        time.sleep(every)
        value = measure()
        if value > best:
            best, last_move = value, time.monotonic()
    return True


def wait_until(predicate: Callable[[], bool], timeout: float, every: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()
