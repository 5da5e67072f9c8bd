"""CSV import of contacts: upload, a progress bar while a worker imports, a per-row error report."""
from __future__ import annotations

from flask import redirect, render_template, request, url_for

from orchestrator.actors.csv_import import import_contacts
from orchestrator.db import db
from orchestrator.errors import ChorusError
from orchestrator.services.csv_import import CHUNK_ROWS, MAX_ROWS, get_import, recent_imports, start_import
from orchestrator.web.audit_trail import record
from orchestrator.web.auth import current_user, login_required, role_required
from orchestrator.web.forms import errors_of
from orchestrator.web.pages import ui_blueprint

bp = ui_blueprint("ui_contact_imports", __name__, url_prefix="/contacts/imports")


@bp.route("/new", methods=["GET", "POST"])
@role_required("editor")
def new():
    errors = {}
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            errors = {"file": ["Choose a CSV file to import."]}
        else:
            try:
                job = start_import(db.session, upload.filename, upload.read(), current_user().id)
                record("contacts.import_started", "contact_import", job.id,
                       filename=job.filename, rows=job.total_rows)
                db.session.commit()
            except ChorusError as error:
                db.session.rollback()
                errors = errors_of(error)
            else:
                import_contacts.send(job.id)
                return redirect(url_for(".show", import_id=job.id))
    return render_template("contacts/import_new.html", errors=errors, max_rows=MAX_ROWS,
                           imports=recent_imports(db.session)), 422 if errors else 200


@bp.get("/<int:import_id>")
@login_required
def show(import_id):
    job = get_import(db.session, import_id)
    template = "contacts/_import_progress.html" if request.headers.get("HX-Request") else "contacts/import_show.html"
    # The progress panel polls itself while the import runs; the finished panel does not.
    return render_template(template, job=job, chunk=CHUNK_ROWS)
