"""A template's push delivery options travel through the pipeline to the FCM request."""
from __future__ import annotations

import json
import uuid

import pytest

from orchestrator.app import create_app
from orchestrator.db import db
from orchestrator.models import Message, utcnow
from orchestrator.pipeline.send import send_messages
from orchestrator.services import templates as template_service
from orchestrator.services.messages import send_transactional
from templates.content import PushContent, TemplateContent
from tests.conftest import base_config, reset_database
from tests.fakes.fcm_server import FakeFcm


@pytest.fixture
def fcm():
    server = FakeFcm().start()
    yield server
    server.stop()


def test_priority_ttl_and_collapse_key_reach_fcm(sqlite_url, fcm):
    app = create_app(base_config(sqlite_url, FCM_SERVICE_ACCOUNT=json.dumps(fcm.service_account),
                                 FCM_API_URL=fcm.url))
    reset_database(app.extensions["chorus_engine"])
    try:
        _send_digest(app)
    finally:
        app.extensions["chorus_engine"].dispose()
    [sent] = fcm.sends()
    assert sent["token"] == "device-1" and sent["notification"]["body"] == "3 new posts"
    assert sent["android"]["priority"] == "normal" and sent["android"]["ttl"] == "7200s"
    assert sent["android"]["collapse_key"] == "weekly"
    assert sent["apns"]["headers"]["apns-priority"] == "5" and sent["apns"]["headers"]["apns-collapse-id"] == "weekly"


def _send_digest(app) -> None:
    with app.app_context():
        template_service.create_template(
            db.session, key="digest", name="Digest", category="marketing", topic=None,
            content=TemplateContent(push=PushContent(title="Your week", body="{{ data.n }} new posts",
                                                     priority="normal", ttl_seconds=7200, collapse_key="weekly")))
        template_service.publish(db.session, "digest")
        db.session.commit()
        answer = send_transactional(db.session, api_key_id=1, idempotency_key=f"k-{uuid.uuid4()}", now=utcnow(),
                                    body={"template": "digest", "to": {"push_token": "device-1"}, "data": {"n": 3}})
        [message] = answer["messages"]
        assert db.session.get(Message, message["id"]).content["priority"] == "normal"
        send_messages(db.session, [message["id"]], app=app)
        assert db.session.get(Message, message["id"]).status == "sent"
        db.session.remove()
