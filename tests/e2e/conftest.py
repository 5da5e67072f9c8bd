"""A real Chorus server in embedded mode (SQLite file, in-process worker and scheduler) and
headless Chromium driving it. Screenshots of each main page go to artifacts/screenshots/."""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from orchestrator.app import create_app
from orchestrator.broker import activate_broker
from orchestrator.db import db
from orchestrator.runtime import start_embedded_services
from orchestrator.services.users import create_user
from tests.conftest import base_config, create_schema, unavailable

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PASSWORD = "e2e password 123"
ROLES = ("admin", "editor", "viewer")



def pytest_collection_modifyitems(items):
    # One worker runs every browser test: they share the server, and the in-process broker
    # must stay bound to this server's app while they run.
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.xdist_group("e2e"))


@pytest.fixture(scope="session")
def chromium_path():
    if not os.path.exists(CHROMIUM):
        unavailable("Chromium", f"{CHROMIUM} is missing (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture(scope="session")
def live_app(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'chorus.sqlite3'}"
    create_schema(url)
    app = create_app(base_config(url, TESTING=False, INPROCESS_WORKER_THREADS=2))
    with app.app_context():
        for role in ROLES:
            create_user(db.session, f"{role}@e2e.test", PASSWORD, role)
        db.session.commit()
        db.session.remove()
    start_embedded_services(app)
    yield app
    stop = app.extensions.get("chorus_scheduler_stop")
    if stop is not None:
        stop.set()
    worker = app.extensions.get("chorus_worker")
    if worker is not None:
        worker.stop(timeout=5000)


@pytest.fixture(scope="session")
def server(live_app):
    http = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, name="e2e-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()


@pytest.fixture(autouse=True)
def bound_broker(live_app):
    activate_broker(live_app)


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def new_page(browser, server):
    """`new_page(role=None, width=1280)`: a page in a fresh browser context, signed in as `role`."""
    contexts = []

    def make(role: str | None = None, width: int = 1280, height: int = 900):
        context = browser.new_context(viewport={"width": width, "height": height}, base_url=server)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        if role:
            sign_in(page, f"{role}@e2e.test")
        return page

    yield make
    for context in contexts:
        context.close()


def sign_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/$"))


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # From the top: scrolled down, the sticky top bar would be drawn across the middle.
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=True)
    return path
