"""Which queue a send goes to: an OTP never waits behind a broadcast."""
from __future__ import annotations

from orchestrator.db import db
from orchestrator.pipeline import deliver_batch
from tests.orchestrator.pipeline.conftest import add_contacts, job, make_template


def _waiting(app) -> dict[str, int]:
    broker = app.extensions["chorus_broker"]
    return {name: broker.queues[name].qsize() for name in ("transactional", "bulk")}


def test_api_sends_go_to_the_transactional_queue_and_campaigns_to_bulk(app, api):
    broker = app.extensions["chorus_broker"]
    broker.flush_all()
    make_template()
    make_template("otp", category="transactional")
    ids = add_contacts(3)

    deliver_batch(db.session, job(ids, channels=["email", "sms"]))
    assert _waiting(app) == {"transactional": 0, "bulk": 2}  # one send job per channel chunk

    # A marketing template sent through the API is still an API send: it jumps the queue.
    response = api.post("/v1/messages", json={"template": "welcome", "to": {"external_id": "c0"},
                                              "channels": ["sms"], "data": {"code": "1"}})
    assert response.status_code == 202
    otp = api.post("/v1/messages", json={"template": "otp", "to": {"phone": "+14155550123"}, "channels": ["sms"],
                                         "data": {"code": "2"}})
    assert otp.status_code == 202
    assert _waiting(app) == {"transactional": 2, "bulk": 2}
    broker.flush_all()


def test_retries_and_sweeps_of_an_api_send_keep_the_transactional_queue(app):
    from datetime import timedelta

    from orchestrator.models import utcnow
    from orchestrator.pipeline.dispatch import enqueue_sends
    from orchestrator.pipeline.record import StoredMessage
    from orchestrator.pipeline.sweeper import sweep
    from orchestrator.services.messages import send_transactional

    broker = app.extensions["chorus_broker"]
    broker.flush_all()
    now = utcnow()
    rows = [StoredMessage(1, "tx:7:order-1@1:sms", "sms", "queued", "marketing", None),
            StoredMessage(2, "campaign:1:0:5:email", "email", "queued", "marketing", None),
            StoredMessage(3, "campaign:1:0:6:push", "push", "queued", "transactional", None)]
    assert enqueue_sends(rows, now) == 3
    assert _waiting(app) == {"transactional": 2, "bulk": 1}
    broker.flush_all()

    # A marketing template sent through the API whose broker message was lost: the sweeper
    # brings it back on the transactional queue, where it started.
    make_template()
    add_contacts(1)
    send_transactional(db.session, api_key_id=7, idempotency_key="promo-1", now=now - timedelta(hours=1),
                       body={"template": "welcome", "to": {"external_id": "c0"}, "channels": ["sms"],
                             "data": {"code": "1"}})
    broker.flush_all()
    report = sweep(db.session, now=now, sending_timeout=60, grace=60)
    assert report.enqueued == 1
    assert _waiting(app) == {"transactional": 1, "bulk": 0}
    broker.flush_all()
