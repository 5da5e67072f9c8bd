"""Pipeline fixtures: a published multi-channel template, contacts, and draining the broker
with a real in-process Dramatiq worker (sandbox channels stand in for the providers)."""
from __future__ import annotations

import dramatiq
import pytest
from sqlalchemy import insert, select

from orchestrator.db import db
from orchestrator.models import Contact, Device, Message, MessageEvent, Preference
from orchestrator.services import templates as template_service
from templates.content import EmailContent, InappContent, PushContent, SmsContent, TemplateContent

CONTENT = TemplateContent(
    sms=SmsContent(body="Hi {{ contact.external_id }}, code {{ data.code }}"),
    push=PushContent(title="Hello", body="Code {{ data.code }}"),
    email=EmailContent(subject="Your code", html="<p>Code {{ data.code }}</p>"),
    inapp=InappContent(title="Hello", body="Code {{ data.code }}"),
)


def make_template(key: str = "welcome", category: str = "marketing", topic: str | None = None) -> int:
    _template, version = template_service.create_template(
        db.session, key=key, name=key, category=category, topic=topic, content=CONTENT)
    template_service.publish(db.session, key)
    db.session.commit()
    return version.id


@pytest.fixture
def template(app):
    return make_template()


def add_contacts(count: int, *, start: int = 0, email=True, phone=True, push=True, **fields) -> list[int]:
    rows = [{"external_id": f"c{start + i}", "email": f"c{start + i}@example.com" if email else None,
             "phone": f"+1415555{start + i:04d}" if phone else None, "attributes": {},
             "unsubscribed_all": False, "sms_opted_out": False, **fields} for i in range(count)]
    db.session.execute(insert(Contact), rows)
    ids = db.session.scalars(select(Contact.id).where(Contact.external_id.in_([r["external_id"] for r in rows]))
                             .order_by(Contact.id)).all()
    if push:
        db.session.execute(insert(Device), [{"contact_id": cid, "token": f"tok-{cid}", "platform": "android"}
                                            for cid in ids])
    db.session.commit()
    return list(ids)


def set_preference(contact_id: int, kind: str, key: str, opted_in: bool) -> None:
    db.session.add(Preference(contact_id=contact_id, kind=kind, key=key, opted_in=opted_in))
    db.session.commit()


def job(contact_ids, **overrides) -> dict:
    return {"template_key": "welcome", "campaign_id": 7, "contact_ids": list(contact_ids),
            "channels": ["push", "email", "sms"], "data": {"code": "1234"}, **overrides}


def messages(**filters) -> list[Message]:
    db.session.expire_all()
    query = select(Message).order_by(Message.id)
    for name, value in filters.items():
        query = query.where(getattr(Message, name) == value)
    return list(db.session.scalars(query))


def timeline(message_id: int) -> list[str]:
    return list(db.session.scalars(select(MessageEvent.status).where(MessageEvent.message_id == message_id)
                                   .order_by(MessageEvent.id)))


def drain(app) -> None:
    """Run the app's broker with a real worker until every queue is empty."""
    broker = app.extensions["chorus_broker"]
    worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=2)
    worker.start()
    try:
        # Only the ready queues (a message counts as done when acked): delayed retries, in the
        # .DQ twins, wait for their time and are flushed after the test.
        for _ in range(2):  # a send can enqueue webhooks, a webhook nothing further
            for queue in ("transactional", "bulk", "webhooks"):
                broker.queues[queue].join()
    finally:
        worker.stop()
        # A stopped worker leaves its middleware on the broker; the next drain adds its own.
        broker.middleware[:] = [m for m in broker.middleware if type(m).__name__ != "_WorkerMiddleware"]


@pytest.fixture(autouse=True)
def empty_broker(app):
    app.extensions["chorus_broker"].flush_all()
    app.extensions.pop("chorus_rate_limiter", None)
    yield
    app.extensions["chorus_broker"].flush_all()
