"""CSV import pages: upload, the progress panel htmx polls, the per-row error report."""
from __future__ import annotations

import io

from sqlalchemy import select

from orchestrator.db import db
from orchestrator.models import AuditEntry, ContactImport
from orchestrator.services.csv_import import run_import

CSV = b"external_id,email,plan\nu1,ana@example.com,pro\nu2,broken,free\nu3,c@example.com,team\n"


def upload(browser, raw, name="people.csv"):
    browser.get("/contacts/imports/new")
    return browser.post("/contacts/imports/new", {"file": (io.BytesIO(raw), name)},
                        content_type="multipart/form-data")


def test_upload_queues_the_import_and_the_page_reports_each_bad_row(as_role, users):
    browser = as_role("editor")
    response = upload(browser, CSV)
    assert response.status_code == 302
    job = db.session.scalar(select(ContactImport))
    assert response.location == f"/contacts/imports/{job.id}"
    page = browser.get(response.location).get_data(as_text=True)
    assert "Importing" in page and 'hx-trigger="every 1s"' in page
    run_import(db.session, job.id)  # what the worker does
    panel = browser.get(response.location, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in panel, "htmx gets the panel only"
    assert "Import finished" in panel and "hx-trigger" not in panel, "done: polling stops"
    assert "<td class=\"num\">3</td>" in panel and "<code>email</code>" in panel
    assert db.session.scalar(select(AuditEntry.user_id).where(AuditEntry.action == "contacts.import_started")) \
        == users["editor"].id


def test_a_file_without_external_id_is_refused_next_to_the_field(as_role):
    response = upload(as_role("editor"), b"email\na@example.com\n")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="file-error"' in page and "external_id" in page
    assert db.session.scalar(select(ContactImport)) is None


def test_no_file_chosen(as_role):
    browser = as_role("editor")
    browser.get("/contacts/imports/new")
    response = browser.post("/contacts/imports/new", {}, content_type="multipart/form-data")
    assert response.status_code == 422 and "Choose a CSV file" in response.get_data(as_text=True)


def test_viewers_cannot_import(as_role):
    assert upload(as_role("viewer"), CSV).status_code == 403
