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
