"""The in-app client API: auth by publishable key + user hash, list/mark/counts, and the live
SSE stream read by a real HTTP client from a real server, fed by a real Dramatiq worker."""
from __future__ import annotations

import json
import threading
import time

import pytest
import requests
from sqlalchemy import select
from werkzeug.serving import make_server

from orchestrator.app import create_app
from orchestrator.broker import activate_broker, start_inprocess_worker
from orchestrator.bus import LocalBus, get_bus
from orchestrator.db import db
from orchestrator.models import InboxItem, Message, utcnow
from orchestrator.services.api_keys import create_api_key
from orchestrator.services.inbox import inbox_user_hash
from tests.conftest import base_config, reset_database
from tests.orchestrator.webhooks.conftest import add_contact, add_message, inbox_credentials


def add_item(contact, title, **fields) -> InboxItem:
    item = InboxItem(contact_id=contact.id, title=title, body="b", data={}, **fields)
    db.session.add(item)
    db.session.commit()
    return item


@pytest.fixture
def two_users(app):
    ana, bob = add_contact("ana"), add_contact("bob")
    items = [add_item(ana, f"a{i}") for i in range(3)] + [add_item(bob, "b0")]
    headers = inbox_credentials(app, "ana")
    return app.test_client(), headers, ana, bob, items


def test_list_pages_newest_first_with_counts(two_users):
    client, headers, ana, bob, items = two_users
    r = client.get("/v1/inbox?limit=2", headers=headers)
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == "*"
    body = r.get_json()
    assert [i["title"] for i in body["data"]] == ["a2", "a1"]
    assert body["counts"] == {"unread": 3, "unseen": 3, "total": 3}
    rest = client.get(f"/v1/inbox?limit=2&cursor={body['next_cursor']}", headers=headers).get_json()
    assert [i["title"] for i in rest["data"]] == ["a0"] and rest["next_cursor"] is None
    assert client.get("/v1/inbox?limit=0&bogus=1", headers=headers).status_code == 422


def test_seen_read_archive_and_read_all_move_counts(two_users):
    client, headers, ana, bob, items = two_users
    a0, a1, a2 = items[:3]
    r = client.post(f"/v1/inbox/{a0.id}/seen", headers=headers)
    assert r.status_code == 200 and r.get_json()["counts"] == {"unread": 3, "unseen": 2, "total": 3}
    r = client.post(f"/v1/inbox/{a1.id}/read", headers=headers).get_json()
    assert r["item"]["read_at"] and r["item"]["seen_at"] and r["counts"]["unread"] == 2
    assert client.post(f"/v1/inbox/{a1.id}/read", headers=headers).get_json()["item"]["read_at"] == r["item"]["read_at"]
    r = client.post(f"/v1/inbox/{a2.id}/archive", headers=headers).get_json()
    assert r["counts"] == {"unread": 1, "unseen": 0, "total": 2}
    assert [i["title"] for i in client.get("/v1/inbox?archived=true", headers=headers).get_json()["data"]] == ["a2"]
    r = client.post("/v1/inbox/read-all", headers=headers).get_json()
    assert r == {"updated": 1, "counts": {"unread": 0, "unseen": 0, "total": 2}}
    assert client.post(f"/v1/inbox/{a1.id}/unread", headers=headers).get_json()["counts"]["unread"] == 1
    assert client.post(f"/v1/inbox/{a1.id}/explode", headers=headers).status_code == 404
    assert client.post(f"/v1/inbox/{2**64}/read", headers=headers).status_code == 404  # past any id: no 500


def test_one_user_cannot_touch_another_users_inbox(two_users):
    client, headers, ana, bob, items = two_users
    bob_item = items[3]
    # Ana's valid credentials, Bob's card id: not found, and nothing changes.
    assert client.post(f"/v1/inbox/{bob_item.id}/read", headers=headers).status_code == 404
    db.session.expire_all()
    assert db.session.get(InboxItem, bob_item.id).read_at is None
    # Bob's external_id with Ana's hash: forbidden.
    forged = {**headers, "X-Chorus-External-Id": "bob"}
    r = client.get("/v1/inbox", headers=forged)
    assert r.status_code == 403 and r.headers["Content-Type"].startswith("application/problem+json")
    assert client.post("/v1/inbox/read-all", headers=forged).status_code == 403


def test_keys_and_hashes_are_required(app, two_users):
    client, headers, *_ = two_users
    secret = create_api_key(db.session, "server").secret
    db.session.commit()
    assert client.get("/v1/inbox").status_code == 401
    assert client.get("/v1/inbox", headers={**headers, "X-Chorus-Key": secret}).status_code == 401
    assert client.get("/v1/inbox", headers={**headers, "X-Chorus-User-Hash": ""}).status_code == 401
    # Query parameters work too (EventSource cannot send headers).
    params = {"key": headers["X-Chorus-Key"], "external_id": "ana", "user_hash": inbox_user_hash(app, "ana")}
    assert client.get("/v1/inbox", query_string=params).status_code == 200
    assert client.options("/v1/inbox").status_code == 204


