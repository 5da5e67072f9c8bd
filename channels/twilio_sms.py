"""SMS through Twilio's Programmable Messaging API, with the official SDK.

One ``twilio.rest.Client`` per adapter, on an HTTP client that has explicit timeouts (the
SDK has none by default), a sized keep-alive pool, no automatic re-send of a POST, and an
optional base-URL override that points the real SDK at a loopback fake in tests and
benchmarks (unset in production).
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping, Sequence
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter
from requests.auth import HTTPBasicAuth
from requests.structures import CaseInsensitiveDict
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client

from channels import status
from channels.addresses import phone_number
from channels.channel import SMS, DeclaredChannel, check_batch
from channels.envelope import Accepted, Envelope, Failed, SendResult, content_field
from channels.errors import InvalidAddress, PermanentError, TransientError
from channels.provider_http import NO_RESEND, parse_retry_after, pin_environment
from channels.settings import ChannelSettings

log = logging.getLogger(__name__)

TWILIO_API_URL = "https://api.twilio.com"
STATUS_CALLBACK_PATH = "/webhooks/twilio/status"

# Twilio MessageStatus -> Chorus status. None: not an outbound status (inbound messages).
TWILIO_STATUS_MAP: Mapping[str, str | None] = {
    "accepted": status.SENT,
    "scheduled": status.SENT,
    "queued": status.SENT,
    "sending": status.SENT,
    "sent": status.SENT,
    "delivered": status.DELIVERED,
    "partially_delivered": status.DELIVERED,
    "read": status.OPENED,
    "undelivered": status.UNDELIVERED,
    "failed": status.FAILED,
    "canceled": status.FAILED,
    "receiving": None,
    "received": None,
}

# Error codes that say the number itself cannot take SMS from us.
ADDRESS_INVALID_CODES = {
    21211: "invalid 'To' phone number",
    21614: "'To' number is not a mobile number",
    21612: "'To' number is not reachable via SMS",
}
OPT_OUT_CODE = 21610  # the recipient replied STOP
# Permanent for this message but the number may be fine: the account may not send to that
# region (21408), so dropping the number would be wrong.
PERMANENT_NOT_ADDRESS_CODES = {21408: "sending to this region is not enabled on the account"}
RATE_LIMIT_CODE = 20429
# Credentials or account trouble: nothing wrong with the message; retry once fixed.
ACCOUNT_CODES = {20003, 20005, 20403}

class SmsHttpClient(TwilioHttpClient):
    """The SDK's HTTP client with a sized pool, no POST re-sends and a base-URL override."""

    def __init__(self, timeout: float, pool_size: int, api_url: str | None = None):
        super().__init__(pool_connections=True, timeout=timeout, logger=log)
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=NO_RESEND)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.api_url = api_url.rstrip("/") if api_url else None
        pin_environment(self.session, self.api_url or TWILIO_API_URL)
        self._last = threading.local()

    def request(self, method: str, url: str, params: Mapping[str, Any] | None = None,
                data: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
                auth: tuple[str, str] | None = None, timeout: float | None = None,
                allow_redirects: bool = False) -> TwilioResponse:
        """The SDK's HttpClient contract, sent straight through the session's adapter (its
        pool, its no-resend retries, the pinned proxy and CA settings).

        TwilioHttpClient goes through Session.prepare_request and Session.send, which merge
        cookies, hooks, settings and parameters on every call; on Python 3.11 each of their
        runtime Protocol checks alone walks a class's attributes. That was a third of an SMS
        send's Python calls (2,770 -> 1,820). A Twilio call needs none of it: a form body,
        Basic auth, no cookies, no redirects."""
        if self.api_url and url.startswith(TWILIO_API_URL):
            url = self.api_url + url[len(TWILIO_API_URL):]
        self._last.headers = None
        if params:
            url += ("&" if "?" in url else "?") + _form(params)
        self.log_request({"method": method, "url": url})
        prepared = requests.PreparedRequest()
        prepared.method, prepared.url = method.upper(), url
        prepared.headers = CaseInsensitiveDict(self.session.headers)
        prepared.headers.update(headers or {})
        if data is not None and prepared.headers.get("Content-Type", "").startswith("application/json"):
            prepared.body = json.dumps(data, allow_nan=False)
        else:
            prepared.body = _form(data) if data else None
        if prepared.body is not None or prepared.method not in ("GET", "HEAD"):
            prepared.headers["Content-Length"] = str(len((prepared.body or "").encode()))
        if auth:
            HTTPBasicAuth(*auth)(prepared)
        response = self.session.get_adapter(url).send(
            prepared, timeout=self.timeout if timeout is None else timeout, verify=self.session.verify,
            proxies=self.session.proxies)
        self.log_response(response.status_code, response)
        self._last.headers = response.headers
        return TwilioResponse(int(response.status_code), response.text, response.headers)

    def last_headers(self) -> Mapping[str, str]:
        """Headers of this thread's last response (the SDK's exceptions drop them)."""
        return getattr(self._last, "headers", None) or {}

    # The SDK logs request bodies at INFO; a message body must not reach the logs.
    def log_request(self, kwargs: dict[str, Any]) -> None:
        log.debug("twilio request %s %s", kwargs.get("method"), kwargs.get("url"))

    def log_response(self, status_code: int, response: Any) -> None:
        log.debug("twilio response %s", status_code)


