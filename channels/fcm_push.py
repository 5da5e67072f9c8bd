"""Push through Firebase Cloud Messaging (HTTP v1), with the official firebase-admin SDK.

Each adapter owns a named firebase_admin App built from a service-account key. Before the
first send it mounts its own transport on the SDK's messaging session:

* a pool as large as a ``send_each`` chunk (the SDK sends a chunk on one thread per message),
* no urllib3 re-send of a POST that may have reached FCM (the SDK's default retries a
  500/503 up to four times and a read error once, for any method, which duplicates
  notifications); a failed send comes back as TransientError and is retried by Chorus,
* an optional base-URL override of https://fcm.googleapis.com for loopback tests and
  benchmarks (the token exchange follows the service account's own ``token_uri``).

firebase-admin 7.7 has no public hook for any of this: the one place that reaches into it is
:func:`_messaging_session`, which fails loudly if the SDK's layout changes.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any, Mapping, Sequence

import firebase_admin
import requests
from firebase_admin import credentials, exceptions, messaging
from requests.adapters import HTTPAdapter

from channels.addresses import push_token
from channels.channel import PUSH, DeclaredChannel, check_batch
from channels.envelope import Accepted, Envelope, Failed, SendResult, content_field
from channels.errors import InvalidAddress, PermanentError, TransientError
from channels.settings import ChannelSettings
from channels.provider_http import NO_RESEND, parse_retry_after, pin_environment

log = logging.getLogger(__name__)

FCM_API_URL = "https://fcm.googleapis.com"
SEND_EACH_LIMIT = 500

# FCM errors that mean the token is dead or belongs to another project: remove it.
TOKEN_DEAD = (messaging.UnregisteredError, messaging.SenderIdMismatchError)
# Errors where the same send may succeed later.
TRANSIENT = (
    messaging.QuotaExceededError,
    messaging.ThirdPartyAuthError,  # APNs/web-push credentials of the project: a fix is needed, not a new message
    exceptions.UnavailableError,
    exceptions.InternalError,
    exceptions.DeadlineExceededError,
    exceptions.UnknownError,
    exceptions.ResourceExhaustedError,
    exceptions.UnauthenticatedError,
    exceptions.AbortedError,
)


class FcmTransport(HTTPAdapter):
    """A pooled, non-resending transport that can send FCM calls to another base URL."""

    def __init__(self, pool_size: int, api_url: str | None = None):
        super().__init__(pool_connections=1, pool_maxsize=pool_size, max_retries=NO_RESEND)
        self.api_url = api_url.rstrip("/") if api_url else None

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if self.api_url and request.url.startswith(FCM_API_URL):
            request.url = self.api_url + request.url[len(FCM_API_URL):]
        return super().send(request, *args, **kwargs)


def _messaging_session(app: firebase_admin.App) -> requests.Session:
    service = messaging._get_messaging_service(app)  # noqa: SLF001 - no public hook, see module doc
    client = getattr(service, "_client", None)
    session = getattr(client, "session", None)
    if not isinstance(session, requests.Session):
        raise RuntimeError("firebase_admin.messaging changed its HTTP client; update channels.fcm_push")
    return session


def classify_fcm_error(error: Exception) -> TransientError | PermanentError:
    """A firebase-admin send error as a Chorus error."""
    response = getattr(error, "http_response", None)
    retry_after = parse_retry_after(response.headers) if response is not None else None
    http_status = response.status_code if response is not None else None
    code = getattr(error, "code", None) or type(error).__name__
    if isinstance(error, messaging.UnregisteredError):
        return PermanentError("UNREGISTERED", "the app was uninstalled or the token expired", address_invalid=True)
    if isinstance(error, messaging.SenderIdMismatchError):
        return PermanentError("SENDER_ID_MISMATCH", "the token belongs to another sender", address_invalid=True)
    if isinstance(error, TRANSIENT) or (http_status is not None and http_status >= 500):
        return TransientError(str(error), retry_after, str(code))
    if isinstance(error, exceptions.FirebaseError):
        return PermanentError(str(code), str(error))
    return TransientError(f"fcm call failed: {error}", retry_after, "network")


def string_map(data: Mapping[str, Any] | None) -> dict[str, str]:
    """FCM data values must be strings; anything else travels as JSON."""
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in (data or {}).items()}


def apns_headers(priority: str, ttl_seconds: Any, collapse_key: str | None) -> dict[str, str]:
    """APNs's names for the options: priority 10 or 5, an expiry as a Unix time (0: try once,
    never store), a collapse id."""
    headers = {"apns-priority": "10" if priority == "high" else "5"}
    if ttl_seconds is not None:
        ttl = int(ttl_seconds)
        headers["apns-expiration"] = "0" if ttl == 0 else str(int(time.time()) + ttl)
    if collapse_key:
        headers["apns-collapse-id"] = collapse_key
    return headers


def build_message(token: str, content: Any, metadata: Mapping[str, Any]) -> messaging.Message:
    """The FCM message for one device: notification, data and per-platform options.

    ``metadata`` may set ``priority`` ("high"/"normal"), ``ttl_seconds``, ``collapse_key``,
    ``android_click_action`` and ``address_kind`` ("fid" when the address is an installation id).
    """
    title = content_field(content, "title")
    body = content_field(content, "body")
    image = content_field(content, "image_url")
    deep_link = content_field(content, "deep_link")
    sound = content_field(content, "sound")
    badge = content_field(content, "badge")
    data = string_map(content_field(content, "data", {}))
    if deep_link:
        data.setdefault("deep_link", deep_link)
    if metadata.get("message_id") is not None:
        data.setdefault("chorus_message_id", str(metadata["message_id"]))
    # The template's delivery options, else the job's, else urgent with the services' default TTL.
    chosen_priority = content_field(content, "priority") or metadata.get("priority")
    priority = chosen_priority or "high"
    ttl = content_field(content, "ttl_seconds")
    ttl = metadata.get("ttl_seconds") if ttl is None else ttl
    collapse_key = content_field(content, "collapse_key") or metadata.get("collapse_key")
    message = messaging.Message(
        notification=messaging.Notification(title=title, body=body, image=image),
        data=data or None,
        android=messaging.AndroidConfig(
            priority="high" if priority == "high" else "normal",
            ttl=int(ttl) if ttl is not None else None,
            collapse_key=collapse_key,
            notification=messaging.AndroidNotification(
                sound=sound,
                image=image,
                # An intent action the app declares; a URL here would not open anything.
                click_action=metadata.get("android_click_action"),
            ),
        ),
        apns=messaging.APNSConfig(
            headers=apns_headers(priority, ttl, collapse_key),
            payload=messaging.APNSPayload(
                aps=messaging.Aps(sound=sound, badge=badge, mutable_content=True if image else None)
            ),
            fcm_options=messaging.APNSFCMOptions(image=image) if image else None,
        ),
        webpush=messaging.WebpushConfig(
            # RFC 8030's names: how long the push service keeps it, and how urgently it wakes.
            headers={**({"TTL": str(int(ttl))} if ttl is not None else {}),
                     **({"Urgency": chosen_priority} if chosen_priority else {})} or None,
            # FCM only opens HTTPS links from a web notification.
            fcm_options=messaging.WebpushFCMOptions(link=deep_link)
            if deep_link and str(deep_link).startswith("https://")
            else None,
        ),
    )
    # firebase-admin 7.7 deprecates registration tokens in favour of installation ids (FIDs),
    # but apps still hand out tokens and FCM still takes them. Setting the public attribute
    # after construction sends exactly the same request without a warning on every message.
    if metadata.get("address_kind") == "fid":
        message.fid = token
    else:
        message.token = token
    return message


class PushChannel(DeclaredChannel):
    key = PUSH

    def __init__(self, settings: ChannelSettings, chunk_size: int = SEND_EACH_LIMIT):
        if not settings.fcm_configured:
            raise ValueError("FCM needs a service account")
        info = settings.service_account_info()
        self.chunk_size = max(1, min(chunk_size, SEND_EACH_LIMIT))
        self.app = firebase_admin.initialize_app(
            credentials.Certificate(info),
            options={"httpTimeout": settings.fcm_timeout, "projectId": info.get("project_id")},
            name=f"chorus-push-{uuid.uuid4().hex}",
        )
        self.transport = FcmTransport(self.chunk_size, settings.fcm_api_url)
        session = _messaging_session(self.app)
        session.mount(FCM_API_URL, self.transport)
        pin_environment(session, self.transport.api_url or FCM_API_URL)

    @staticmethod
    def credentials_present(settings: ChannelSettings) -> bool:
        return settings.fcm_configured

    def validate_address(self, address: str) -> str:
        return push_token(address)

    def send_batch(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        check_batch(self, envelopes)
        results: list[SendResult | None] = [None] * len(envelopes)
        ready: list[tuple[int, messaging.Message]] = []
        for index, envelope in enumerate(envelopes):
            prepared = self._prepare(envelope)
            if isinstance(prepared, Failed):
                results[index] = prepared
            else:
                ready.append((index, prepared))
        for start in range(0, len(ready), self.chunk_size):
            chunk = ready[start:start + self.chunk_size]
            for (index, _), result in zip(chunk, self._send_chunk([envelopes[i] for i, _ in chunk], [m for _, m in chunk])):
                results[index] = result
        return results  # type: ignore[return-value]

    def _prepare(self, envelope: Envelope) -> messaging.Message | Failed:
        try:
            token = self.validate_address(envelope.address)
        except InvalidAddress as error:
            return Failed(envelope.message_id, error)
        size = content_field(envelope.content, "payload_size", 0)
        if size > self.max_payload_bytes:
            return Failed(
                envelope.message_id,
                PermanentError("payload_too_large", f"{size} bytes > {self.max_payload_bytes}"),
            )
        try:
            message = build_message(token, envelope.content, {"message_id": envelope.message_id, **envelope.metadata})
            # send_each encodes the whole chunk first, so one invalid message would fail them
            # all: encode each here and keep the failure to its own envelope.
            messaging._MessagingService.encode_message(message)  # noqa: SLF001
        except (ValueError, TypeError) as error:
            return Failed(envelope.message_id, PermanentError("INVALID_ARGUMENT", str(error)))
        return message

    def _send_chunk(self, envelopes: list[Envelope], messages: list[messaging.Message]) -> list[SendResult]:
        try:
            batch = messaging.send_each(messages, app=self.app)
        except Exception as error:  # the SDK wraps token-exchange failures and the like as one error
            failure = classify_fcm_error(error)
            if isinstance(failure, PermanentError):  # a whole-chunk failure is never about one token
                failure = TransientError(str(error), code=failure.code)
            return [Failed(e.message_id, failure) for e in envelopes]
        results: list[SendResult] = []
        for envelope, response in zip(envelopes, batch.responses):
            if response.success:
                results.append(Accepted(envelope.message_id, response.message_id))
            else:
                results.append(Failed(envelope.message_id, classify_fcm_error(response.exception)))
        return results

    def close(self) -> None:
        firebase_admin.delete_app(self.app)
        self.transport.close()
