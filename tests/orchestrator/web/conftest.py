"""A signed-in browser for the UI: the Flask test client plus the CSRF token a page carries."""
from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher
from flask import g

from orchestrator.db import db
from orchestrator.services.users import create_user

PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    def __init__(self, client):
        self.client = client
        self.token: str | None = None

    @staticmethod
    def _fresh_request():
        # The fixtures keep one app context open for the whole test and the test client reuses
        # it, so `g` would outlive a request (the signed-in user, Flask-WTF's token cache);
        # in a server every request gets its own.
        for name in ("user", "csrf_token"):
            g.pop(name, None)

    def get(self, path, **kw):
        self._fresh_request()
        response = self.client.get(path, **kw)
        found = TOKEN.search(response.get_data(as_text=True))
        if found:
            self.token = found.group(1)
        return response

    def post(self, path, data=None, csrf=True, **kw):
        data = dict(data or {})
        if csrf:
            if self.token is None:
                self.get("/settings")
            data.setdefault("csrf_token", self.token)
        self._fresh_request()
        return self.client.post(path, data=data, **kw)

    def login(self, email, password=PASSWORD):
        self.get("/login")
        response = self.post("/login", {"email": email, "password": password})
        self.token = None  # signing in starts a new session, with a new CSRF secret
        return response


@pytest.fixture(autouse=True)
def quick_password_hashes(monkeypatch):
    # argon2 at its default cost takes most of a second per hash on a busy machine; the same
    # hasher with the lowest cost keeps these tests fast (production keeps the default).
    from orchestrator.services import users

    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    monkeypatch.setattr(users, "_DUMMY_HASH", users._hasher.hash("chorus-dummy-password"))


@pytest.fixture(autouse=True)
def fresh_login_limits(sqlite_app):
    sqlite_app.extensions.pop("chorus_login_limiter", None)


@pytest.fixture
def users(sqlite_app):
    made = {role: create_user(db.session, f"{role}@chorus.test", PASSWORD, role)
            for role in ("admin", "editor", "viewer")}
    db.session.commit()
    return made


@pytest.fixture
def browser(sqlite_app):
    return Browser(sqlite_app.test_client())


@pytest.fixture
def as_role(sqlite_app, users):
    """`as_role("editor")` → a Browser signed in with that role."""
    def sign_in(role):
        browser = Browser(sqlite_app.test_client())
        response = browser.login(users[role].email)
        assert response.status_code == 302, response.get_data(as_text=True)
        return browser
    return sign_in