def _form(values: Mapping[str, Any]) -> str:
    """A form body or query as requests encodes one: None values left out, lists repeated."""
    return urlencode([(k, v) for k, v in values.items() if v is not None], doseq=True)


def classify_twilio_error(
    http_status: int, code: int | None, message: str, retry_after: float | None = None
) -> TransientError | PermanentError:
    """A Twilio REST error as a Chorus error."""
    code = int(code) if code is not None else None
    if code in ADDRESS_INVALID_CODES:
        return PermanentError(str(code), message or ADDRESS_INVALID_CODES[code], address_invalid=True)
    if code == OPT_OUT_CODE:
        return PermanentError(str(code), message or "recipient opted out", opt_out=True)
    if code in PERMANENT_NOT_ADDRESS_CODES:
        return PermanentError(str(code), message or PERMANENT_NOT_ADDRESS_CODES[code])
    if code == RATE_LIMIT_CODE or http_status == 429 or http_status >= 500:
        return TransientError(message or f"twilio HTTP {http_status}", retry_after, str(code or http_status))
    if code in ACCOUNT_CODES or http_status in (401, 403):
        return TransientError(message or "twilio rejected the credentials", retry_after, str(code or http_status))
    return PermanentError(str(code or http_status), message or f"twilio HTTP {http_status}")


class SmsChannel(DeclaredChannel):
    key = SMS

    def __init__(self, settings: ChannelSettings, concurrency: int = 8):
        if not settings.twilio_configured:
            raise ValueError("Twilio needs an account SID, an auth token and a sender")
        self.settings = settings
        self.concurrency = max(1, concurrency)
        self.http_client = SmsHttpClient(settings.twilio_timeout, self.concurrency, settings.twilio_api_url)
        self.client = Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=self.http_client)
        self.status_callback = (
            settings.public_url.rstrip("/") + STATUS_CALLBACK_PATH if settings.public_url else None
        )
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="chorus-sms")

    @staticmethod
    def credentials_present(settings: ChannelSettings) -> bool:
        return settings.twilio_configured

    def validate_address(self, address: str) -> str:
        return phone_number(address)

    def send_batch(self, envelopes: Sequence[Envelope]) -> list[SendResult]:
        check_batch(self, envelopes)
        if len(envelopes) <= 1:
            return [self._send_one(e) for e in envelopes]
        return list(self._pool.map(self._send_one, envelopes))

    def _send_one(self, envelope: Envelope) -> SendResult:
        try:
            to = self.validate_address(envelope.address)
        except InvalidAddress as error:
            return Failed(envelope.message_id, error)
        text = content_field(envelope.content, "text", "")
        if not text:
            return Failed(envelope.message_id, PermanentError("empty", "the SMS has no text"))
        segments = content_field(envelope.content, "segments", 1)
        if segments > self.max_sms_segments:
            return Failed(
                envelope.message_id,
                PermanentError("too_long", f"{segments} segments > {self.max_sms_segments}"),
            )
        params: dict[str, Any] = {"to": to, "body": text}
        if self.settings.twilio_messaging_service_sid:
            params["messaging_service_sid"] = self.settings.twilio_messaging_service_sid
        else:
            params["from_"] = self.settings.twilio_from_number
        if self.status_callback:
            # The message id rides in the callback URL (Twilio signs the URL with it): a
            # callback that outruns the recording of the provider id still finds its message.
            params["status_callback"] = f"{self.status_callback}?m={envelope.message_id}"
        try:
            message = self.client.messages.create(**params)
        except (TwilioRestException, TwilioServiceException) as error:
            retry_after = parse_retry_after(self.http_client.last_headers())
            message_text = getattr(error, "msg", None) or getattr(error, "detail", None) or str(error)
            return Failed(
                envelope.message_id,
                classify_twilio_error(error.status, error.code, message_text, retry_after),
            )
        except requests.Timeout:
            # The request may have reached Twilio; a retry can duplicate, which we accept over
            # losing the message (the orchestrator caps attempts).
            return Failed(envelope.message_id, TransientError("twilio timed out", code="timeout"))
        except requests.RequestException as error:
            return Failed(envelope.message_id, TransientError(f"twilio unreachable: {error}", code="network"))
        return Accepted(envelope.message_id, message.sid)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self.http_client.session is not None:
            self.http_client.session.close()
