"""The `scheduler` process: runs periodic jobs (sweeper, due campaigns, delayed triggers).

Jobs only find due work in the database and enqueue actors, which are idempotent, so running
two schedulers by mistake costs duplicate enqueues, never duplicate messages.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

log = logging.getLogger(__name__)


@dataclass
class PeriodicJob:
    name: str
    every_seconds: float
    run: Callable[[], None]
    next_at: float = 0.0


JOBS: list[PeriodicJob] = []


def periodic(every_seconds: float):
    def register(function):
        if any(job.name == function.__qualname__ for job in JOBS):
            raise ValueError(f"periodic job {function.__qualname__} registered twice")
        JOBS.append(PeriodicJob(function.__module__ + "." + function.__qualname__, every_seconds, function))
        return function
    return register


def run_due(app, now: float | None = None) -> list[str]:
    """Run every job that is due once; return their names."""
    from orchestrator.db import db

    now = time.monotonic() if now is None else now
    ran = []
    for job in JOBS:
        if job.next_at > now:
            continue
        job.next_at = now + job.every_seconds
        with app.app_context():
            try:
                job.run()
                ran.append(job.name)
            except Exception:  # one failing job must not stop the others
                log.exception("periodic job failed", extra={"job": job.name})
            finally:
                db.session.remove()
    return ran


def run_forever(app, stop: threading.Event | None = None, tick: float = 1.0) -> None:
    stop = stop or threading.Event()
    log.info("scheduler started with %d jobs", len(JOBS))
    while not stop.is_set():
        run_due(app)
        stop.wait(tick)


def start_in_thread(app) -> threading.Event:
    stop = threading.Event()
    threading.Thread(target=run_forever, args=(app, stop), name="chorus-scheduler", daemon=True).start()
    return stop
