"""Outbound webhooks: endpoints, the events they subscribe to, signed deliveries with retries.

Every event a transaction announces (`orchestrator.services.status`: `message.<status>` for
each status change, `contact.sms_opted_out`, `contact.unsubscribed`, …) becomes one delivery
row per subscribed endpoint, written by a `before_commit` hook in one INSERT inside that same
transaction, and one actor message per hundred rows is enqueued after it commits, so a
10,000-message batch costs a few enqueues, not 10,000. With no endpoint subscribed (cached for a
few seconds per process) an event costs a dict lookup.

Each delivery is a JSON POST signed `Chorus-Signature: t=<unix>,v1=<hex HMAC-SHA256 of
"t.body" with the endpoint secret>`, retried with exponential backoff, logged with its status
code and the start of the response. SSRF: URLs that resolve to loopback, private, link-local,
multicast or reserved addresses are refused at creation and again before every delivery,
unless CHORUS_ALLOW_PRIVATE_WEBHOOK_URLS; redirects are never followed.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, Sequence
from urllib.parse import urlsplit

import requests
from flask import current_app, has_app_context
from requests.adapters import HTTPAdapter
from sqlalchemy import event, insert, select, update
from sqlalchemy.orm import Session
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from channels.provider_http import environment_for
from orchestrator.errors import InvalidInput, NotFound
from orchestrator.models import WebhookDelivery, WebhookEndpoint, utcnow
from orchestrator.services import status as status_events

EVENT_TYPE = re.compile(r"^(\*|[a-z_]+\.(\*|[a-z_]+))$")
MAX_ATTEMPTS = 8
BASE_BACKOFF_SECONDS = 30.0
MAX_BACKOFF_SECONDS = 6 * 3600.0
SUBSCRIPTIONS_TTL = 5.0
SIGNATURE_HEADER = "Chorus-Signature"


class UnsafeUrl(ValueError):
    """A webhook URL that points into Chorus's own network (SSRF)."""


# --- SSRF guard ------------------------------------------------------------------------------

def _forbidden(address: ipaddress._BaseAddress) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
            or address.is_reserved or address.is_unspecified)


def check_url(url: str, allow_private: bool) -> None:
    """Raise UnsafeUrl unless `url` is http(s) and every address its host resolves to is public."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("an http:// or https:// URL with a host is needed")
    if parts.username or parts.password:
        raise UnsafeUrl("credentials in the URL are not allowed; use the signature")
    if allow_private:
        return
    public_addresses(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))


def public_addresses(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, all public, or UnsafeUrl."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as error:
        raise UnsafeUrl(f"the host does not resolve: {error}") from None
    found = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if _forbidden(address):
            raise UnsafeUrl(f"the host resolves to {address}, a private or reserved address")
        found.append(info[4][0])
    return found


class _PublicOnly:
    """A urllib3 connection that connects only to the public addresses it resolves itself.

    check_url's answer alone is not enough: the HTTP client resolves the host again when it
    connects, and a DNS server that answers a public address first and 127.0.0.1 next
    (rebinding) would get the request inside. So the connection resolves, checks and then
    connects to the very address it checked; the Host header, TLS SNI and the certificate
    check still use the host name. (Through a proxy, the proxy resolves: nothing to check.)"""

    def _new_conn(self):
        host = self._dns_host
        addresses = public_addresses(host, self.port)
        try:
            for position, address in enumerate(addresses):
                self._dns_host = address
                try:
                    return super()._new_conn()
                except NewConnectionError:
                    if position == len(addresses) - 1:
                        raise
        finally:
            self._dns_host = host


class _PublicHTTPConnection(_PublicOnly, HTTPConnection):
    pass


class _PublicHTTPSConnection(_PublicOnly, HTTPSConnection):
    pass


class _PublicHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


class PublicOnlyAdapter(HTTPAdapter):
    """requests' adapter on connections that refuse private and reserved addresses."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _PublicHTTPPool, "https": _PublicHTTPSPool}


# --- endpoints ---------------------------------------------------------------------------------

def create_endpoint(session: Session, *, url: str, event_types: Sequence[str], description: str = "",
                    allow_private: bool) -> WebhookEndpoint:
    """The caller commits; `endpoint.secret` is shown to the caller once, at creation."""
    try:
        check_url(url, allow_private)
    except UnsafeUrl as error:
        raise InvalidInput.field("url", f"Refused: {error}.") from None
    bad = [t for t in event_types if not EVENT_TYPE.match(t)]
    if bad:
        raise InvalidInput.field("event_types", f"Not event types: {', '.join(bad)} (e.g. message.delivered, message.*, *).")
    endpoint = WebhookEndpoint(url=url, event_types=list(dict.fromkeys(event_types)), description=description,
                               secret="whsec_" + secrets.token_urlsafe(32))
    session.add(endpoint)
    session.flush()
    _subscriptions.clear()
    return endpoint


