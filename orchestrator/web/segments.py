"""Segments: a rule builder (groups of attribute, event and reachability conditions) with a
live audience count, over the segments service and its rule language.

The builder covers the common shape — groups of conditions, all or any at each level; rules
of any other shape are edited as JSON. Either way the service checks them, and its errors
(`rules.all[0].any[1].op`) are shown at the builder's inputs.
"""
from __future__ import annotations

import json
import re

from flask import flash, make_response, redirect, render_template, request, url_for
from marshmallow import ValidationError
from sqlalchemy import select

from campaigns.segments.rules import COUNT_OPS, TEXT_FIELDS, BOOLEAN_FIELDS, DATE_FIELDS, VALUE_OPS
from orchestrator.api.auth import actor
from orchestrator.db import db
from orchestrator.errors import ChorusError, InvalidInput
from orchestrator.models import Contact, Event
from orchestrator.schemas.campaigns import SegmentCreateSchema
from orchestrator.services import segments as service
from orchestrator.services.csv_import import cell_value
from orchestrator.web.auth import login_required, role_required
from orchestrator.web.forms import FieldErrors, errors_of
from orchestrator.web.pages import paged, ui_blueprint

bp = ui_blueprint("ui_segments", __name__, url_prefix="/segments")

PAGE_SIZE = 50
KINDS = (("field", "Profile or attribute"), ("event", "Did an event"), ("reachable", "Reachable on"))
OP_NAMES = {
    "eq": "is", "neq": "is not", "in": "is one of", "not_in": "is none of", "contains": "contains",
    "starts_with": "starts with", "exists": "is set", "not_exists": "is not set", "gt": ">", "gte": "≥",
    "lt": "<", "lte": "≤", "between": "is between", "before": "is before", "after": "is after",
    "within_last_days": "is within the last N days",
}
NO_VALUE = ("exists", "not_exists")
CONDITION = re.compile(r"^g(\d+)\.c(\d+)\.")
GROUP = re.compile(r"^g(\d+)\.match$")
ERROR_PATH = re.compile(r"^rules\.(?:all|any)\[(\d+)\]\.(?:all|any)\[(\d+)\](?:\.(\w+))?")


# Rules ⇄ builder form ----------------------------------------------------------------------

def _value(op: str, raw: str):
    raw = raw.strip()
    if op in ("in", "not_in"):
        return [cell_value(part.strip()) for part in raw.split(",") if part.strip()]
    if op == "between":
        return [cell_value(part.strip()) for part in raw.split(",")][:2]
    if op in ("before", "after", "starts_with", "contains"):
        return raw
    return cell_value(raw)


def condition_rule(c: dict) -> dict:
    kind = c.get("kind", "field")
    if kind == "reachable":
        return {"reachable": c.get("reachable") or "email"}
    if kind == "event":
        rule: dict = {"event": c.get("event", "").strip()}
        if c.get("within_days", "").strip():
            rule["within_days"] = cell_value(c["within_days"].strip())
        if c.get("did_not") == "on":
            rule["did_not"] = True
        elif c.get("count", "").strip() not in ("", "1"):
            rule["count"] = {"op": "gte", "value": cell_value(c["count"].strip())}
        return rule
    op = c.get("op") or "eq"
    rule = {"field": c.get("field", "").strip(), "op": op}
    if op not in NO_VALUE:
        rule["value"] = _value(op, c.get("value", ""))
    return rule


def builder_from_form(form) -> dict:
    """The builder's state: {"match", "groups": [{"match", "conditions": [{...}]}]}."""
    groups: dict[int, dict] = {}
    for name, value in form.items():
        found = GROUP.match(name)
        if found:
            groups.setdefault(int(found.group(1)), {"match": "all", "conditions": {}})["match"] = value
        found = CONDITION.match(name)
        if found:
            group = groups.setdefault(int(found.group(1)), {"match": "all", "conditions": {}})
            group["conditions"].setdefault(int(found.group(2)), {})[name[found.end():]] = value
    return {"match": form.get("match", "all"),
            "groups": [{"match": g["match"], "conditions": [g["conditions"][k] for k in sorted(g["conditions"])]}
                       for _, g in sorted(groups.items())]}


def rules_from_builder(state: dict) -> dict:
    return {state["match"]: [{group["match"]: [condition_rule(c) for c in group["conditions"]]}
                             for group in state["groups"]]}


