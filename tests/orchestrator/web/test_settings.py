"""Settings: channel status, API keys shown once and revoked, users created by admins."""
from __future__ import annotations

import re

from sqlalchemy import select

from orchestrator.db import db
from orchestrator.models import ApiKey, AuditEntry, User
from orchestrator.services.api_keys import authenticate


def test_every_channel_is_listed_sandboxed_without_credentials(as_role):
    page = as_role("viewer").get("/settings").get_data(as_text=True)
    assert page.count("status-sandbox") == 3, "in-app is built in; sms, push and email are sandboxed"
    assert "CHORUS_TWILIO_ACCOUNT_SID" in page
    assert "Create API key" not in page and "Add user" not in page, "viewers see channels only"


def test_a_new_key_is_shown_once_and_works_until_revoked(as_role, users):
    browser = as_role("admin")
    response = browser.post("/settings/api-keys", {"name": "checkout", "kind": "secret"})
    page = response.get_data(as_text=True)
    secret = re.search(r'<code id="new-secret" class="secret">([^<]+)</code>', page).group(1)
    assert authenticate(db.session, secret) is not None
    assert secret not in browser.get("/settings").get_data(as_text=True), "never shown again"
    key = db.session.scalar(select(ApiKey).where(ApiKey.name == "checkout"))
    assert browser.post(f"/settings/api-keys/{key.id}/revoke").status_code == 302
    assert authenticate(db.session, secret) is None
    actions = set(db.session.scalars(select(AuditEntry.action).where(AuditEntry.user_id == users["admin"].id)))
    assert {"api_key.created", "api_key.revoked"} <= actions


