"""What a web process starts beside itself in the embedded (`inprocess`) mode."""
from __future__ import annotations

from orchestrator.broker import start_inprocess_worker
from orchestrator.scheduler import start_in_thread


def start_embedded_services(app) -> None:
    """In `inprocess` mode the web process is also the worker and the scheduler."""
    if app.config["BROKER"] != "inprocess" or "chorus_worker" in app.extensions:
        return
    start_inprocess_worker(app)
    app.extensions["chorus_scheduler_stop"] = start_in_thread(app)
