"""Contacts from a CSV file: each row checked by the API's contact schema, good rows imported.

Columns `external_id` (required), `email`, `phone`, `locale` and `timezone` are contact fields;
every other column becomes an attribute. An empty cell means "not given", so re-importing a file
with fewer columns never blanks what is stored. Attribute cells that are plainly numbers or
`true`/`false` are stored as such (so a segment can compare them); the rest stay text.

A bad row is reported (row number as a spreadsheet shows it, field, message) and skipped; the
good rows of the same file are imported. The work runs in chunks by a worker; each chunk commits
its contacts and the new row cursor together, so a retried chunk never imports twice.
"""
from __future__ import annotations

import csv
import io
import re
import time

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from orchestrator.api.problems import flatten_messages
from orchestrator.errors import InvalidInput, NotFound
from orchestrator.models import ContactImport, utcnow
from orchestrator.schemas.contacts import ContactUpsertSchema
from orchestrator.services.contacts import FIELDS, upsert_contacts

CHUNK_ROWS = 500
MAX_REPORTED_ERRORS = 1000
MAX_ROWS = 200_000
FINISHED = ("done", "failed")
_NUMBER = re.compile(r"^-?(0|[1-9]\d{0,14})(\.\d+)?$")
_schema = ContactUpsertSchema()


def decode_upload(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
    raise InvalidInput.field("file", "The file is not text (save it as CSV, UTF-8).")


def read_rows(source: str) -> tuple[list[str], list[dict]]:
    reader = csv.DictReader(io.StringIO(source, newline=""))
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise InvalidInput.field("file", f"Not a readable CSV file: {exc}.") from None
    columns = [c.strip() for c in (reader.fieldnames or [])]
    return columns, rows


def check_columns(columns: list[str]) -> None:
    if not columns:
        raise InvalidInput.field("file", "The file is empty; its first line must name the columns.")
    if "external_id" not in columns:
        raise InvalidInput.field("file", "The first line must name an external_id column "
                                         f"(found: {', '.join(columns[:10])}).")
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise InvalidInput.field("file", f"Columns named twice: {', '.join(duplicated)}.")


def cell_value(text: str):
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if _NUMBER.match(text):
        return float(text) if "." in text else int(text)
    return text


def row_to_contact(row: dict) -> dict:
    """One CSV row as the body the contacts API would accept."""
    contact: dict = {}
    attributes: dict = {}
    for column, value in row.items():
        if column is None:  # more cells than columns: DictReader gathers them under None
            raise ValidationError({"row": ["This row has more cells than the header has columns."]})
        column = column.strip()
        value = (value or "").strip()
        if not value:
            continue
        if column == "external_id" or column in FIELDS:
            contact[column] = value
        else:
            attributes[column] = cell_value(value)
    if attributes:
        contact["attributes"] = attributes
    return contact


def validate_row(row: dict) -> tuple[dict | None, list[dict]]:
    try:
        return _schema.load(row_to_contact(row)), []
    except ValidationError as error:
        return None, flatten_messages(error.messages)


def start_import(session: Session, filename: str, raw: bytes, user_id: int | None = None) -> ContactImport:
    """Check the file's shape now (so the person sees it at once) and queue the rows."""
    source = decode_upload(raw)
    columns, rows = read_rows(source)
    check_columns(columns)
    if not rows:
        raise InvalidInput.field("file", "The file has a header but no rows.")
    if len(rows) > MAX_ROWS:
        raise InvalidInput.field("file", f"At most {MAX_ROWS:,} rows per file; split it.")
    job = ContactImport(filename=filename[:255] or "contacts.csv", source=source, total_rows=len(rows),
                        user_id=user_id, status="queued", errors=[])
    session.add(job)
    session.flush()
    return job


def import_chunk(session: Session, import_id: int, size: int = CHUNK_ROWS, *, budget_seconds: float = 0.0) -> bool:
    """Import the next `size` rows, committing progress (the progress bar reads it), and go on
    with the next `size` while `budget_seconds` last: the file is parsed once per call, not
    once per chunk (a 200,000-row file would otherwise be parsed 400 times). True while rows
    remain."""
    job = session.scalar(select(ContactImport).where(ContactImport.id == import_id).with_for_update())
    if job is None:
        raise NotFound(f"No import {import_id}.")
    if job.status in FINISHED:
        return False
    _, rows = read_rows(job.source)
    deadline = time.monotonic() + budget_seconds
    while True:
        _import_part(session, job, rows, size)
        if job.status == "done":
            return False
        if time.monotonic() >= deadline:
            return True
        job = session.scalar(select(ContactImport).where(ContactImport.id == import_id).with_for_update())
        if job is None or job.status in FINISHED:
            return False


def _import_part(session: Session, job: ContactImport, rows: list[dict], size: int) -> None:
    start = job.processed_rows
    part = rows[start:start + size]
    good: list[dict] = []
    problems: list[dict] = []
    bad_rows = 0
    for offset, row in enumerate(part):
        number = start + offset + 2  # the header is line 1, as a spreadsheet shows it
        contact, errors = validate_row(row)
        if contact is None:
            bad_rows += 1
            problems.extend({"row": number, "external_id": (row.get("external_id") or "").strip(), **e}
                            for e in errors)
        else:
            good.append(contact)
    counts = upsert_contacts(session, good) if good else {"created": 0, "updated": 0}
    job.created_count += counts["created"]
    job.updated_count += counts["updated"]
    job.error_rows += bad_rows
    room = MAX_REPORTED_ERRORS - len(job.errors)
    if room > 0 and problems:
        job.errors = [*job.errors, *problems[:room]]
    job.processed_rows = start + len(part)
    job.status = "running"
    if job.processed_rows >= job.total_rows:
        job.status = "done"
        job.finished_at = utcnow()
    session.commit()


def fail_import(session: Session, import_id: int, reason: str) -> None:
    """The worker gave up on it (retries spent): say so, so the progress page stops waiting."""
    job = session.get(ContactImport, import_id)
    if job is None or job.status in FINISHED:
        return
    job.status, job.finished_at = "failed", utcnow()
    job.errors = [*job.errors, {"row": None, "external_id": "", "field": "file",
                                "message": f"The import stopped after {job.processed_rows} rows: {reason}"[:500]}]
    session.commit()


def run_import(session: Session, import_id: int, size: int = CHUNK_ROWS) -> ContactImport:
    """Every remaining chunk, one after another (tests and the CLI; the UI uses the actor)."""
    while import_chunk(session, import_id, size):
        pass
    return get_import(session, import_id)


def get_import(session: Session, import_id: int) -> ContactImport:
    job = session.get(ContactImport, import_id)
    if job is None:
        raise NotFound(f"No import {import_id}.")
    return job


def recent_imports(session: Session, limit: int = 10) -> list[ContactImport]:
    query = select(ContactImport).options(defer(ContactImport.source)).order_by(ContactImport.id.desc())
    return list(session.scalars(query.limit(limit)))
