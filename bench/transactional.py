"""Latency of a transactional send: POST /v1/messages → the provider receives the request.

    python bench/transactional.py            # 50 and 200 requests/s, 20 s each
    python bench/transactional.py --quick    # 2 s each, keeps the script working in CI

The whole path is real: gunicorn serving the API, PostgreSQL, the Redis broker, a `dramatiq`
worker, and the twilio SDK posting to a loopback Twilio that notes when each request arrives.
Requests go out open-loop at a fixed rate (a slow answer does not slow the next request), each
to a new inline phone number, so every latency is matched to its request. Aim: p99 < 50 ms.

Everything shares the machine's cores, so the measuring side is kept out of Chorus's way. The
loopback Twilio runs in a process of its own, so it never waits for the client's GIL to note
an arrival (its clock is the system-wide monotonic one, as the client's). The client posts with
http.client, on one keep-alive connection per thread. With requests, and the Twilio in the
same process, the bench took 1.2 ms of CPU a send at 200 req/s; now the two take 0.3 ms each.
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests  # noqa: E402

from bench.deployment import Deployment  # noqa: E402
from tests.fakes.twilio_server import ACCOUNT_SID, AUTH_TOKEN, MESSAGING_SERVICE_SID, FakeTwilio  # noqa: E402


class TimedTwilio(FakeTwilio):
    """Notes the arrival time of each message, by its `To` number."""

    def __init__(self):
        super().__init__()
        self.arrivals: dict[str, float] = {}

    def handle(self, request):
        arrived = time.monotonic()
        if request.path.endswith("/Messages.json"):
            self.arrivals.setdefault(request.form().get("To", ""), arrived)
        return super().handle(request)


def _serve_twilio(connection) -> None:
    """The loopback Twilio's process: answers `arrivals` with what has arrived, stops at `stop`."""
    twilio = TimedTwilio().start()
    connection.send(twilio.url)
    try:
        while (command := connection.recv()) != "stop":
            if command == "arrivals":
                connection.send(dict(twilio.arrivals))
    finally:
        twilio.stop()


