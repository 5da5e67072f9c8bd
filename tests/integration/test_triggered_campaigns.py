"""Cart abandonment for real: events tracked over the API, entries waiting in PostgreSQL, the
scheduler's round handing due ones to a `dramatiq` worker process on Redis; an exit event
cancels, re-entry is once, and a zero-delay trigger sends at once."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from orchestrator.db import db
from orchestrator.models import Message, TriggerEntry, utcnow
from orchestrator.services import campaigns as service
from orchestrator.services import triggers
from orchestrator.services.api_keys import create_api_key
from tests.integration.stack import Stack, wait_until
from tests.orchestrator.pipeline.conftest import make_template

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

DELAY = 2


@pytest.fixture
def sandbox_stack(postgres_url, redis_url):
    deployment = Stack(postgres_url, redis_url, CHORUS_SMTP_HOST="")
    try:
        yield deployment
    finally:
        deployment.stop()


def _campaign(trigger: dict, name: str) -> int:
    campaign = service.create_campaign(db.session, name=name, template="welcome", channels=["email"], trigger=trigger)
    db.session.commit()
    service.launch(db.session, campaign.id)
    return campaign.id


def test_cart_abandonment_with_delay_exit_event_and_reentry(sandbox_stack):
    stack = sandbox_stack
    stack.add_contacts(4)
    with stack.app.app_context():
        make_template()
        cart = _campaign({"event_name": "cart_updated", "where": [{"property": "total", "op": "gt", "value": 0}],
                          "delay_seconds": DELAY, "exit_event": {"name": "order_completed"}, "reentry": "once"},
                         "Cart abandonment")
        stock = _campaign({"event_name": "out_of_stock", "reentry": "every_time"}, "Out of stock")
        key = create_api_key(db.session, "it").secret
        db.session.commit()
    client = stack.app.test_client()
    headers = {"Authorization": f"Bearer {key}"}

    def track(*events):
        response = client.post("/v1/events", json={"events": [{"external_id": e, "name": n, "properties": p}
                                                               for e, n, p in events]}, headers=headers)
        assert response.status_code == 202, response.json

    tracked_at = utcnow()
    track(("p0", "cart_updated", {"total": 30}), ("p1", "cart_updated", {"total": 12}),
          ("p2", "cart_updated", {"total": 8}), ("p2", "cart_updated", {"total": 9}))
    track(("p1", "order_completed", {"total": 12}))
    # The waits live in the database: the worker starts only now, and nothing is lost.
    stack.start_worker(processes=1, threads=4)
    track(("p3", "out_of_stock", {"sku": "X1"}))

    def settled() -> bool:
        with stack.app.app_context():
            triggers.hand_out_due(db.session, utcnow())  # the scheduler's round
            pending = db.session.scalar(select(TriggerEntry.id).where(TriggerEntry.status == "pending").limit(1))
            unsent = db.session.scalar(select(Message.id).where(Message.status != "sent").limit(1))
            return pending is None and unsent is None

    assert wait_until(settled, timeout=150, every=0.5)
    with stack.app.app_context():
        people = dict(db.session.execute(select(TriggerEntry.id, TriggerEntry.status)).all())
        entries = db.session.execute(select(TriggerEntry.campaign_id, TriggerEntry.status, TriggerEntry.contact_id)
                                     .order_by(TriggerEntry.id)).all()
        assert [(c, s) for c, s, _ in entries if c == cart] == [(cart, "sent"), (cart, "exited"), (cart, "sent")]
        assert [(c, s) for c, s, _ in entries if c == stock] == [(stock, "sent")]
        messages = db.session.execute(select(Message.campaign_id, Message.contact_id, Message.sent_at)
                                      .order_by(Message.id)).all()
        assert len(messages) == 3 == len([s for s in people.values() if s == "sent"])
        for campaign_id, _contact, sent_at in messages:
            if campaign_id == cart:
                assert sent_at >= tracked_at + timedelta(seconds=DELAY), "sent before the delay"
        exited = next(contact for c, s, contact in entries if s == "exited")
        assert exited not in {contact for _, contact, _ in messages}
