"""A real SMTP server (aiosmtpd) on 127.0.0.1 that records what it receives.

Recipients can be made to fail at RCPT time with any reply; STARTTLS, implicit TLS and AUTH
are available with a self-signed certificate generated on the fly.
"""

from __future__ import annotations

import logging

import datetime
import email
import email.policy
import socket
import ssl
import tempfile
import threading
from dataclasses import dataclass
from functools import cached_property
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# aiosmtpd logs every SMTP command at INFO: thousands of lines a test, none of them useful.
logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass
class ReceivedMail:
    mail_from: str
    recipients: list[str]
    raw: bytes

    @cached_property
    def message(self) -> EmailMessage:
        # Parsed on first look, not on arrival: parsing costs milliseconds a mail, and a
        # server thread that parses 10,000 of them slows every sender it shares the GIL with.
        return email.message_from_bytes(self.raw, policy=email.policy.default)


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Handler:
    def __init__(self, owner: "FakeSmtp"):
        self.owner = owner

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.owner.rejections.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.owner._record(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


class _CountingController(Controller):
    def __init__(self, owner: "FakeSmtp", *args, **kwargs):
        self.owner = owner
        super().__init__(*args, **kwargs)

    def factory(self):
        with self.owner._lock:
            self.owner.connections += 1
        return super().factory()


class FakeSmtp:
    """``security``: "none", "starttls" (advertised and required) or "ssl" (implicit TLS)."""

    def __init__(self, security: str = "none", users: dict[str, str] | None = None):
        self.security = security
        self.users = users or {}
        self.rejections: dict[str, str] = {}
        self.host = "localhost" if security != "none" else "127.0.0.1"
        self.port = 0
        self._mail: list[ReceivedMail] = []
        self.connections = 0  # SMTP sessions opened by clients (the start-up probe excluded)
        self._lock = threading.Lock()
        self._dir = tempfile.TemporaryDirectory()
        self._controller: Controller | None = None
        self.client_context: ssl.SSLContext | None = None

    def start(self) -> "FakeSmtp":
        kwargs: dict = {}
        server_context = None
        if self.security != "none":
            cert, key = self_signed_certificate(Path(self._dir.name))
            server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            server_context.load_cert_chain(cert, key)
            self.client_context = ssl.create_default_context(cafile=str(cert))
        if self.security == "starttls":
            kwargs.update(tls_context=server_context, require_starttls=True)
        if self.users:
            # aiosmtpd only sees TLS that STARTTLS set up, so under implicit TLS it would hide
            # AUTH if told to require TLS for it; the connection is encrypted either way.
            kwargs.update(authenticator=self._authenticate, auth_required=True,
                          auth_require_tls=self.security == "starttls")
        self.port = _free_port()
        self._controller = _CountingController(
            self, _Handler(self), hostname="127.0.0.1", port=self.port, server_hostname="localhost",
            ssl_context=server_context if self.security == "ssl" else None, **kwargs,
        )
        self._controller.start()
        self.connections = 0
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        self._dir.cleanup()

    def __enter__(self) -> "FakeSmtp":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and self.users.get(auth_data.login.decode()) == auth_data.password.decode()
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def reject(self, address: str, reply: str) -> None:
        """Answer RCPT TO for this address with ``reply`` (e.g. "550 5.1.1 No such user")."""
        self.rejections[address.lower()] = reply

    def _record(self, mail: ReceivedMail) -> None:
        with self._lock:
            self._mail.append(mail)

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._mail)

    def reset(self) -> None:
        with self._lock:
            self._mail.clear()
            self.connections = 0
        self.rejections.clear()
