"""Outbound webhooks: endpoints, SSRF refusal, signed deliveries of status changes, retries."""
from __future__ import annotations

import hashlib
import hmac

import pytest

from orchestrator.db import db
from orchestrator.services import webhooks
from tests.fakes.loopback import LoopbackServer, Reply
from tests.orchestrator.pipeline.conftest import add_contacts, drain, job, make_template


class Receiver(LoopbackServer):
    def __init__(self, **options):
        super().__init__(**options)
        self.fail_first = 0

    def handle(self, request):
        if self.fail_first:
            self.fail_first -= 1
            return Reply(503, {"error": "busy"})
        return Reply(200, {"ok": True})


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server


@pytest.fixture
def private_allowed(app, monkeypatch):
    monkeypatch.setitem(app.config, "ALLOW_PRIVATE_WEBHOOK_URLS", True)
    webhooks._subscriptions.clear()
    yield
    webhooks._subscriptions.clear()


def test_private_and_loopback_urls_are_refused(app, api):
    for url in ("http://127.0.0.1:8080/hook", "http://localhost/x", "http://10.1.2.3/x", "http://169.254.169.254/",
                "http://[::1]/x", "ftp://example.com/x"):
        response = api.post("/v1/webhook-endpoints", json={"url": url, "event_types": ["*"]})
        assert response.status_code == 422, url
    with pytest.raises(webhooks.UnsafeUrl):
        webhooks.check_url("http://[::ffff:127.0.0.1]/", allow_private=False)


def test_status_changes_arrive_signed_and_a_failure_is_retried(app, api, receiver, private_allowed):
    created = api.post("/v1/webhook-endpoints", json={"url": receiver.url + "/hook", "event_types": ["message.sent"]})
    assert created.status_code == 201
    secret = created.json["secret"]
    assert "secret" not in api.get("/v1/webhook-endpoints").json[0]
    make_template()
    ids = add_contacts(2)
    receiver.fail_first = 1
    from orchestrator.pipeline import deliver_batch

    deliver_batch(db.session, job(ids, channels=["email"]))
    drain(app)

    posts = receiver.requests
    assert len(posts) == 2  # the first was refused with a 503 and waits for its retry
    for request in posts[1:]:
        t, v1 = (part.split("=", 1)[1] for part in request.headers["Chorus-Signature"].split(","))
        expected = hmac.new(secret.encode(), f"{t}.".encode() + request.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(v1, expected)
        assert request.json()["type"] == "message.sent"
    log = api.get(f"/v1/webhook-endpoints/{created.json['id']}/deliveries").json
    assert sorted((d["status"], d["last_status_code"]) for d in log) == [("delivered", 200), ("pending", 503)]

    retry = [d["id"] for d in log if d["status"] == "pending"]
    report = webhooks.deliver(db.session, retry, allow_private=True, timeout=5,
                              now=webhooks.utcnow() + webhooks.timedelta(hours=1))
    assert report.delivered == 1 and len(receiver.requests) == 3

    assert api.delete(f"/v1/webhook-endpoints/{created.json['id']}").status_code == 204
    assert api.get("/v1/webhook-endpoints").json == []


def test_an_event_is_recorded_with_its_status_change_and_survives_a_lost_enqueue(app, api, receiver,
                                                                                 private_allowed, monkeypatch):
    from sqlalchemy import func, select

    from orchestrator.models import Message, WebhookDelivery
    from orchestrator.services.status import StatusChange, apply_statuses

    created = api.post("/v1/webhook-endpoints", json={"url": receiver.url + "/hook", "event_types": ["message.*"]})
    make_template()
    [contact] = add_contacts(1)
    from orchestrator.pipeline import deliver_batch

    deliver_batch(db.session, job([contact], channels=["email"]), enqueue=False)
    message_id = db.session.scalar(select(Message.id))

    # Rolled back: neither the change nor its event.
    apply_statuses(db.session, [StatusChange(message_id, "suppressed", webhooks.utcnow())])
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)
                             .where(WebhookDelivery.event_type == "message.suppressed")) == 0

    # Committed, but the broker is unreachable at that moment: the row is there for the sweep.
    def broker_down(ids):
        raise ConnectionError("broker down")

    monkeypatch.setattr(webhooks, "_enqueue", broker_down)
    apply_statuses(db.session, [StatusChange(message_id, "suppressed", webhooks.utcnow())])
    db.session.commit()
    monkeypatch.undo()
    [pending] = db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.event_type == "message.suppressed"))
    assert pending.endpoint_id == created.json["id"] and pending.status == "pending"
    sweep_at = webhooks.utcnow() + webhooks.timedelta(minutes=2)
    assert pending.id in webhooks.due_deliveries(db.session, sweep_at)
    report = webhooks.deliver(db.session, [pending.id], allow_private=True, timeout=5, now=sweep_at)
    assert report.delivered == 1
    assert receiver.requests[-1].json()["data"]["message_id"] == message_id


