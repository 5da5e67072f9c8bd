"""Transactional API, fallback, caps and quiet hours on the real stack (2 worker processes)."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from orchestrator.actors.delivery import deliver_batch
from orchestrator.db import db
from orchestrator.models import Device, Message
from orchestrator.services.api_keys import create_api_key
from tests.integration.stack import wait_until
from tests.orchestrator.pipeline.conftest import make_template

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def _client(stack):
    with stack.app.app_context():
        secret = create_api_key(db.session, "it").secret
        db.session.commit()
    return stack.app.test_client(), {"Authorization": f"Bearer {secret}"}


def test_concurrent_duplicates_and_fallback_from_a_dead_push_token_to_sms(stack):
    ids = stack.add_contacts(2)
    with stack.app.app_context():
        make_template("otp", category="transactional")
    stack.fcm.fail_token(f"fcm-token-{ids[0]}", "UNREGISTERED")
    stack.start_worker(processes=2, threads=4)
    client, headers = _client(stack)
    body = {"template": "otp", "to": {"external_id": "p0"}, "data": {"code": "7"}, "channels": ["push", "sms"],
            "strategy": "fallback"}
    barrier = threading.Barrier(8)
    answers = []

    def post():
        barrier.wait()
        answers.append(client.post("/v1/messages", json=body, headers={**headers, "Idempotency-Key": "otp-1"}))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = Counter(a.status_code for a in answers)
    assert codes[202] >= 1 and set(codes) <= {202, 409}, codes
    assert len({str(a.json["messages"]) for a in answers if a.status_code == 202}) == 1  # replays match

    assert wait_until(lambda: len(stack.twilio.sent()) >= 1, timeout=120)
    assert wait_until(lambda: stack.statuses()["sent"] == 1 and stack.statuses()["failed"] == 1, timeout=120)
    assert [form["To"] for form in stack.twilio.sent()] == ["+14152000000"]
    with stack.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Device).where(Device.contact_id == ids[0])) == 0
    replay = client.post("/v1/messages", json=body, headers={**headers, "Idempotency-Key": "otp-1"})
    assert replay.status_code == 202
    different = client.post("/v1/messages", json={**body, "data": {"code": "8"}},
                            headers={**headers, "Idempotency-Key": "otp-1"})
    assert different.status_code == 422


def test_caps_hold_across_two_worker_processes_and_quiet_hours_defer(stack):
    ids = stack.add_contacts(300)
    with stack.app.app_context():
        make_template()
    stack.start_worker(processes=2, threads=4)
    cap = [{"max_messages": 1, "window_seconds": 86400, "per_channel": True}]
    # Three campaigns race for the same people: the Redis ledger lets one SMS each through.
    for campaign in (1, 2, 3):
        for start in range(0, 300, 50):
            deliver_batch.send({"template_key": "welcome", "campaign_id": campaign, "contact_ids": ids[start:start + 50],
                                "channels": ["sms"], "frequency_caps": cap, "data": {"code": "1"}})
    assert wait_until(lambda: sum(stack.statuses().values()) == 900 and stack.statuses()["sent"] == 300,
                      timeout=180), stack.statuses()
    per_number = Counter(form["To"] for form in stack.twilio.sent())
    assert len(per_number) == 300 and max(per_number.values()) == 1
    with stack.app.app_context():
        reasons = Counter(db.session.scalars(select(Message.reason).where(Message.status == "skipped")))
    assert reasons == {"capped": 600}

    # Quiet hours that cover every hour but one: the messages wait as deferred, nothing is sent.
    hour = datetime.now(timezone.utc).hour
    quiet = {"start": f"{(hour + 23) % 24:02d}:00", "end": f"{(hour + 22) % 24:02d}:00"}
    deliver_batch.send({"template_key": "welcome", "campaign_id": 9, "contact_ids": ids[:10], "channels": ["email"],
                        "quiet_hours": quiet, "data": {"code": "1"}})
    assert wait_until(lambda: stack.statuses()["deferred"] == 10, timeout=120)
    assert stack.smtp.messages == []
