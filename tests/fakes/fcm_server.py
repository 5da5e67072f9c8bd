"""A loopback FCM HTTP v1 API and Google OAuth token endpoint for the real firebase-admin SDK.

``POST /token`` performs the service-account JWT-bearer exchange: the assertion must be a
JWT signed by a key this server trusts (see :func:`make_service_account`), addressed to this
token URL. ``POST /v1/projects/{project}/messages:send`` needs the issued bearer token and
answers ``{"name": "projects/{project}/messages/{id}"}`` or FCM's v1 error bodies, chosen
per registration token with :meth:`FakeFcm.fail_token` or :meth:`FakeFcm.fail_next`.
"""

from __future__ import annotations

import itertools
import re
import secrets
import threading
from collections import deque

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import exceptions as auth_exceptions
from google.auth import jwt

from tests.fakes.loopback import LoopbackServer, ReceivedRequest, Reply

PROJECT_ID = "chorus-test"
# google-auth signs the assertion for Google's own token endpoint whatever token_uri says,
# and that endpoint checks exactly this audience.
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
# Either grants FCM sends (firebase-admin asks for cloud-platform among others).
MESSAGING_SCOPES = {"https://www.googleapis.com/auth/cloud-platform", "https://www.googleapis.com/auth/firebase.messaging"}
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SEND_PATH = re.compile(r"^/v1/projects/(?P<project>[^/]+)/messages:send$")
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"

# FCM error code -> (HTTP status, canonical status, message)
ERRORS = {
    "UNREGISTERED": (404, "NOT_FOUND", "Requested entity was not found."),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED", "SenderId mismatch"),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Send requests'."),
    "UNAVAILABLE": (503, "UNAVAILABLE", "The service is currently unavailable."),
    "INTERNAL": (500, "INTERNAL", "Internal error encountered."),
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token"),
    "THIRD_PARTY_AUTH_ERROR": (401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service"),
}


def make_service_account(token_uri: str, project_id: str = PROJECT_ID) -> dict:
    """A service-account key file's content with a freshly generated RSA key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    email = f"firebase-adminsdk@{project_id}.iam.gserviceaccount.com"
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": email,
        "client_id": str(secrets.randbelow(10**20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email}",
    }


def error_body(fcm_code: str) -> tuple[int, dict]:
    status, canonical, message = ERRORS[fcm_code]
    body = {
        "error": {
            "code": status,
            "message": message,
            "status": canonical,
            "details": [{"@type": FCM_ERROR_TYPE, "errorCode": fcm_code}],
        }
    }
    return status, body


class FakeFcm(LoopbackServer):
    def __init__(self, project_id: str = PROJECT_ID):
        super().__init__()
        self.project_id = project_id
        self._trusted: dict[str, str] = {}  # private_key_id -> public key PEM
        self._tokens: set[str] = set()
        self._token_errors: dict[str, str] = {}
        self._queued: deque[str] = deque()
        self._ids = itertools.count(1)
        self._state = threading.Lock()
        self.service_account: dict | None = None

    def start(self) -> "FakeFcm":
        super().start()
        self.service_account = make_service_account(self.token_url, self.project_id)
        self.trust(self.service_account)
        return self

    @property
    def token_url(self) -> str:
        return self.url + "/token"

    def trust(self, service_account: dict) -> None:
        """Accept token exchanges signed by this service account's key."""
        key = serialization.load_pem_private_key(service_account["private_key"].encode(), password=None)
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        self._trusted[service_account["private_key_id"]] = public

    # -- configuration -------------------------------------------------------------
    def fail_token(self, token: str, fcm_code: str) -> None:
        with self._state:
            self._token_errors[token] = fcm_code

    def fail_next(self, fcm_code: str, count: int = 1) -> None:
        with self._state:
            self._queued.extend([fcm_code] * count)

    def revoke_access_tokens(self) -> None:
        with self._state:
            self._tokens.clear()

    def reset(self) -> None:
        super().reset()
        with self._state:
            self._token_errors.clear()
            self._queued.clear()

    def sends(self) -> list[dict]:
        """The ``message`` objects of every send that reached the API, in arrival order."""
        return [r.json()["message"] for r in self.requests if SEND_PATH.match(r.path)]

    def token_exchanges(self) -> int:
        return sum(1 for r in self.requests if r.path == "/token")

    # -- the API -------------------------------------------------------------------
    def handle(self, request: ReceivedRequest) -> Reply:
        if request.method == "POST" and request.path == "/token":
            return self._exchange(request)
        match = SEND_PATH.match(request.path)
        if request.method == "POST" and match:
            return self._send(request, match["project"])
        return Reply(404, {"error": {"code": 404, "message": "Not Found", "status": "NOT_FOUND"}})

    def _exchange(self, request: ReceivedRequest) -> Reply:
        form = request.form()
        if form.get("grant_type") != JWT_BEARER or not form.get("assertion"):
            return Reply(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."})
        try:
            claims = jwt.decode(form["assertion"], certs=self._trusted, audience=[GOOGLE_TOKEN_AUDIENCE, self.token_url])
        except (ValueError, auth_exceptions.GoogleAuthError) as error:
            return Reply(400, {"error": "invalid_grant", "error_description": f"Invalid JWT: {error}"})
        if not MESSAGING_SCOPES & set(claims.get("scope", "").split()):
            return Reply(400, {"error": "invalid_scope", "error_description": "Missing FCM scope."})
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        with self._state:
            self._tokens.add(token)
        return Reply(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    def _send(self, request: ReceivedRequest, project: str) -> Reply:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        with self._state:
            authorised = bearer in self._tokens
            queued = self._queued.popleft() if self._queued and authorised else None
        if not authorised:
            return Reply(401, {"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}})
        if project != self.project_id:
            status, body = error_body("SENDER_ID_MISMATCH")
            return Reply(status, body)
        message = request.json().get("message", {})
        token = message.get("token")
        fcm_code = queued or self._token_errors.get(token or "")
        if fcm_code:
            status, body = error_body(fcm_code)
            headers = {"Retry-After": "30"} if status in (429, 503) else {}
            return Reply(status, body, headers)
        if not token:
            status, body = error_body("INVALID_ARGUMENT")
            return Reply(status, body)
        return Reply(200, {"name": f"projects/{project}/messages/0:{next(self._ids)}%{secrets.token_hex(8)}"})
