"""CSV import: columns to contact fields and attributes, per-row errors, resumable chunks."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from orchestrator.db import db
from orchestrator.errors import InvalidInput
from orchestrator.models import Contact
from orchestrator.services.csv_import import (
    cell_value, import_chunk, row_to_contact, run_import, start_import,
)

GOOD_AND_BAD = (
    "external_id,email,phone,locale,timezone,plan,age,vip\n"
    "u1,ana@example.com,+351912345678,pt_br,Europe/Lisbon,pro,31,true\n"
    "u2,not-an-email,,,,free,,\n"
    "u3,,12,,Mars/Olympus,team,007,false\n"
    ",nobody@example.com,,,,,,\n"
    "u5,eve@example.com,,,,,4.5,\n"
)


def test_columns_become_fields_or_typed_attributes():
    assert row_to_contact({"external_id": " u1 ", "email": "", "plan": "pro", "age": "31", "zip": "01234",
                           "score": "4.5", "vip": "TRUE"}) == {
        "external_id": "u1", "attributes": {"plan": "pro", "age": 31, "zip": "01234", "score": 4.5, "vip": True}}
    assert cell_value("-12") == -12 and cell_value("1e5") == "1e5" and cell_value("false") is False


def test_good_rows_are_imported_and_bad_rows_reported_by_line(app):
    job = start_import(db.session, "people.csv", GOOD_AND_BAD.encode())
    db.session.commit()
    assert (job.total_rows, job.status) == (5, "queued")
    job = run_import(db.session, job.id, size=2)
    assert (job.status, job.processed_rows, job.created_count, job.error_rows) == ("done", 5, 2, 3)
    assert {(e["row"], e["field"]) for e in job.errors} == {
        (3, "email"), (4, "phone"), (4, "timezone"), (5, "external_id")}
    ana = db.session.scalar(select(Contact).where(Contact.external_id == "u1"))
    assert (ana.phone, ana.locale) == ("+351912345678", "pt-BR")
    assert ana.attributes == {"plan": "pro", "age": 31, "vip": True}


def test_a_finished_import_does_nothing_again(sqlite_app):
    job = start_import(db.session, "people.csv", GOOD_AND_BAD.encode())
    db.session.commit()
    run_import(db.session, job.id)
    assert import_chunk(db.session, job.id) is False
    assert db.session.scalar(select(func.count(Contact.id))) == 2
    assert job.created_count == 2 and job.updated_count == 0


@pytest.mark.parametrize("raw, message", [
    (b"", "empty"),
    (b"email,phone\na@example.com,\n", "external_id column"),
    (b"external_id,email\n", "no rows"),
    (b"external_id,plan,plan\nu1,a,b\n", "named twice"),
    (b"\x00\x01\x02binary", "not text"),
])
def test_a_file_of_the_wrong_shape_is_refused_at_once(sqlite_app, raw, message):
    with pytest.raises(InvalidInput) as caught:
        start_import(db.session, "x.csv", raw)
    assert caught.value.errors[0]["field"] == "file"
    assert message in caught.value.errors[0]["message"]


def test_extra_cells_are_a_row_error(sqlite_app):
    job = start_import(db.session, "x.csv", b"external_id,plan\nu1,a,surplus\nu2,b\n")
    db.session.commit()
    job = run_import(db.session, job.id)
    assert job.created_count == 1 and job.errors[0]["row"] == 2 and job.errors[0]["field"] == "row"


def test_one_call_imports_many_chunks_within_its_budget_and_a_spent_import_is_marked_failed(app):
    from orchestrator.services.csv_import import fail_import, get_import, import_chunk, start_import

    rows = "\n".join(f"bulk{i},bulk{i}@example.com" for i in range(50))
    job = start_import(db.session, "bulk.csv", f"external_id,email\n{rows}\n".encode())
    db.session.commit()
    assert import_chunk(db.session, job.id, size=10) is True  # no budget: one chunk, as before
    assert get_import(db.session, job.id).processed_rows == 10
    assert import_chunk(db.session, job.id, size=10, budget_seconds=60) is False  # the rest in one call
    done = get_import(db.session, job.id)
    assert (done.status, done.processed_rows, done.created_count) == ("done", 50, 50)

    stuck = start_import(db.session, "stuck.csv", b"external_id,email\nz1,z1@example.com\n")
    db.session.commit()
    fail_import(db.session, stuck.id, "database unavailable")
    failed = get_import(db.session, stuck.id)
    assert failed.status == "failed" and failed.finished_at is not None
    assert "database unavailable" in failed.errors[-1]["message"]
    assert import_chunk(db.session, stuck.id) is False  # a failed import stays stopped


def test_the_import_actor_reports_a_spent_import_as_failed(app):
    from orchestrator.actors.csv_import import import_contacts, import_failed
    from orchestrator.services.csv_import import get_import, start_import

    assert import_contacts.options["on_failure"] == import_failed.actor_name
    job = start_import(db.session, "x.csv", b"external_id,email\nq1,q1@example.com\n")
    db.session.commit()
    import_failed({"args": [job.id]}, {"type": "OperationalError", "message": "server closed the connection"})
    assert get_import(db.session, job.id).status == "failed"
