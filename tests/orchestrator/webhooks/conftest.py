"""Helpers for webhook tests: Twilio-signed posts, contacts, messages, inbox credentials."""
from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from orchestrator.db import db
from orchestrator.models import Contact, Message
from orchestrator.services.api_keys import create_api_key
from orchestrator.services.inbox import inbox_user_hash

TWILIO_TOKEN = "twilio-test-auth-token"


@pytest.fixture
def twilio_app(app, monkeypatch):
    """The shared app with a Twilio auth token, so webhooks are verified (the SMS adapter stays
    the sandbox: no account SID or sender)."""
    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
    return app


def twilio_post(client, path: str, params: dict, *, token: str = TWILIO_TOKEN, signature: str | None = None,
                public_url: str = "https://chorus.test"):
    """POST form params with the X-Twilio-Signature Twilio would compute for the public URL."""
    if signature is None:
        signature = RequestValidator(token).compute_signature(public_url + path, params)
    headers = {"X-Twilio-Signature": signature} if signature else {}
    return client.post(path, data=params, headers=headers)


def add_contact(external_id: str, **fields) -> Contact:
    contact = Contact(external_id=external_id, attributes={}, **fields)
    db.session.add(contact)
    db.session.commit()
    return contact


def add_message(key: str, *, channel: str = "sms", status: str = "sent", contact: Contact | None = None,
                provider_id: str | None = None, content: dict | None = None) -> Message:
    message = Message(idempotency_key=key, channel=channel, status=status, provider_id=provider_id,
                      contact_id=contact.id if contact else None, content=content)
    db.session.add(message)
    db.session.commit()
    return message


def inbox_credentials(app, external_id: str) -> dict:
    issued = create_api_key(db.session, "app", kind="publishable")
    db.session.commit()
    return {"X-Chorus-Key": issued.secret, "X-Chorus-External-Id": external_id,
            "X-Chorus-User-Hash": inbox_user_hash(app, external_id)}
