"""Events per second through `POST /v1/events` batches into PostgreSQL.

Starts gunicorn (2 workers, the production web process) against a fresh PostgreSQL database,
then posts batches of 1,000 events from a few client threads over keep-alive connections and
prints the sustained rate. The client shares the machine's cores with the server, so the figure
is a floor for a server with its own machine.

    python bench/ingest.py                 # 200 batches of 1,000 events
    python bench/ingest.py --quick         # a tiny run that only proves the script works
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestrator.migrate import upgrade  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_database(admin_url: str, name: str) -> str:
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    upgrade(url)
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.batches, args.batch_size, args.contacts, args.clients = 4, 50, 100, 2

    url = fresh_database(args.admin_url, "chorus_bench_ingest")
    port = free_port()
    env = {**os.environ, "CHORUS_DATABASE_URL": url, "CHORUS_BROKER": "redis",
           "CHORUS_QUEUE_NAMESPACE": f"chorus-bench-{uuid.uuid4().hex[:6]}", "CHORUS_LOG_LEVEL": "WARNING",
           "CHORUS_SECRET_KEY": "chorus-bench-secret-key-not-for-production"}
    key = subprocess.run([sys.executable, "-m", "orchestrator.cli", "api-keys", "create", "bench"],
                         env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers",
                               str(args.workers), "--log-level", "warning", "orchestrator.wsgi:app"],
                              env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(base + "/health", timeout=5).ok:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass
            if time.monotonic() > deadline:
                raise SystemExit("gunicorn did not start")
            time.sleep(0.2)

        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        # Bodies are encoded before the clock starts: the figure is the server's, not json.dumps's.
        bodies = []
        for b in range(args.batches):
            events = [{"external_id": f"c{(b * args.batch_size + i) % args.contacts}", "name": "viewed_product",
                       "properties": {"category": "shoes", "price": i % 90}, "id": f"b{b}-{i}"}
                      for i in range(args.batch_size)]
            bodies.append(json.dumps({"events": events}))
        # Warm up: creates the contacts, fills connection pools.
        with requests.Session() as warm:
            warm.post(base + "/v1/events", data=json.dumps({"events": [
                {"external_id": f"c{i}", "name": "warmup"} for i in range(min(args.contacts, 1000))]}),
                headers=headers, timeout=60).raise_for_status()

        queue = list(range(args.batches))
        lock = threading.Lock()
        errors: list[str] = []

        def client() -> None:
            with requests.Session() as session:
                while True:
                    with lock:
                        if not queue:
                            return
                        index = queue.pop()
                    response = session.post(base + "/v1/events", data=bodies[index], headers=headers, timeout=60)
                    if response.status_code != 202:
                        errors.append(f"{response.status_code} {response.text[:200]}")

        started = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        if errors:
            raise SystemExit(f"{len(errors)} failed requests, first: {errors[0]}")
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            stored = connection.execute(sa.text("SELECT count(*) FROM events WHERE name = 'viewed_product'")).scalar()
        engine.dispose()
        total = args.batches * args.batch_size
        assert stored == total, f"stored {stored} of {total}"
        print(f"ingest: {total} events in {args.batches} batches of {args.batch_size}, "
              f"{args.clients} clients, gunicorn x{args.workers}, PostgreSQL")
        print(f"ingest: {total / elapsed:,.0f} events/s ({elapsed:.2f} s)")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
