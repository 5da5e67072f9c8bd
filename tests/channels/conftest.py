"""Loopback providers and adapters for the channel tests.

Servers live for the module (starting them is the slow part); each test starts from a
reset server.
"""

from __future__ import annotations

import pytest

from channels import ChannelSettings, EmailChannel, PushChannel, SmsChannel
from tests.fakes.fcm_server import FakeFcm
from tests.fakes.smtp_server import FakeSmtp
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, MESSAGING_SERVICE_SID, FakeTwilio

PUBLIC_URL = "https://chorus.example"


class MemoryOutbox:
    def __init__(self, fail: Exception | None = None):
        self.entries: list = []
        self.fail = fail

    def record(self, entries):
        if self.fail:
            raise self.fail
        self.entries.extend(entries)


class MemoryInbox:
    def __init__(self):
        self.items: list = []
        self.published: list = []
        self.fail_add: Exception | None = None
        self.fail_publish: Exception | None = None

    def add_items(self, items):
        if self.fail_add:
            raise self.fail_add
        start = len(self.items)
        self.items.extend(items)
        return list(range(start + 1, start + 1 + len(items)))

    def publish(self, items, item_ids):
        if self.fail_publish:
            raise self.fail_publish
        self.published.extend(zip(item_ids, items))


@pytest.fixture
def outbox():
    return MemoryOutbox()


@pytest.fixture
def inbox():
    return MemoryInbox()


@pytest.fixture(scope="module")
def twilio_server():
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def twilio(twilio_server):
    twilio_server.reset()
    return twilio_server


def twilio_settings(server: FakeTwilio, **overrides) -> ChannelSettings:
    values = dict(
        public_url=PUBLIC_URL,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_messaging_service_sid=MESSAGING_SERVICE_SID,
        twilio_api_url=server.url,
        twilio_timeout=2.0,
    )
    values.update(overrides)
    return ChannelSettings(**values)


@pytest.fixture(scope="module")
def sms_channel(twilio_server):
    channel = SmsChannel(twilio_settings(twilio_server))
    yield channel
    channel.close()


@pytest.fixture(scope="module")
def fcm_server():
    with FakeFcm() as server:
        yield server


@pytest.fixture
def fcm(fcm_server):
    fcm_server.reset()
    return fcm_server


@pytest.fixture(scope="module")
def push_channel(fcm_server):
    channel = PushChannel(ChannelSettings(fcm_service_account=fcm_server.service_account, fcm_api_url=fcm_server.url))
    yield channel
    channel.close()


@pytest.fixture(scope="module")
def smtp_server():
    with FakeSmtp() as server:
        yield server


@pytest.fixture
def smtp(smtp_server):
    smtp_server.reset()
    return smtp_server


def smtp_settings(server: FakeSmtp, **overrides) -> ChannelSettings:
    values = dict(
        smtp_host=server.host,
        smtp_port=server.port,
        smtp_security=server.security,
        smtp_timeout=5.0,
        email_from_address="news@chorus.example",
        email_from_name="Chorus News",
    )
    values.update(overrides)
    return ChannelSettings(**values)


@pytest.fixture
def email_channel(smtp_server):
    return EmailChannel(smtp_settings(smtp_server))