def test_key_form_errors_are_next_to_the_field(as_role):
    response = as_role("admin").post("/settings/api-keys", {"name": "", "kind": "master"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="name-error"' in page and 'id="kind-error"' in page


def test_admin_adds_a_user_who_can_sign_in(as_role, browser):
    admin = as_role("admin")
    response = admin.post("/settings/users", {"email": "short@chorus.test", "password": "short", "role": "editor"})
    assert response.status_code == 422 and 'id="password-error"' in response.get_data(as_text=True)
    response = admin.post("/settings/users", {"email": "editor@chorus.test", "password": "long enough pw",
                                              "role": "editor"})
    assert response.status_code == 422 and "exists already" in response.get_data(as_text=True)
    assert admin.post("/settings/users", {"email": "new@chorus.test", "password": "long enough pw",
                                          "role": "viewer"}).status_code == 302
    assert browser.login("new@chorus.test", "long enough pw").status_code == 302


def test_admin_disables_a_user_but_not_themself(as_role, users):
    admin = as_role("admin")
    admin.post(f"/settings/users/{users['viewer'].id}/access", {"enable": "0"})
    assert db.session.get(User, users["viewer"].id).disabled_at is not None
    admin.post(f"/settings/users/{users['admin'].id}/access", {"enable": "0"})
    assert db.session.get(User, users["admin"].id).disabled_at is None


def test_webhook_endpoints_are_added_with_a_secret_shown_once_and_removed(as_role, sqlite_app, monkeypatch):
    monkeypatch.setitem(sqlite_app.config, "ALLOW_PRIVATE_WEBHOOK_URLS", False)
    admin = as_role("admin")
    refused = admin.post("/settings/webhooks", {"url": "http://127.0.0.1:9/hook", "event_types": "message.*"})
    assert refused.status_code == 422 and 'id="url-error"' in refused.get_data(as_text=True)
    refused = admin.post("/settings/webhooks", {"url": "not a url", "event_types": ""})
    page = refused.get_data(as_text=True)
    assert 'id="url-error"' in page and 'id="event_types-error"' in page
    monkeypatch.setitem(sqlite_app.config, "ALLOW_PRIVATE_WEBHOOK_URLS", True)
    page = admin.post("/settings/webhooks", {"url": "http://127.0.0.1:9/hook",
                                             "event_types": "message.delivered, contact.*"}).get_data(as_text=True)
    secret = re.search(r'<code id="webhook-secret" class="secret">([^<]+)</code>', page).group(1)
    assert secret.startswith("whsec_") and secret not in admin.get("/settings").get_data(as_text=True)
    from orchestrator.models import WebhookEndpoint

    endpoint = db.session.scalar(select(WebhookEndpoint))
    assert endpoint.event_types == ["message.delivered", "contact.*"]
    assert admin.post(f"/settings/webhooks/{endpoint.id}/delete").status_code == 302
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, endpoint.id).active is False
    assert as_role("editor").post("/settings/webhooks", {"url": "https://x.example", "event_types": "*"}).status_code == 403


def test_admin_changes_a_role_audited_but_not_their_own(as_role, users):
    admin = as_role("admin")
    page = admin.get("/settings").get_data(as_text=True)
    assert f'action="/settings/users/{users["viewer"].id}/role"' in page
    assert f'action="/settings/users/{users["admin"].id}/role"' not in page, "no role menu for yourself"
    assert admin.post(f"/settings/users/{users['viewer'].id}/role", {"role": "editor"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(User, users["viewer"].id).role == "editor"
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.role_changed"))
    assert entry.user_id == users["admin"].id and entry.details == {
        "email": "viewer@chorus.test", "before": "viewer", "after": "editor"}
    # The new role applies to their next request.
    promoted = as_role("viewer")
    assert promoted.get("/segments/new").status_code == 200
    admin.post(f"/settings/users/{users['admin'].id}/role", {"role": "viewer"})
    admin.post(f"/settings/users/{users['editor'].id}/role", {"role": "owner"})
    db.session.expire_all()
    assert db.session.get(User, users["admin"].id).role == "admin"
    assert db.session.get(User, users["editor"].id).role == "editor"
    assert as_role("editor").post(f"/settings/users/{users['viewer'].id}/role", {"role": "admin"}).status_code == 403


def test_a_deactivated_user_is_signed_out_and_the_change_audited(as_role, users):
    admin = as_role("admin")
    viewer = as_role("viewer")
    admin.post(f"/settings/users/{users['viewer'].id}/access", {"enable": "0"})
    assert viewer.get("/segments").status_code == 302, "signed out at the next click"
    actions = set(db.session.scalars(select(AuditEntry.action).where(AuditEntry.target_id == str(users["viewer"].id))))
    assert "user.disabled" in actions


def test_users_keys_and_webhooks_paginate(as_role, sqlite_app, monkeypatch):
    from orchestrator.models import WebhookEndpoint
    from orchestrator.services.api_keys import create_api_key
    from orchestrator.services.users import create_user
    from orchestrator.web.settings import PAGE_SIZE

    for n in range(PAGE_SIZE + 2):
        create_api_key(db.session, f"key {n:02}", "secret")
        create_user(db.session, f"person{n:02}@chorus.test", "long enough pw", "viewer")
        db.session.add(WebhookEndpoint(url=f"https://hooks.example/{n:02}", event_types=["*"], secret="s",
                                       description=""))
    db.session.commit()
    admin = as_role("admin")
    first = admin.get("/settings").get_data(as_text=True)
    assert "key 00" in first and f"key {PAGE_SIZE + 1:02}" not in first
    assert "hooks.example/00" in first and f"hooks.example/{PAGE_SIZE + 1:02}" not in first
    links = dict(re.findall(r'href="(/settings\?([a-z]+)_cursor=[^"#]+)#', first.replace("&amp;", "&"))[i][::-1]
                 for i in range(3))
    assert set(links) == {"keys", "users", "webhooks"}
    keys = admin.get(links["keys"]).get_data(as_text=True)
    assert f"key {PAGE_SIZE + 1:02}" in keys and "key 00" not in keys
    assert "hooks.example/00" in keys, "the other lists stay on their page"
    users_page = admin.get(links["users"]).get_data(as_text=True)
    assert f"person{PAGE_SIZE + 1:02}@chorus.test" in users_page
    hooks = admin.get(links["webhooks"]).get_data(as_text=True)
    assert f"hooks.example/{PAGE_SIZE + 1:02}" in hooks and "← First page" in hooks
    assert admin.get("/settings?keys_cursor=nonsense").status_code == 200, "a bad cursor starts over"