class Provider:
    """The loopback Twilio in its own process."""

    def __init__(self):
        self._connection, child = multiprocessing.get_context("spawn").Pipe()
        self._process = multiprocessing.get_context("spawn").Process(target=_serve_twilio, args=(child,), daemon=True)
        self._process.start()
        self.url = self._connection.recv()

    def arrivals(self) -> dict[str, float]:
        self._connection.send("arrivals")
        return self._connection.recv()

    def stop(self) -> None:
        self._connection.send("stop")
        self._process.join(10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def run_rate(base_url: str, key: str, provider: Provider, rate: int, seconds: float, offset: int) -> dict:
    address = urlsplit(base_url)
    local = threading.local()
    sent: dict[str, float] = {}
    answered: list[float] = []
    errors: list[int] = []

    def post(index: int) -> None:
        phone = f"+14153{offset + index:06d}"
        body = json.dumps({"template": "otp", "to": {"phone": phone}, "data": {"code": str(index)},
                           "channels": ["sms"]})
        headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": f"bench-{offset + index}",
                   "Content-Type": "application/json"}
        sent[phone] = time.monotonic()
        for attempt in (1, 2):  # a keep-alive connection the server closed: open another once
            connection = getattr(local, "connection", None)
            if connection is None:
                connection = local.connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
            try:
                connection.request("POST", "/v1/messages", body, headers)
                response = connection.getresponse()
                response.read()
                break
            except (http.client.HTTPException, OSError):
                connection.close()
                local.connection = None
                if attempt == 2:
                    errors.append(0)
                    return
        answered.append((time.monotonic() - sent[phone]) * 1000)
        if response.status != 202:
            errors.append(response.status)

    total = int(rate * seconds)
    with ThreadPoolExecutor(max_workers=64) as pool:
        start = time.monotonic()
        for index in range(total):
            delay = start + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(post, index)
    deadline = time.monotonic() + 30
    arrivals = provider.arrivals()
    while time.monotonic() < deadline and sum(1 for p in sent if p in arrivals) < total - len(errors):
        time.sleep(0.1)
        arrivals = provider.arrivals()
    latencies = [(arrivals[p] - t) * 1000 for p, t in sent.items() if p in arrivals]
    return {"rate": rate, "requests": total, "arrived": len(latencies), "errors": len(errors),
            "api_p50": percentile(answered, 50), "api_p99": percentile(answered, 99),
            "p50": percentile(latencies, 50), "p95": percentile(latencies, 95), "p99": percentile(latencies, 99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rates", default="50,200")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    seconds = 2 if args.quick else args.seconds
    provider = Provider()
    port = free_port()
    deployment = Deployment("transactional", CHORUS_TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                            CHORUS_TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                            CHORUS_TWILIO_MESSAGING_SERVICE_SID=MESSAGING_SERVICE_SID,
                            CHORUS_TWILIO_API_URL=provider.url, CHORUS_CHANNEL_RATES="sms=100000")
    try:
        from orchestrator.db import db
        from orchestrator.services import templates as template_service
        from orchestrator.services.api_keys import create_api_key
        from templates.content import SmsContent, TemplateContent

        with deployment.app.app_context():
            template_service.create_template(db.session, key="otp", name="OTP", category="transactional", topic=None,
                                             content=TemplateContent(sms=SmsContent(body="Your code is {{ data.code }}")))
            template_service.publish(db.session, "otp")
            key = create_api_key(db.session, "bench").secret
            db.session.commit()
        # The workers of the Procfile: the transactional queue's at its defaults (one process,
        # 8 threads, woken by the Redis doorbell at each enqueue), and one for the rest (it
        # answers the readiness heartbeat). The API in one gunicorn process of 8 threads: on two
        # cores shared with everything else, two processes of each (measured alternately at
        # 200 req/s) cost 0.3-1.6 ms more machine CPU a send and put p99 at 341-538 ms,
        # against 73-134 ms.
        chorus = [sys.executable, "-m", "orchestrator.cli", "worker"]
        deployment.spawn([*chorus, "--queues", "transactional", "--processes", "1", "--threads", "8"])
        deployment.spawn([*chorus, "--queues", "default,bulk,webhooks", "--processes", "1", "--threads", "2"])
        deployment.wait_for_workers()
        deployment.spawn([sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "8",
                          "--bind", f"127.0.0.1:{port}", "orchestrator.wsgi:app"])
        base_url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                if requests.get(base_url + "/health", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        run_rate(base_url, key, provider, 20, 1, offset=900_000)  # warm-up: pools, caches, JIT of the SDKs
        print("rate/s  requests  arrived  errors   p50 ms   p95 ms   p99 ms   (202 answered: p50 ms  p99 ms)"
              "   CPU ms/send: Chorus  machine")
        for n, rate in enumerate(int(r) for r in args.rates.split(",")):
            cpu, machine = deployment.cpu_seconds(), deployment.machine_cpu_seconds()
            result = run_rate(base_url, key, provider, rate, seconds, offset=n * 100_000)
            # CPU of gunicorn and the workers per send: with the bench client, the loopback
            # Twilio, PostgreSQL and Redis on the same cores, it says where saturation begins.
            cpu_ms = (deployment.cpu_seconds() - cpu) * 1000 / max(1, result["requests"])
            machine_ms = (deployment.machine_cpu_seconds() - machine) * 1000 / max(1, result["requests"])
            print(f"{result['rate']:>6}  {result['requests']:>8}  {result['arrived']:>7}  {result['errors']:>6}"
                  f"  {result['p50']:>7.1f}  {result['p95']:>7.1f}  {result['p99']:>7.1f}"
                  f"   {result['api_p50']:>7.1f} {result['api_p99']:>7.1f}   {cpu_ms:>18.1f} {machine_ms:>8.1f}")
        print("aim: p99 < 50 ms")
    finally:
        deployment.close()
        provider.stop()


if __name__ == "__main__":
    main()