def _condition_form(rule: dict) -> dict | None:
    if set(rule) == {"reachable"}:
        return {"kind": "reachable", "reachable": rule["reachable"]}
    if "event" in rule and set(rule) <= {"event", "within_days", "did_not", "count"}:
        count = rule.get("count")
        if count is not None and count.get("op") != "gte":
            return None
        return {"kind": "event", "event": rule["event"], "within_days": str(rule.get("within_days", "")),
                "did_not": "on" if rule.get("did_not") else "", "count": str(count["value"]) if count else ""}
    if "field" in rule and set(rule) <= {"field", "op", "value"}:
        value = rule.get("value", "")
        if isinstance(value, list):
            value = ", ".join(json.dumps(v) if not isinstance(v, str) else v for v in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        return {"kind": "field", "field": rule["field"], "op": rule.get("op", "eq"), "value": str(value)}
    return None


def builder_from_rules(rules: dict) -> dict | None:
    """The builder state for these rules, or None when they have a shape the builder lacks."""
    if not isinstance(rules, dict) or len(rules) != 1 or next(iter(rules)) not in ("all", "any"):
        return None
    match, items = next(iter(rules.items()))
    groups = []
    for item in items:
        if isinstance(item, dict) and len(item) == 1 and next(iter(item)) in ("all", "any"):
            inner_match, inner = next(iter(item.items()))
        else:
            inner_match, inner = "all", [item]
        conditions = [_condition_form(c) if isinstance(c, dict) else None for c in inner]
        if any(c is None for c in conditions):
            return None
        groups.append({"match": inner_match, "conditions": conditions})
    return {"match": match, "groups": groups}


def errors_at_inputs(issues: list[dict]) -> FieldErrors:
    """Service errors at rule paths → errors at the builder's inputs (or the JSON box)."""
    errors: FieldErrors = {}
    for issue in issues:
        field = issue.get("field", "rules")
        found = ERROR_PATH.match(field)
        if found:
            group, condition, part = found.groups()
            name = f"g{group}.c{condition}.{part}" if part else f"g{group}.c{condition}"
        else:
            name = field if field in ("name", "description") else "rules"
        errors.setdefault(name, []).append(issue["message"])
    return errors


def _apply(state: dict, action: str) -> dict:
    parts = action.split(":")
    blank = {"kind": "field", "field": "", "op": "eq", "value": ""}
    if parts[0] == "add_group":
        state["groups"].append({"match": "all", "conditions": [dict(blank)]})
    elif parts[0] == "add_condition" and len(parts) == 2 and parts[1].isdigit() and int(parts[1]) < len(state["groups"]):
        state["groups"][int(parts[1])]["conditions"].append(dict(blank))
    elif parts[0] == "remove" and len(parts) == 3 and all(p.isdigit() for p in parts[1:]):
        g, c = int(parts[1]), int(parts[2])
        if g < len(state["groups"]) and c < len(state["groups"][g]["conditions"]):
            del state["groups"][g]["conditions"][c]
            if not state["groups"][g]["conditions"]:
                del state["groups"][g]
    return state


# Pages ------------------------------------------------------------------------------------

def _suggestions() -> dict:
    """Attribute keys and event names seen recently, to suggest in the builder."""
    keys: set[str] = set()
    for attributes in db.session.scalars(select(Contact.attributes).order_by(Contact.id.desc()).limit(200)):
        keys.update(attributes or {})
    events = db.session.scalars(select(Event.name).distinct().order_by(Event.name).limit(200))
    fields = [*TEXT_FIELDS, *BOOLEAN_FIELDS, *DATE_FIELDS, *(f"attributes.{k}" for k in sorted(keys))]
    return {"fields": fields, "events": list(events)}


def _editor(segment=None, *, name="", description="", state=None, rules_json="", errors=None, status=200):
    if state is None and not rules_json:
        state = {"match": "all", "groups": [{"match": "all", "conditions": [
            {"kind": "field", "field": "", "op": "eq", "value": ""}]}]}
    return render_template(
        "segments/edit.html", segment=segment, name=name, description=description, state=state,
        rules_json=rules_json, errors=errors or {}, kinds=KINDS, ops=VALUE_OPS, op_names=OP_NAMES,
        count_ops=COUNT_OPS, channels=("sms", "email", "push", "inapp"), **_suggestions(),
    ), status


def _rules_from_request() -> tuple[dict | None, dict | None, FieldErrors]:
    """(rules, builder state or None in JSON mode, errors of the JSON box)."""
    if request.form.get("mode") == "json":
        try:
            return json.loads(request.form.get("rules_json") or "{}"), None, {}
        except ValueError as exc:
            return None, None, {"rules": [f"Line {exc.lineno}: not valid JSON ({exc.msg})."]}
    state = builder_from_form(request.form)
    return rules_from_builder(state), state, {}


@bp.get("")
@login_required
def index():
    rows, next_url, first_url = paged(
        lambda cursor: service.list_segments(db.session, limit=PAGE_SIZE, cursor=cursor), ".index")
    return render_template("segments/list.html", segments=[service.describe(s) for s in rows],
                           next_url=next_url, first_url=first_url)


@bp.route("/new", methods=["GET", "POST"])
@role_required("editor")
def new():
    if request.method == "GET":
        return _editor()
    return _post(None)


@bp.get("/<int:segment_id>")
@login_required
def edit(segment_id):
    segment = service.get_segment(db.session, segment_id)
    state = builder_from_rules(segment.rules)
    return _editor(segment, name=segment.name, description=segment.description, state=state,
                   rules_json="" if state else json.dumps(segment.rules, indent=2))


@bp.post("/<int:segment_id>")
@role_required("editor")
def save(segment_id):
    return _post(service.get_segment(db.session, segment_id))


def _post(segment):
    action = request.form.get("action", "save")
    name, description = request.form.get("name", "").strip(), request.form.get("description", "").strip()
    rules, state, errors = _rules_from_request()
    if action == "json" and rules is not None:
        return _editor(segment, name=name, description=description, rules_json=json.dumps(rules, indent=2))
    if action == "builder" and rules is not None:
        state = builder_from_rules(rules)
        if state is None:
            errors = {"rules": ["These rules have a shape the builder cannot show; keep editing them as JSON."]}
    if action != "save" or errors:
        if state is not None and action not in ("save", "builder"):
            state = _apply(state, action)
        return _editor(segment, name=name, description=description, state=state,
                       rules_json=request.form.get("rules_json", "") if state is None else "",
                       errors=errors, status=422 if errors else 200)
    try:
        body = SegmentCreateSchema().load({"name": name, "description": description, "rules": rules})
        if segment is None:
            segment = service.create_segment(db.session, actor=actor(), **body)
        else:
            service.update_segment(db.session, segment.id, actor=actor(), **body)
        db.session.commit()
    except (ValidationError, ChorusError) as error:
        db.session.rollback()
        issues = [{"field": f, "message": m} for f, ms in errors_of(error).items() for m in ms] \
            if isinstance(error, ValidationError) else (error.errors or [{"field": "rules", "message": error.detail}])
        return _editor(segment, name=name, description=description, state=state,
                       rules_json=request.form.get("rules_json", "") if state is None else "",
                       errors=errors_at_inputs(issues), status=422)
    flash(f"Segment “{segment.name}” saved.", "success")
    response = redirect(url_for(".edit", segment_id=segment.id))
    if request.headers.get("HX-Request"):
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url_for(".edit", segment_id=segment.id)
    return response


@bp.post("/<int:segment_id>/delete")
@role_required("editor")
def delete(segment_id):
    try:
        service.delete_segment(db.session, segment_id, actor=actor())
        db.session.commit()
    except ChorusError as error:
        db.session.rollback()
        flash(error.detail, "error")
        return redirect(url_for(".edit", segment_id=segment_id))
    flash("Segment deleted.", "success")
    return redirect(url_for(".index"))


@bp.post("/count")
@login_required
def count():
    """The live audience count for the rules as they stand in the form (saved or not)."""
    rules, _, errors = _rules_from_request()
    result, sample = None, []
    if rules is not None:
        try:
            service.check_rules(db.session, rules)
            result = service.count(db.session, rules)
            sample, _ = service.members(db.session, rules, limit=5)
        except InvalidInput as error:
            errors = errors_at_inputs(error.errors)
    return render_template("segments/_count.html", result=result, sample=sample, errors=errors)
