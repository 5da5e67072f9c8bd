"""The in-app inbox client API, called by the brand's own app or site.

Authenticated with a publishable key (safe to ship in an app) plus the person's external_id
and user_hash = hex HMAC-SHA256(inbox secret, external_id), which only the brand's backend can
compute: the key says which Chorus, the hash proves which person, so one user cannot read
another's inbox. Each value comes as a header (X-Chorus-Key, X-Chorus-External-Id,
X-Chorus-User-Hash) or a query parameter (key, external_id, user_hash), since a browser's
EventSource cannot set headers. No cookies are involved, so any origin may call it (CORS *).
"""
from __future__ import annotations

import json
import logging
import time

from flask import Blueprint, Response, current_app, g, jsonify, request, stream_with_context
from marshmallow import Schema, fields, validate

from orchestrator import bus
from orchestrator.api.parsing import ID
from orchestrator.api.problems import problem
from orchestrator.db import db
from orchestrator.errors import NotFound
from orchestrator.services import inbox as service
from orchestrator.services.api_keys import authenticate

log = logging.getLogger(__name__)

bp = Blueprint("inbox_client", __name__, url_prefix="/v1/inbox")

HEARTBEAT_SECONDS = 15
# EventSource reconnects on its own (with Last-Event-ID): a bounded stream frees the worker
# and lets a load balancer rebalance, at no cost to the client.
STREAM_SECONDS = 300
RETRY_MILLISECONDS = 3000
AUTH_HEADERS = "X-Chorus-Key, X-Chorus-External-Id, X-Chorus-User-Hash, Last-Event-ID, Content-Type"


class AuthQuerySchema(Schema):
    key = fields.String(validate=validate.Length(max=255))
    external_id = fields.String(validate=validate.Length(min=1, max=255))
    user_hash = fields.String(validate=validate.Length(max=128))


class ListQuerySchema(AuthQuerySchema):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    cursor = fields.String(validate=validate.Length(max=100))
    archived = fields.Boolean(load_default=False)
    unread = fields.Boolean(load_default=False, metadata={"description": "Only cards not read yet."})


class StreamQuerySchema(AuthQuerySchema):
    last_event_id = fields.Integer(validate=validate.Range(min=0),
                                   metadata={"description": "Replay cards newer than this id."})


def _credential(header: str, param: str) -> str:
    return (request.headers.get(header) or request.args.get(param) or "").strip()


@bp.before_request
def authenticate_user():
    if request.method == "OPTIONS":
        return Response(status=204)
    key = _credential("X-Chorus-Key", "key")
    external_id = _credential("X-Chorus-External-Id", "external_id")
    user_hash = _credential("X-Chorus-User-Hash", "user_hash")
    if not key or authenticate(db.session, key, kind="publishable") is None:
        return problem(401, "Unauthorized", "Send a publishable key as X-Chorus-Key (or ?key=).")
    if not external_id or not user_hash:
        return problem(401, "Unauthorized", "Send the user's external_id and user_hash.")
    if not service.user_hash_matches(current_app, external_id, user_hash):
        return problem(403, "Forbidden", "The user_hash does not match the external_id.")
    g.inbox_external_id = external_id
    g.inbox_contact = service.find_contact(db.session, external_id)
    return None


@bp.after_request
def allow_any_origin(response: Response) -> Response:
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Allow-Headers"] = AUTH_HEADERS
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response.headers["Access-Control-Max-Age"] = "600"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def _contact_or_404():
    if g.inbox_contact is None:
        raise NotFound("No inbox item for this user.")
    return g.inbox_contact


def _counts() -> dict:
    contact = g.inbox_contact
    return service.counts(db.session, contact.id) if contact else {"unread": 0, "unseen": 0, "total": 0}


@bp.get("")
def list_items():
    args = ListQuerySchema().load(request.args)
    contact = g.inbox_contact
    if contact is None:  # not messaged yet: an empty inbox, not an error
        return jsonify(data=[], next_cursor=None, counts=_counts())
    rows, cursor = service.list_items(db.session, contact.id, limit=args["limit"], cursor=args.get("cursor"),
                                      archived=args["archived"], unread_only=args["unread"])
    return jsonify(data=[service.item_json(row) for row in rows], next_cursor=cursor, counts=_counts())


def _after_change(contact) -> dict:
    db.session.commit()
    values = service.counts(db.session, contact.id)
    db.session.commit()
    service.publish_counts(contact.id, values)
    return values


@bp.post(f"/<{ID}:item_id>/<any(seen, read, unread, archive, unarchive):action>")
def mark(item_id: int, action: str):
    AuthQuerySchema().load(request.args)
    contact = _contact_or_404()
    item = service.mark(db.session, contact.id, item_id, action)
    item_data = service.item_json(item)
    return jsonify(item=item_data, counts=_after_change(contact))


@bp.post("/read-all")
def read_all():
    AuthQuerySchema().load(request.args)
    contact = g.inbox_contact
    updated = service.mark_all_read(db.session, contact.id) if contact else 0
    values = _after_change(contact) if contact else _counts()
    return jsonify(updated=updated, counts=values)


def sse(event: str, data: dict, event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _last_event_id(args: dict) -> int:
    raw = request.headers.get("Last-Event-ID")
    if raw is not None:
        # A reconnecting EventSource sends back what it saw; junk means "from now".
        return int(raw) if raw.strip().isdigit() else 0
    return args.get("last_event_id") or 0


@bp.get("/stream")
def stream():
    """Server-Sent Events: `item` (with the card id as event id) and `counts`, `: ping` heartbeats."""
    args = StreamQuerySchema().load(request.args)
    contact = g.inbox_contact
    last_id = _last_event_id(args)
    heartbeat = float(current_app.config.get("INBOX_HEARTBEAT_SECONDS", HEARTBEAT_SECONDS))
    lifetime = float(current_app.config.get("INBOX_STREAM_SECONDS", STREAM_SECONDS))
    # Subscribe before reading the database, so nothing published in between is lost.
    subscription = bus.subscribe(service.live_channel(contact.id)) if contact else None
    db.session.commit()  # the stream may live for minutes: hold no connection while idle

    def events():
        sent: set[int] = set()
        try:
            yield f"retry: {RETRY_MILLISECONDS}\n\n"
            if contact is not None:
                if last_id:
                    for row in service.items_after(db.session, contact.id, last_id):
                        sent.add(row.id)
                        yield sse("item", service.item_json(row), row.id)
                yield sse("counts", service.counts(db.session, contact.id))
                db.session.commit()
            now = time.monotonic()
            deadline, next_ping = now + lifetime, now + heartbeat
            while now < deadline:
                wait = max(0.0, min(next_ping, deadline) - now)
                payload = subscription.get(timeout=wait) if subscription else time.sleep(wait)
                now = time.monotonic()
                if payload is None:
                    if now >= next_ping:
                        next_ping = now + heartbeat
                        yield ": ping\n\n"
                    continue
                if payload.get("type") == "item":
                    item = payload["item"]
                    if item["id"] <= last_id or item["id"] in sent:
                        continue  # the client has it, or the replay just sent it
                    sent.add(item["id"])
                    yield sse("item", item, item["id"])
                elif payload.get("type") == "counts":
                    yield sse("counts", {k: v for k, v in payload.items() if k != "type"})
        finally:
            if subscription is not None:
                subscription.close()
            db.session.remove()

    return Response(stream_with_context(events()), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