def test_user_not_messaged_yet_has_an_empty_inbox(app):
    headers = inbox_credentials(app, "newcomer")
    body = app.test_client().get("/v1/inbox", headers=headers).get_json()
    assert body == {"data": [], "next_cursor": None, "counts": {"unread": 0, "unseen": 0, "total": 0}}


# --- the live stream -----------------------------------------------------------------------------

class SseReader:
    """Reads events off a streaming requests response, byte by byte (no buffering delay)."""

    def __init__(self, response):
        self.lines = response.iter_lines(chunk_size=1, decode_unicode=True)

    def next_event(self, wanted: str, deadline: float = 10.0) -> dict:
        stop = time.monotonic() + deadline
        event: dict = {}
        for line in self.lines:
            if time.monotonic() > stop:
                break
            if line == "":
                if event.get("event") == wanted:
                    return event
                event = {}
            elif line.startswith(":"):
                event["comment"] = line
            else:
                name, _, value = line.partition(": ")
                event[name] = json.loads(value) if name == "data" else value
        raise AssertionError(f"no {wanted} event")


@pytest.fixture(params=["inprocess", pytest.param("redis", marks=pytest.mark.redis)])
def live_app(request, sqlite_url):
    overrides = {"BROKER": request.param, "INBOX_HEARTBEAT_SECONDS": 0.2, "INPROCESS_WORKER_THREADS": 2}
    if request.param == "redis":
        overrides["REDIS_URL"] = request.getfixturevalue("redis_url")
    app = create_app(base_config(sqlite_url, **overrides))
    reset_database(app.extensions["chorus_engine"])
    worker = start_inprocess_worker(app)  # real Dramatiq worker threads on the app's broker
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with app.app_context():
            yield app, f"http://127.0.0.1:{server.server_port}"
            db.session.remove()
    finally:
        server.shutdown()
        worker.stop()
        app.extensions["chorus_engine"].dispose()


def subscribers(app, contact_id: int) -> int:
    bus = get_bus(app)
    if isinstance(bus, LocalBus):
        return bus.subscriber_count(f"inbox:{contact_id}")
    name = f"{app.config['QUEUE_NAMESPACE']}:bus:inbox:{contact_id}"
    return dict(bus.client.pubsub_numsub(name))[name.encode()]


def wait_for(predicate, seconds: float = 10.0) -> None:
    stop = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < stop, "timed out"
        time.sleep(0.05)


def test_stream_pushes_an_item_delivered_by_a_worker_and_replays_by_last_event_id(live_app):
    from orchestrator.actors.inbox import deliver_inbox_messages

    app, base = live_app
    contact = add_contact("streamer")
    message = add_message("inapp:1", channel="inapp", status="queued", contact=contact,
                          content={"title": "Your order shipped", "body": "Track it in the app."})
    headers = inbox_credentials(app, "streamer")
    params = {"key": headers["X-Chorus-Key"], "external_id": "streamer", "user_hash": headers["X-Chorus-User-Hash"]}

    with requests.get(f"{base}/v1/inbox/stream", params=params, stream=True, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        reader = SseReader(response)
        assert reader.next_event("counts")["data"] == {"unread": 0, "unseen": 0, "total": 0}
        wait_for(lambda: subscribers(app, contact.id) == 1)

        deliver_inbox_messages.send([message.id])
        item = reader.next_event("item")
        assert item["data"]["title"] == "Your order shipped"
        assert int(item["id"]) == item["data"]["id"]
        assert reader.next_event("counts")["data"] == {"unread": 1, "unseen": 1, "total": 1}

    # The client went away: the server notices (on the next heartbeat) and unsubscribes.
    wait_for(lambda: subscribers(app, contact.id) == 0)
    db.session.expire_all()
    assert db.session.get(Message, message.id).status == "sent"

    # Reconnecting with Last-Event-ID replays what came after it from the database.
    newer = add_item(contact, "While you were away", created_at=utcnow())
    with requests.get(f"{base}/v1/inbox/stream", params=params, stream=True, timeout=10,
                      headers={"Last-Event-ID": item["id"]}) as response:
        replayed = SseReader(response).next_event("item")
        assert (int(replayed["id"]), replayed["data"]["title"]) == (newer.id, "While you were away")

    # A worker retrying the same message makes no second card.
    deliver_inbox_messages.send([message.id])
    app.extensions["chorus_broker"].join("transactional", timeout=10_000)
    assert len(db.session.scalars(select(InboxItem).where(InboxItem.message_id == message.id)).all()) == 1


def test_stream_refuses_another_users_hash(live_app):
    app, base = live_app
    headers = inbox_credentials(app, "ana")
    params = {"key": headers["X-Chorus-Key"], "external_id": "bob", "user_hash": headers["X-Chorus-User-Hash"]}
    assert requests.get(f"{base}/v1/inbox/stream", params=params, timeout=5).status_code == 403