@pytest.mark.usefixtures("no_proxy_environment")
def test_deliveries_take_the_environment_proxy_read_once_per_endpoint_origin(app, api, receiver, private_allowed,
                                                                           monkeypatch):
    from channels import provider_http
    from orchestrator.pipeline import deliver_batch

    monkeypatch.setenv("HTTP_PROXY", receiver.url)  # the receiver answers absolute-form (proxied) requests
    provider_http._environment_for_origin.cache_clear()
    assert api.post("/v1/webhook-endpoints", json={"url": "http://hooks.example.invalid/in",
                                                   "event_types": ["message.sent"]}).status_code == 201
    make_template()
    deliver_batch(db.session, job(add_contacts(1), channels=["email"]))
    drain(app)
    assert [r.headers["Host"] for r in receiver.requests] == ["hooks.example.invalid"]

    # Changed afterwards, the environment is not read again for that origin.
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    deliver_batch(db.session, job(add_contacts(1, start=1), channels=["email"]))
    drain(app)
    assert len(receiver.requests) == 2
    provider_http._environment_for_origin.cache_clear()


def _pending_delivery(url: str):
    """An endpoint at `url` (stored as is, past the API's check) with one delivery due."""
    endpoint = webhooks.WebhookEndpoint(url=url, secret="s" * 32, event_types=["*"], active=True)
    db.session.add(endpoint)
    db.session.flush()
    delivery = webhooks.WebhookDelivery(endpoint_id=endpoint.id, event_id="e1", event_type="message.sent",
                                        payload={"type": "message.sent"}, status="pending",
                                        next_attempt_at=webhooks.utcnow(), attempts=0)
    db.session.add(delivery)
    db.session.commit()
    return delivery


def test_a_host_that_rebinds_to_a_private_address_after_the_check_gets_nothing(app, receiver, monkeypatch):
    """DNS rebinding: the name answers a public address to check_url, then 127.0.0.1 when
    the HTTP client connects. The connection checks the address it connects to."""
    import socket

    real = socket.getaddrinfo
    answers = {"public": True}

    def resolve(host, port, *args, **kwargs):
        if host != "rebind.example":
            return real(host, port, *args, **kwargs)
        address = "93.184.215.14" if answers["public"] else "127.0.0.1"
        answers["public"] = False  # the next lookup, the client's own, is the rebound one
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    port = int(receiver.url.rsplit(":", 1)[1])
    delivery = _pending_delivery(f"http://rebind.example:{port}/hook")

    report = webhooks.deliver(db.session, [delivery.id], allow_private=False, timeout=5)

    assert receiver.requests == [] and report.delivered == 0
    db.session.refresh(delivery)
    assert delivery.last_error.startswith("refused: the host resolves to 127.0.0.1")
    answers["public"] = True  # and a host that stays public goes through the same checked path
    monkeypatch.setattr(webhooks, "_forbidden", lambda address: False)
    assert webhooks.deliver(db.session, [delivery.id], allow_private=False, timeout=5,
                            now=webhooks.utcnow() + webhooks.timedelta(hours=1)).delivered == 1


def _self_signed(tmp_path, name: str):
    """A certificate and key for `name`, and a server-side TLS context serving them."""
    import datetime
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return cert_path, context


@pytest.mark.parametrize("certificate_for", ["hooks.example", "someone-else.example"])
def test_over_https_the_checked_address_is_dialled_but_the_certificate_is_checked_for_the_host_name(
        app, monkeypatch, tmp_path, certificate_for):
    """The guard connects to an address, not the name: TLS must still present and verify the
    name (SNI, certificate), or every HTTPS endpoint would fail, or worse, any would pass."""
    import socket

    from channels import provider_http

    cert_path, context = _self_signed(tmp_path, certificate_for)
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *a, **k: real(
        "127.0.0.1" if host == "hooks.example" else host, port, *a, **k))
    monkeypatch.setattr(webhooks, "_forbidden", lambda address: False)  # the loopback server stands in for a public one
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert_path))
    provider_http._environment_for_origin.cache_clear()
    with Receiver(ssl_context=context) as server:
        port = int(server.url.rsplit(":", 1)[1])
        delivery = _pending_delivery(f"https://hooks.example:{port}/hook")
        report = webhooks.deliver(db.session, [delivery.id], allow_private=False, timeout=5)
        db.session.refresh(delivery)
        if certificate_for == "hooks.example":
            assert report.delivered == 1, delivery.last_error
            assert [r.headers["Host"] for r in server.requests] == [f"hooks.example:{port}"]
        else:
            assert report.delivered == 0 and server.requests == []
            assert "certificate" in delivery.last_error.lower() or "ssl" in delivery.last_error.lower()
    provider_http._environment_for_origin.cache_clear()
