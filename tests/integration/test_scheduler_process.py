"""The `chorus scheduler` process brings back what the broker lost and what a dead worker left."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from orchestrator import pipeline
from orchestrator.db import db
from orchestrator.models import Message, utcnow
from tests.integration.stack import wait_until
from tests.orchestrator.pipeline.conftest import make_template

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def test_the_scheduler_process_re_enqueues_lost_and_stuck_messages_exactly_once(stack):
    ids = stack.add_contacts(200)
    with stack.app.app_context():
        make_template()
        # Recorded and enqueued with no worker running...
        pipeline.deliver_batch(db.session, {"template_key": "welcome", "campaign_id": 1, "contact_ids": ids,
                                            "channels": ["sms", "email"], "data": {"code": "42"}})
        # ...then a worker died mid-send on some (the provider never got them)...
        stuck = db.session.scalars(select(Message.id).order_by(Message.id).limit(50)).all()
        db.session.execute(update(Message).where(Message.id.in_(stuck))
                           .values(status="sending", attempts=1, updated_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    # ...and Redis restarted empty: not one broker message is left.
    stack.app.extensions["chorus_broker"].flush_all()
    assert stack.statuses() == Counter({"queued": 350, "sending": 50})

    stack.start_worker(processes=1, threads=4)
    scheduler = stack.start_scheduler(CHORUS_SENDING_TIMEOUT_SECONDS="5", CHORUS_SWEEP_GRACE_SECONDS="1")
    assert wait_until(lambda: stack.statuses()["sent"] == 400, timeout=180, every=0.5), \
        (stack.statuses(), scheduler.poll())
    assert scheduler.poll() is None, "the scheduler keeps running"
    sms = Counter(form["To"] for form in stack.twilio.sent())
    email = Counter(address for mail in stack.smtp.messages for address in mail.recipients)
    assert len(sms) == len(email) == 200
    assert max(sms.values()) == max(email.values()) == 1, "the sweeper's enqueues never send twice"
