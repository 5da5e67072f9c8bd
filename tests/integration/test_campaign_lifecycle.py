"""A real 20,000-contact campaign on PostgreSQL with a `dramatiq` worker process on Redis and the
sandbox email channel: launch, pause mid-send (sends stop within seconds), resume, complete
with exactly one message per contact; and another cancelled mid-send."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from orchestrator.db import db
from orchestrator.models import Campaign, CampaignRun, Message, OutboxEntry, utcnow
from orchestrator.services import campaign_plans
from orchestrator.services import campaigns as service
from tests.integration.stack import Stack, wait_until
from tests.orchestrator.pipeline.conftest import make_template

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

CONTACTS = 20_000


@pytest.fixture
def sandbox_stack(postgres_url, redis_url):
    # No SMTP host: the sandbox email channel, which writes each send to the outbox table.
    # 1,000 emails/s across workers, so a send takes long enough to pause in the middle.
    deployment = Stack(postgres_url, redis_url, CHORUS_SMTP_HOST="", CHORUS_CHANNEL_RATES="email=1000",
                       CHORUS_SENDING_TIMEOUT_SECONDS="60", CHORUS_SWEEP_GRACE_SECONDS="60")
    try:
        yield deployment
    finally:
        deployment.stop()


def _launch(stack) -> int:
    with stack.app.app_context():
        make_template()
        campaign = service.create_campaign(db.session, name="Spring", template="welcome", channels=["email"])
        db.session.commit()
        service.launch(db.session, campaign.id)
        return campaign.id


def _act(stack, action, campaign_id: int):
    with stack.app.app_context():
        return action(db.session, campaign_id)


def _sends_stop(stack, campaign_id: int) -> tuple[int, int]:
    """Sent counts two and five seconds after a pause or cancel."""
    time.sleep(2)
    settled = stack.statuses(campaign_id).get("sent", 0)
    time.sleep(3)
    return settled, stack.statuses(campaign_id).get("sent", 0)


def test_launch_pause_resume_complete_with_one_message_per_contact(sandbox_stack):
    stack = sandbox_stack
    stack.add_contacts(CONTACTS)
    campaign_id = _launch(stack)
    stack.start_worker(processes=1, threads=8)

    assert wait_until(lambda: stack.statuses(campaign_id).get("sent", 0) >= 3_000, timeout=180, every=0.1)
    _act(stack, service.pause, campaign_id)
    at_pause = stack.statuses(campaign_id).get("sent", 0)
    settled, later = _sends_stop(stack, campaign_id)
    print(f"\npaused at {at_pause} sent; {settled - at_pause} more went in flight, none after that")
    assert settled == later, "sends went on while paused"
    assert settled < CONTACTS, "the campaign finished before the pause could prove anything"
    assert stack.statuses(campaign_id).get("sending", 0) == 0

    _act(stack, service.resume, campaign_id)

    def completed() -> bool:
        with stack.app.app_context():
            campaign_plans.complete_finished(db.session, utcnow())
            return db.session.get(Campaign, campaign_id).status == "completed"

    assert wait_until(completed, timeout=240, every=0.5), stack.statuses(campaign_id)
    assert stack.statuses(campaign_id) == {"sent": CONTACTS}
    with stack.app.app_context():
        assert db.session.scalar(select(func.count(func.distinct(Message.contact_id)))
                                 .where(Message.campaign_id == campaign_id)) == CONTACTS
        outbox = db.session.execute(select(func.count(), func.count(func.distinct(OutboxEntry.message_id)))
                                    .where(OutboxEntry.channel == "email")).one()
        assert tuple(outbox) == (CONTACTS, CONTACTS), "a contact was emailed twice or not at all"
        run = db.session.scalar(select(CampaignRun).where(CampaignRun.campaign_id == campaign_id))
        assert (run.status, run.contacts) == ("completed", CONTACTS)


def test_cancel_mid_send_suppresses_the_rest(sandbox_stack):
    stack = sandbox_stack
    stack.add_contacts(CONTACTS)
    campaign_id = _launch(stack)
    stack.start_worker(processes=1, threads=8)

    assert wait_until(lambda: stack.statuses(campaign_id).get("sent", 0) >= 3_000, timeout=180, every=0.1)
    _act(stack, service.cancel, campaign_id)
    settled, later = _sends_stop(stack, campaign_id)
    assert settled == later < CONTACTS

    def nothing_waits() -> bool:
        with stack.app.app_context():
            campaign_plans.sweep_cancelled(db.session, utcnow())
        counts = stack.statuses(campaign_id)
        return not any(counts.get(s) for s in ("queued", "deferred", "sending"))

    assert wait_until(nothing_waits, timeout=120, every=0.5), stack.statuses(campaign_id)
    counts = stack.statuses(campaign_id)
    assert set(counts) == {"sent", "suppressed"} and counts["sent"] == settled
    with stack.app.app_context():
        assert set(db.session.scalars(select(Message.reason).where(Message.campaign_id == campaign_id,
                                                                   Message.status == "suppressed"))) == {"cancelled"}
        assert db.session.scalar(select(func.count()).select_from(OutboxEntry)) == settled
        assert db.session.get(Campaign, campaign_id).status == "cancelled"
    print(f"\ncancelled: {counts['sent']} sent, {counts['suppressed']} suppressed, "
          f"{CONTACTS - sum(counts.values())} never planned or recorded")
