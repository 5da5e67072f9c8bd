"""/v1/messages: the transactional send with Idempotency-Key semantics, status, lists, retry."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from orchestrator.db import db
from orchestrator.models import ApiKey, IdempotencyKey, Message, utcnow
from orchestrator.services.idempotency import request_hash
from tests.orchestrator.pipeline.conftest import add_contacts, drain, make_template


def _send(api, body, key=None):
    return api.post("/v1/messages", json=body, headers={"Idempotency-Key": key} if key else None)


def test_a_send_answers_202_with_ids_then_status_and_timeline(app, api):
    make_template("otp", category="transactional")
    add_contacts(1)
    response = _send(api, {"template": "otp", "to": {"external_id": "c0"}, "data": {"code": "9"},
                           "channels": ["sms", "email"]}, key="k1")
    assert response.status_code == 202
    sent = response.json["messages"]
    assert [(m["channel"], m["status"]) for m in sent] == [("sms", "queued"), ("email", "queued")]
    drain(app)

    detail = api.get(f"/v1/messages/{sent[0]['id']}").json
    assert detail["status"] == "sent" and ":k1@" in detail["idempotency_key"] \
        and detail["idempotency_key"].endswith(":sms")
    assert [e["status"] for e in detail["timeline"]] == ["queued", "sending", "sent"]
    listed = api.get("/v1/messages", query_string={"contact": "c0", "channel": "email"}).json
    assert [m["id"] for m in listed["data"]] == [sent[1]["id"]]


def test_an_inline_recipient_needs_no_contact(app, api):
    make_template("otp", category="transactional")
    response = _send(api, {"template": "otp", "to": {"phone": "+14155552671"}, "data": {"code": "1"}})
    assert response.status_code == 202
    assert [(m["channel"], m["status"], m["reason"]) for m in response.json["messages"]] == [
        ("push", "skipped", "no_address"), ("sms", "queued", None), ("email", "skipped", "no_address"),
        ("inapp", "skipped", "no_address")]


def test_idempotency_key_replays_rejects_a_changed_body_and_a_concurrent_duplicate(app, api):
    make_template("otp", category="transactional")
    body = {"template": "otp", "to": {"email": "a@example.com"}, "channels": ["email"]}
    first = _send(api, body, key="same")
    replay = _send(api, body, key="same")
    assert replay.status_code == 202 and replay.json == first.json
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert db.session.scalar(select(func.count()).select_from(Message)) == 1

    changed = _send(api, {**body, "data": {"x": 1}}, key="same")
    assert changed.status_code == 422 and changed.json["errors"][0]["field"] == "Idempotency-Key"

    key_id = db.session.scalar(select(ApiKey.id))
    digest = request_hash("POST", "/v1/messages", body)  # the first request, still running
    db.session.add(IdempotencyKey(api_key_id=key_id, key="running", request_hash=digest,
                                  expires_at=utcnow() + timedelta(hours=1)))
    db.session.commit()
    assert _send(api, body, key="running").status_code == 409
    assert _send(api, body, key="x" * 256).status_code == 422


def test_an_expired_key_and_a_refused_request_free_the_key(app, api):
    make_template("otp", category="transactional")
    body = {"template": "otp", "to": {"email": "a@example.com"}, "channels": ["email"]}
    assert _send(api, {**body, "template": "nope"}, key="k").status_code == 422
    assert _send(api, body, key="k").status_code == 202  # the refused request did not keep the key
    db.session.execute(update(IdempotencyKey).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    again = _send(api, body, key="k")
    assert again.status_code == 202  # forgotten after 24 hours: a new request, a new message
    assert again.headers.get("Idempotent-Replayed") is None
    assert db.session.scalar(select(func.count()).select_from(Message)) == 2


def test_expired_keys_are_purged_by_the_scheduler(app, api):
    from orchestrator.actors.delivery import purge_idempotency_keys

    make_template("otp", category="transactional")
    body = {"template": "otp", "to": {"email": "a@example.com"}, "channels": ["email"]}
    _send(api, body, key="old"), _send(api, body, key="new")
    db.session.execute(update(IdempotencyKey).where(IdempotencyKey.key == "old")
                       .values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    purge_idempotency_keys()
    assert db.session.scalars(select(IdempotencyKey.key)).all() == ["new"]


def test_input_errors_are_problems_not_crashes(app, api):
    make_template("otp", category="transactional")
    assert _send(api, {"template": "otp", "to": {}}).status_code == 422
    assert _send(api, {"template": "otp", "to": {"external_id": "ghost"}}).json["errors"][0]["field"] == "to.external_id"
    assert _send(api, {"template": "otp", "to": {"email": "a@example.com"}, "channels": ["sms", "sms"]}).status_code == 422
    assert api.get("/v1/messages/999999").status_code == 404


def test_dead_letters_are_listed_and_retried_on_the_same_row(app, api):
    make_template("otp", category="transactional")
    [m] = _send(api, {"template": "otp", "to": {"email": "a@example.com"}, "channels": ["email"]}).json["messages"]
    db.session.execute(update(Message).values(status="failed", reason="expired", attempts=5))
    db.session.commit()
    assert [d["id"] for d in api.get("/v1/messages/dead-letters").json["data"]] == [m["id"]]
    assert api.get("/v1/messages", query_string={"status": "failed", "reason": "expired"}).json["data"][0]["id"] == m["id"]

    retried = api.post(f"/v1/messages/{m['id']}/retry")
    assert retried.status_code == 202 and retried.json["status"] == "queued"
    drain(app)
    detail = api.get(f"/v1/messages/{m['id']}").json
    assert (detail["status"], detail["attempts"]) == ("sent", 6)
    assert api.post(f"/v1/messages/{m['id']}/retry").status_code == 409
