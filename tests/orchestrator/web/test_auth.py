"""Signing in and out, roles, CSRF, the session cookie, rate limits and the audit trail."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from orchestrator.db import db
from orchestrator.models import AuditEntry, utcnow
from tests.orchestrator.web.conftest import Browser

PAGES = ["/", "/contacts", "/segments", "/templates", "/campaigns", "/messages",
         "/messages/dead-letters", "/outbox", "/settings"]


def test_pages_need_a_signed_in_user(browser):
    response = browser.get("/contacts?q=ana")
    assert response.status_code == 302
    assert response.location.startswith("/login?next=/contacts")


def test_sign_in_sets_a_safe_session_cookie_and_audits(browser, users):
    response = browser.login("ADMIN@chorus.test")
    assert response.status_code == 302 and response.location == "/"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert browser.get("/").status_code == 200
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.signed_in"))
    assert entry.user_id == users["admin"].id


def test_only_a_changed_session_sends_the_cookie(as_role):
    # A background request (the htmx preview) answered after a form post must not overwrite
    # the cookie that carries the post's flash message.
    browser = as_role("editor")
    browser.get("/templates/new")
    preview = browser.post("/templates/preview", {"sms_body": "Hi"})
    assert preview.status_code == 200 and "Set-Cookie" not in preview.headers
    assert "Set-Cookie" not in browser.get("/contacts").headers
    response = browser.post("/logout")
    assert "Set-Cookie" in response.headers


def test_wrong_password_is_shown_next_to_the_field(browser, users):
    response = browser.login("admin@chorus.test", "not the password")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="password-error"' in page and "do not match" in page
    assert browser.get("/").status_code == 302


def test_next_never_leaves_the_site(browser, users):
    browser.get("/login")
    response = browser.post("/login?next=//evil.example/x", {"email": "admin@chorus.test",
                                                              "password": "correct horse battery"})
    assert response.location == "/"


def test_sign_out_is_a_post(as_role):
    browser = as_role("viewer")
    assert browser.client.get("/logout").status_code == 405
    assert browser.post("/logout").status_code == 302
    assert browser.get("/").status_code == 302


def test_a_disabled_user_is_signed_out(as_role, users):
    browser = as_role("editor")
    users["editor"].disabled_at = utcnow()
    db.session.commit()
    assert browser.get("/").status_code == 302


def test_a_form_without_csrf_token_is_refused(as_role):
    browser = as_role("admin")
    response = browser.post("/settings/api-keys", {"name": "x"}, csrf=False)
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert response.content_type.startswith("text/html")


def test_sign_in_attempts_are_rate_limited(sqlite_app, users):
    browser = Browser(sqlite_app.test_client())
    browser.get("/login")
    codes = [browser.post("/login", {"email": "admin@chorus.test", "password": "nope"}).status_code
             for _ in range(11)]
    assert codes[:10] == [422] * 10 and codes[10] == 429
    assert browser.login("editor@chorus.test").status_code == 302, "other accounts still sign in"


@pytest.mark.parametrize("role", ["admin", "editor", "viewer"])
def test_every_page_renders_for_every_role(as_role, role):
    browser = as_role(role)
    for path in PAGES:
        response = browser.get(path)
        assert response.status_code == 200, (path, response.get_data(as_text=True)[-500:])
        assert "Content-Security-Policy" in response.headers
    assert browser.get("/audit").status_code == (200 if role == "admin" else 403)


def test_roles_nest(as_role):
    viewer, editor = as_role("viewer"), as_role("editor")
    assert viewer.get("/contacts/new").status_code == 403
    assert editor.get("/contacts/new").status_code == 200
    assert editor.post("/settings/api-keys", {"name": "x"}).status_code == 403
    assert viewer.post("/contacts/new", {"external_id": "x"}).status_code == 403


def test_error_pages_are_html_for_people_and_problems_for_the_api(as_role):
    browser = as_role("viewer")
    page = browser.get("/no/such/page")
    assert page.status_code == 404 and page.content_type.startswith("text/html")
    assert "Nothing here" in page.get_data(as_text=True)
    api = browser.client.get("/v1/no-such-thing")
    assert api.status_code in (401, 404) and api.content_type == "application/problem+json"