def list_endpoints(session: Session) -> list[WebhookEndpoint]:
    return list(session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True))
                                .order_by(WebhookEndpoint.id)))


def get_endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or not endpoint.active:
        raise NotFound(f"No webhook endpoint {endpoint_id}.")
    return endpoint


def delete_endpoint(session: Session, endpoint_id: int) -> None:
    """Deactivated rather than deleted, so its delivery log stays readable."""
    get_endpoint(session, endpoint_id).active = False
    session.flush()
    _subscriptions.clear()


def list_deliveries(session: Session, endpoint_id: int, limit: int = 100) -> list[WebhookDelivery]:
    get_endpoint(session, endpoint_id)
    return list(session.scalars(select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
                                .order_by(WebhookDelivery.id.desc()).limit(limit)))


# --- subscriptions and publishing ----------------------------------------------------------------

class _Subscriptions:
    """Active endpoints per process, re-read every few seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_engine: dict[int, tuple[float, list[tuple[int, tuple[str, ...]]]]] = {}

    def clear(self) -> None:
        with self._lock:
            self._by_engine.clear()

    def endpoints(self, engine) -> list[tuple[int, tuple[str, ...]]]:
        now = time.monotonic()
        with self._lock:
            cached = self._by_engine.get(id(engine))
        if cached and cached[0] > now:
            return cached[1]
        with engine.connect() as connection:
            rows = connection.execute(select(WebhookEndpoint.id, WebhookEndpoint.event_types)
                                      .where(WebhookEndpoint.active.is_(True))).all()
        found = [(row.id, tuple(row.event_types or ())) for row in rows]
        with self._lock:
            self._by_engine[id(engine)] = (now + SUBSCRIPTIONS_TTL, found)
        return found


_subscriptions = _Subscriptions()


def subscribed(event_type: str, patterns: Iterable[str]) -> bool:
    family = event_type.split(".", 1)[0] + ".*"
    return any(p in ("*", event_type, family) for p in patterns)


def _delivery_rows(events: Sequence[tuple[str, dict]], endpoints: list[tuple[int, tuple[str, ...]]],
                   now: datetime) -> list[dict]:
    rows = []
    for event_type, payload in events:
        targets = [endpoint_id for endpoint_id, patterns in endpoints if subscribed(event_type, patterns)]
        if not targets:
            continue
        event_id = f"evt_{uuid.uuid4().hex}"
        document = {"id": event_id, "type": event_type, "created_at": now.isoformat(),
                    "data": json.loads(json.dumps(payload, default=str))}
        rows.extend({"endpoint_id": endpoint_id, "event_id": event_id, "event_type": event_type,
                     "payload": document, "status": "pending", "attempts": 0, "next_attempt_at": now,
                     "created_at": now} for endpoint_id in targets)
    return rows


def _enqueue(ids: Sequence[int]) -> None:
    from orchestrator.actors.webhooks import deliver_webhooks

    for start in range(0, len(ids), 100):
        deliver_webhooks.send(list(ids[start:start + 100]))


def publish(events: Sequence[tuple[str, dict]], *, app=None, now: datetime | None = None) -> list[int]:
    """One delivery row per (event, subscribed endpoint) in a transaction of its own, one
    enqueue for all of them (events that have no transaction of their own to ride in)."""
    app = app or current_app._get_current_object()
    engine = app.extensions["chorus_engine"]
    rows = _delivery_rows(events, _subscriptions.endpoints(engine), now or utcnow())
    if not rows:
        return []
    with engine.begin() as connection:
        ids = [r.id for r in connection.execute(insert(WebhookDelivery).returning(WebhookDelivery.id), rows)]
    _enqueue(ids)
    return ids


# The transactional outbox: a commit's events become delivery rows inside that same commit, so a
# status change and its webhook stand or fall together (a crash after the commit leaves pending
# rows, which the periodic sweep delivers; it never loses the event). Only the enqueue waits for
# after the commit: a worker must not look for rows that are not there yet.
QUEUED = "chorus_webhook_deliveries"


@event.listens_for(Session, "before_commit")
def _record_deliveries(session: Session) -> None:
    events = status_events.pending_events(session)
    if not events or not has_app_context():
        return
    endpoints = _subscriptions.endpoints(current_app.extensions["chorus_engine"])
    if not endpoints:
        return
    rows = _delivery_rows(events, endpoints, utcnow())
    if rows:
        ids = session.execute(insert(WebhookDelivery).returning(WebhookDelivery.id), rows).scalars().all()
        session.info.setdefault(QUEUED, []).extend(ids)


@event.listens_for(Session, "after_commit")
def _enqueue_recorded(session: Session) -> None:
    ids = session.info.pop(QUEUED, None)
    if not ids:
        return
    try:
        _enqueue(ids)
    except Exception:  # the rows are committed: the periodic sweep hands them out
        import logging

        logging.getLogger(__name__).exception("could not enqueue %d webhook deliveries", len(ids))


@event.listens_for(Session, "after_rollback")
def _forget_recorded(session: Session) -> None:
    session.info.pop(QUEUED, None)


# --- delivery ----------------------------------------------------------------------------------

_http = threading.local()


def _session(allow_private: bool) -> requests.Session:
    """This thread's session; unless private addresses are allowed, on connections that
    check the address they connect to (PublicOnlyAdapter)."""
    sessions = getattr(_http, "sessions", None)
    if sessions is None:
        sessions = _http.sessions = {}
    client = sessions.get(allow_private)
    if client is None:
        client = sessions[allow_private] = requests.Session()
        # Proxies, NO_PROXY and the CA bundle are read once per endpoint origin
        # (environment_for), not from the environment on every delivery; and ~/.netrc never:
        # its credentials are not for customers' endpoints.
        client.trust_env = False
        if not allow_private:
            client.mount("http://", PublicOnlyAdapter())
            client.mount("https://", PublicOnlyAdapter())
    return client


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def backoff(attempts: int) -> float:
    return min(MAX_BACKOFF_SECONDS, BASE_BACKOFF_SECONDS * 2 ** max(0, attempts - 1))


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: list[tuple[int, float]] = None  # (delivery id, delay seconds)
    failed: int = 0


def deliver(session: Session, delivery_ids: Sequence[int], *, now: datetime | None = None,
            allow_private: bool, timeout: float) -> DeliveryReport:
    """Attempt the due, pending deliveries among `delivery_ids`. Commits after each."""
    report = DeliveryReport(retrying=[])
    now = now or utcnow()
    rows = session.execute(
        select(WebhookDelivery, WebhookEndpoint)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.id.in_(list(delivery_ids)), WebhookDelivery.status == "pending",
               WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.id)).all()
    for delivery, endpoint in rows:
        body = json.dumps(delivery.payload, separators=(",", ":")).encode()
        status_code, snippet, error = None, None, None
        if not endpoint.active:
            error = "endpoint deleted"
        else:
            try:
                check_url(endpoint.url, allow_private)
                stamp = int(time.time())
                settings = environment_for(endpoint.url)
                response = _session(allow_private).post(
                    endpoint.url, data=body, timeout=timeout, allow_redirects=False,
                    proxies=settings.proxies, verify=settings.verify,
                    headers={"Content-Type": "application/json", "User-Agent": "Chorus-Webhooks/1",
                             SIGNATURE_HEADER: signature(endpoint.secret, stamp, body),
                             "Chorus-Event-Id": delivery.event_id, "Chorus-Event-Type": delivery.event_type})
                status_code, snippet = response.status_code, response.text[:1000]
            except UnsafeUrl as refused:
                error = f"refused: {refused}"[:255]
            except requests.RequestException as failure:
                error = f"{type(failure).__name__}: {failure}"[:255]
        attempted = utcnow()
        delivery.attempts += 1
        delivery.last_status_code, delivery.response_snippet, delivery.last_error = status_code, snippet, error
        if status_code is not None and 200 <= status_code < 300:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", attempted, None
            report.delivered += 1
        elif delivery.attempts >= MAX_ATTEMPTS or not endpoint.active:
            delivery.status, delivery.next_attempt_at = "failed", None
            report.failed += 1
        else:
            delay = backoff(delivery.attempts)
            delivery.next_attempt_at = attempted + timedelta(seconds=delay)
            report.retrying.append((delivery.id, delay))
        session.commit()
    return report


def due_deliveries(session: Session, now: datetime, limit: int = 1000) -> list[int]:
    """Pending deliveries whose time has come (retries parked past the broker's delay, lost messages)."""
    ids = list(session.scalars(select(WebhookDelivery.id).where(
        WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now - timedelta(seconds=60))
        .order_by(WebhookDelivery.id).limit(limit)))
    if ids:
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(ids)).values(next_attempt_at=now))
        session.commit()
    return ids
