"""A throwaway deployment for the delivery benchmarks: a fresh PostgreSQL database, a Redis
namespace, `dramatiq` worker processes started as the Procfile starts them."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("CHORUS_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("CHORUS_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


class Deployment:
    def __init__(self, name: str, **settings: str):
        from orchestrator.models import metadata

        self.database = f"chorus_bench_{name}"
        self.admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
            connection.execute(sa.text(f'CREATE DATABASE "{self.database}"'))
        self.database_url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + self.database
        engine = sa.create_engine(self.database_url)
        metadata.create_all(engine)
        engine.dispose()
        self.env = {"CHORUS_DATABASE_URL": self.database_url, "CHORUS_BROKER": "redis",
                    "CHORUS_REDIS_URL": REDIS_URL, "CHORUS_QUEUE_NAMESPACE": f"chorus-bench-{uuid.uuid4().hex[:8]}",
                    "CHORUS_SECRET_KEY": "chorus-bench-secret-key-not-for-production", "CHORUS_LOG_LEVEL": "WARNING",
                    **settings}
        self.processes: list[subprocess.Popen] = []
        from orchestrator.app import create_app
        from orchestrator.config import from_environ

        self.app = create_app(from_environ({**os.environ, **self.env}))

    def spawn(self, args: list[str]) -> subprocess.Popen:
        process = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **self.env}, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.processes.append(process)
        return process

    def start_workers(self, processes: int, threads: int) -> None:
        self.spawn([sys.executable, "-m", "dramatiq", "orchestrator.worker", "--processes", str(processes),
                    "--threads", str(threads)])
        self.wait_for_workers()

    def cpu_seconds(self) -> float:
        """User + system CPU time the spawned processes and their children have used so far
        (Linux /proc): a figure a busy machine disturbs far less than wall-clock time."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        pending = [p.pid for p in self.processes if p.poll() is None]
        while pending:
            pid = pending.pop()
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
                pending += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
        return total

    @staticmethod
    def machine_cpu_seconds() -> float:
        """CPU time the whole machine has spent busy (every core, every process: the benchmark
        client, the loopback providers, PostgreSQL and Redis too), from /proc/stat."""
        user, nice, system, _idle, _iowait, irq, softirq = (
            int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8])
        return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")

    def wait_for_workers(self, timeout: float = 60) -> None:
        """A heartbeat through the broker proves a worker is consuming."""
        from sqlalchemy import select

        from orchestrator.actors.system import record_heartbeat
        from orchestrator.db import db
        from orchestrator.models import AuditEntry

        token = uuid.uuid4().hex
        with self.app.app_context():
            record_heartbeat.send(token)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if db.session.scalar(select(AuditEntry.id).where(AuditEntry.target_id == token)):
                    return
                db.session.rollback()
                time.sleep(0.1)
        raise RuntimeError("no worker answered")

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.app.extensions["chorus_broker"].flush_all()
        self.app.extensions["chorus_engine"].dispose()
        with self.admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
