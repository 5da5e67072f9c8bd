"""A loopback Twilio Programmable Messaging API for the real twilio SDK.

Answers ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` as Twilio does: HTTP Basic
auth with the account SID and auth token, 201 with a Message resource, and Twilio's error
bodies (``code``, ``message``, ``more_info``, ``status``) for its test numbers and for
failures queued with :meth:`FakeTwilio.fail_next`.
"""

from __future__ import annotations

import base64
import re
import secrets
import threading
import time
from collections import deque
from datetime import datetime, timezone
from email.utils import format_datetime

import requests

from tests.fakes.loopback import LoopbackServer, ReceivedRequest, Reply

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "fake-auth-token"
MESSAGING_SERVICE_SID = "MG" + "0" * 31 + "1"

MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-f]{32})/Messages\.json$")

ERROR_TEXT = {
    20003: "Authenticate",
    20429: "Too Many Requests",
    21211: "The 'To' number {to} is not a valid phone number.",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {to}.",
    21610: "Attempt to send to unsubscribed recipient",
    21612: "The 'To' phone number: {to}, is not currently reachable using the 'From' phone number via SMS.",
    21614: "'To' number is not a valid mobile number",
    30001: "Queue overflow",
}

# Twilio's own magic test numbers, answered the way Twilio's test credentials answer them.
TEST_NUMBERS = {
    "+15005550001": (400, 21211),
    "+15005550002": (400, 21612),
    "+15005550003": (400, 21408),
    "+15005550004": (400, 21610),
    "+15005550009": (400, 21614),
}


def error_body(status: int, code: int, to: str = "") -> dict:
    return {
        "code": code,
        "message": ERROR_TEXT.get(code, "Error").format(to=to),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class FakeTwilio(LoopbackServer):
    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN):
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.number_errors: dict[str, tuple[int, int]] = dict(TEST_NUMBERS)
        self._queued: deque[Reply] = deque()
        self._callbacks: dict[str, str] = {}
        self._delays: deque[float] = deque()
        self._state = threading.Lock()

    # -- configuration -------------------------------------------------------------
    def fail_number(self, number: str, status: int, code: int) -> None:
        self.number_errors[number] = (status, code)

    def fail_next(self, status: int, code: int | None = None, retry_after: float | None = None, count: int = 1) -> None:
        """Answer the next ``count`` sends with this error (429/20429, 500, 503...)."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        body = error_body(status, code or status)
        with self._state:
            self._queued.extend(Reply(status, dict(body), dict(headers)) for _ in range(count))

    def delay_next(self, seconds: float, count: int = 1) -> None:
        """Answer the next ``count`` sends only after ``seconds`` (to trip client timeouts)."""
        with self._state:
            self._delays.extend([seconds] * count)

    def reset(self) -> None:
        super().reset()
        with self._state:
            self._queued.clear()
            self._delays.clear()
            self._callbacks.clear()
        self.number_errors = dict(TEST_NUMBERS)

    def sent(self) -> list[dict[str, str]]:
        """The form bodies of the messages that were accepted or refused, in arrival order."""
        return [r.form() for r in self.requests if MESSAGES_PATH.match(r.path)]

    # -- status callbacks ----------------------------------------------------------
    def post_status(self, message_sid: str, status: str, error_code: int | None = None) -> requests.Response:
        """POST a status callback for a message to the URL its send asked for."""
        url = self._callbacks[message_sid]
        form = {"MessageSid": message_sid, "SmsSid": message_sid, "AccountSid": self.account_sid, "MessageStatus": status, "SmsStatus": status}
        if error_code is not None:
            form["ErrorCode"] = str(error_code)
        return requests.post(url, data=form, timeout=5)

    # -- the API -------------------------------------------------------------------
    def handle(self, request: ReceivedRequest) -> Reply:
        match = MESSAGES_PATH.match(request.path)
        if request.method != "POST" or not match:
            return Reply(404, {"code": 20404, "message": "The requested resource was not found", "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404})
        if not self._authorised(request) or match["sid"] != self.account_sid:
            return Reply(401, error_body(401, 20003), {"WWW-Authenticate": 'Basic realm="Twilio API"'})
        with self._state:
            queued = self._queued.popleft() if self._queued else None
            delay = self._delays.popleft() if self._delays else 0
        if delay:
            time.sleep(delay)
        if queued is not None:
            return queued
        form = request.form()
        to = form.get("To", "")
        if not to or not form.get("Body"):
            return Reply(400, {"code": 21604 if not to else 21602, "message": "A 'To' phone number and a 'Body' are required.", "more_info": "https://www.twilio.com/docs/errors/21602", "status": 400})
        if not (form.get("From") or form.get("MessagingServiceSid")):
            return Reply(400, {"code": 21603, "message": "A 'From' or 'MessagingServiceSid' parameter is required to send a message", "more_info": "https://www.twilio.com/docs/errors/21603", "status": 400})
        if to in self.number_errors:
            status, code = self.number_errors[to]
            return Reply(status, error_body(status, code, to))
        sid = "SM" + secrets.token_hex(16)
        if form.get("StatusCallback"):
            with self._state:
                self._callbacks[sid] = form["StatusCallback"]
        return Reply(201, self._message_resource(sid, form))

    def _authorised(self, request: ReceivedRequest) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user == self.account_sid and password == self.auth_token

    def _message_resource(self, sid: str, form: dict[str, str]) -> dict:
        now = format_datetime(datetime.now(timezone.utc), usegmt=True)
        body = form["Body"]
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": str(max(1, -(-len(body) // 153) if len(body) > 160 else 1)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if form.get("MessagingServiceSid") else "queued",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
            "to": form["To"],
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
