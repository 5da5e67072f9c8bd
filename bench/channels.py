"""Messages per second through each channel adapter against its loopback provider.

    .venv/bin/python bench/channels.py            # batch sizes 1, 100 and 500
    .venv/bin/python bench/channels.py --quick    # tiny sizes, to keep the script working in CI

The real twilio and firebase-admin SDKs talk to the loopback fakes in tests/fakes, SMTP goes
to a local aiosmtpd, and in-app and sandbox write to in-memory stores. A "batch" is the
number of envelopes handed over at once, split into ``send_batch`` calls of at most the
channel's ``max_batch``. Figures include the fake provider's own work in the same process,
so they are a floor for the adapter, not a provider throughput claim.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# This file is called channels.py: drop its own folder from the path so `import channels`
# finds the package, and add the repository root for tests.fakes.
ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from channels import (  # noqa: E402
    ChannelSettings,
    EmailChannel,
    Envelope,
    InappChannel,
    PushChannel,
    SandboxChannel,
    SmsChannel,
)
from tests.fakes.fcm_server import FakeFcm  # noqa: E402
from tests.fakes.smtp_server import FakeSmtp  # noqa: E402
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, MESSAGING_SERVICE_SID, FakeTwilio  # noqa: E402


class CountingOutbox:
    def __init__(self):
        self.count = 0

    def record(self, entries):
        self.count += len(entries)


class CountingInbox:
    def __init__(self):
        self.next_id = 0

    def add_items(self, items):
        start = self.next_id
        self.next_id += len(items)
        return list(range(start, self.next_id))

    def publish(self, items, item_ids):
        pass


def sms_envelope(i):
    return Envelope(i, f"bench:{i}:sms", "+14155552671", {"text": "Your code is 123456", "encoding": "GSM-7", "segments": 1})


def push_envelope(i):
    return Envelope(i, f"bench:{i}:push", f"token-{i}", {"title": "Sale", "body": "20% off", "deep_link": "https://shop.example/sale", "data": {"sku": "A1"}, "payload_size": 200})


def email_envelope(i):
    content = {"subject": "Spring sale", "html": "<p>Hello <b>Ada</b></p>", "text": "Hello Ada"}
    return Envelope(i, f"bench:{i}:email", f"user{i}@example.com", content, {"category": "marketing", "unsubscribe_url": "https://chorus.example/u/x"})


def inapp_envelope(i):
    return Envelope(i, f"bench:{i}:inapp", str(i), {"title": "Order shipped", "body": "On its way"})


def measure(channel, make, batch: int, total: int) -> float:
    """Messages per second sending ``total`` envelopes in batches of ``batch``."""
    channel.send_batch([make(-1)])  # warm up: connections, OAuth token
    sent = 0
    started = time.perf_counter()
    while sent < total:
        envelopes = [make(sent + k) for k in range(batch)]
        for start in range(0, batch, channel.max_batch):
            results = channel.send_batch(envelopes[start:start + channel.max_batch])
            failed = [r for r in results if not r.ok]
            if failed:
                raise SystemExit(f"{channel.key}: {len(failed)} failed, e.g. {failed[0]}")
        sent += batch
    return sent / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes for CI")
    args = parser.parse_args()
    sizes = (1, 5, 10) if args.quick else (1, 100, 500)

    def total_for(batch: int) -> int:
        if args.quick:
            return batch * 2
        return max(batch * 2, 200) if batch > 1 else 200

    with FakeTwilio() as twilio, FakeFcm() as fcm, FakeSmtp() as smtp:
        adapters = [
            ("sms (twilio SDK)", SmsChannel(ChannelSettings(
                public_url="https://chorus.example", twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN,
                twilio_messaging_service_sid=MESSAGING_SERVICE_SID, twilio_api_url=twilio.url)), sms_envelope),
            ("push (firebase-admin)", PushChannel(ChannelSettings(
                fcm_service_account=fcm.service_account, fcm_api_url=fcm.url)), push_envelope),
            ("email (smtplib)", EmailChannel(ChannelSettings(
                smtp_host=smtp.host, smtp_port=smtp.port, smtp_security="none",
                email_from_address="news@chorus.example")), email_envelope),
            ("inapp (memory store)", InappChannel(CountingInbox()), inapp_envelope),
            ("sandbox sms (memory outbox)", SandboxChannel("sms", CountingOutbox()), sms_envelope),
        ]
        print(f"{'adapter':<30}" + "".join(f"{f'batch {n}':>14}" for n in sizes) + "   (messages/s)")
        for name, channel, make in adapters:
            rates = []
            for batch in sizes:
                twilio.reset(), fcm.reset(), smtp.reset()
                rates.append(measure(channel, make, batch, total_for(batch)))
            channel.close()
            print(f"{name:<30}" + "".join(f"{rate:>14,.0f}" for rate in rates), flush=True)


if __name__ == "__main__":
    main()
