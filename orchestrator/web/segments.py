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

from campaigns.segments import explain
from campaigns.segments.rules import COUNT_OPS, TEXT_FIELDS, BOOLEAN_FIELDS, DATE_FIELDS, VALUE_OPS
from orchestrator.api.auth import actor
from orchestrator.db import db
from orchestrator.errors import ChorusError, InvalidInput
from orchestrator.models import Contact, Event, Segment, Topic
from orchestrator.schemas.campaigns import SegmentCreateSchema
from orchestrator.services import segments as service
from orchestrator.web.auth import login_required, role_required
from orchestrator.web.forms import FieldErrors, errors_of, indexed_rows, list_text, typed_value, value_text
from orchestrator.web.pages import paged, ui_blueprint

bp = ui_blueprint("ui_segments", __name__, url_prefix="/segments")

PAGE_SIZE = 50
KINDS = (("field", "Profile or attribute"), ("event", "Event"), ("reachable", "Reachable on"),
         ("channel_opt_in", "Channel opt-in"), ("topic", "Topic subscription"), ("segment", "In another segment"))
OP_NAMES = {
    "eq": "is", "neq": "is not", "in": "is one of", "not_in": "is none of", "contains": "contains",
    "starts_with": "starts with", "exists": "is set", "not_exists": "is not set", "gt": ">", "gte": "≥",
    "lt": "<", "lte": "≤", "between": "is between", "before": "is before", "after": "is after",
    "within_last_days": "is within the last N days",
}
COUNT_NAMES = {"gte": "at least", "eq": "exactly", "lte": "at most", "gt": "more than", "lt": "fewer than",
               "neq": "not exactly"}
assert set(COUNT_NAMES) == set(COUNT_OPS)
WINDOWS = (("ever", "ever"), ("days", "in the last"), ("since", "since"))
NO_VALUE = ("exists", "not_exists")
# Values of these ops are text as typed (dates, prefixes); elsewhere `2` is a number, `"2"` text.
TEXT_OPS = ("before", "after", "starts_with")
CONDITION = re.compile(r"^g(\d+)\.c(\d+)\.")
GROUP = re.compile(r"^g(\d+)\.match$")
ERROR_PATH = re.compile(r"^rules\.(?:all|any)\[(\d+)\]\.(?:all|any)\[(\d+)\](?:\.(.+))?$")
WHERE_PART = re.compile(r"^where\[(\d+)\]")
BLANK = {"kind": "field", "field": "", "op": "eq", "value": ""}
BLANK_WHERE = {"property": "", "op": "eq", "value": ""}


# Rules ⇄ builder form ----------------------------------------------------------------------

def _value(op: str, raw: str, text: bool = False):
    """A typed input → the rule's value; `text` for contact columns that only hold text."""
    raw = (raw or "").strip()
    if op in ("in", "not_in", "between"):
        items = [part.strip() for part in raw.split(",") if part.strip()]
        values = items if text else [typed_value(part) for part in items]
        return values[:2] if op == "between" else values
    if text or op in TEXT_OPS:
        return raw
    return typed_value(raw)


def _value_text(op: str, value, text: bool = False) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if text else list_text(value)
    if (text or op in TEXT_OPS) and isinstance(value, str):
        return value
    return value_text(value)


def _where_rule(row: dict) -> dict:
    op = row.get("op") or "eq"
    rule = {"property": str(row.get("property") or "").strip(), "op": op}
    if op not in NO_VALUE:
        rule["value"] = _value(op, str(row.get("value") or ""))
    return rule


def _event_rule(c: dict) -> dict:
    rule: dict = {"event": str(c.get("event") or "").strip()}
    where = [_where_rule(row) for row in c.get("where") or ()]
    if where:
        rule["where"] = where
    within, since = str(c.get("within_days") or "").strip(), str(c.get("since") or "").strip()
    window = c.get("window") or ("since" if since and not within else "days")
    if window == "days" and within:
        rule["within_days"] = typed_value(within)
    elif window == "since" and since:
        rule["since"] = since
    if c.get("did_not") == "on":
        rule["did_not"] = True
    else:
        op, count = c.get("count_op") or "gte", str(c.get("count") or "").strip()
        value = typed_value(count) if count else 1
        if (op, value) != ("gte", 1):
            rule["count"] = {"op": op, "value": value}
    return rule


def condition_rule(c: dict) -> dict:
    """One builder condition → its rule in the API's rule language (campaigns.segments.rules)."""
    kind = c.get("kind", "field")
    if kind == "reachable":
        return {"reachable": c.get("reachable") or "email"}
    if kind == "channel_opt_in":
        return {"channel_opt_in": c.get("channel") or "email", "value": c.get("opted_in", "true") != "false"}
    if kind == "topic":
        return {"topic": str(c.get("topic") or "").strip(), "subscribed": c.get("subscribed", "true") != "false"}
    if kind == "segment":
        raw = str(c.get("segment") or "").strip()
        return {"segment": int(raw) if raw.isdigit() else (raw or None)}
    if kind == "event":
        return _event_rule(c)
    op = c.get("op") or "eq"
    field = str(c.get("field") or "").strip()
    rule = {"field": field, "op": op}
    if op not in NO_VALUE:
        rule["value"] = _value(op, str(c.get("value") or ""), text=field in TEXT_FIELDS)
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
            "groups": [{"match": g["match"], "conditions": [_with_where(g["conditions"][k]) for k in sorted(g["conditions"])]}
                       for _, g in sorted(groups.items())]}


def _with_where(condition: dict) -> dict:
    """`where.0.property`… inputs → `where: [{property, op, value}]`, blank rows left out (so a
    rule's `where[1]` is the second row shown)."""
    rows = indexed_rows(condition, "where")
    condition = {k: v for k, v in condition.items() if not k.startswith("where.")}
    if condition.get("kind") == "event":
        condition["where"] = rows
    return condition


def rules_from_builder(state: dict) -> dict:
    return {state["match"]: [{group["match"]: [condition_rule(c) for c in group["conditions"]]}
                             for group in state["groups"]]}


def _event_form(rule: dict) -> dict | None:
    where = []
    for item in rule.get("where") or ():
        if not isinstance(item, dict) or not set(item) <= {"property", "op", "value"}:
            return None
        where.append({"property": item.get("property", ""), "op": item.get("op", "eq"),
                      "value": _value_text(item.get("op", "eq"), item.get("value", ""))})
    count = rule.get("count") or {}
    if not isinstance(count, dict):
        return None
    window = "days" if "within_days" in rule else "since" if "since" in rule else "ever"
    return {"kind": "event", "event": rule["event"], "where": where, "window": window,
            "within_days": value_text(rule.get("within_days", "")) if "within_days" in rule else "",
            "since": str(rule.get("since", "")), "did_not": "on" if rule.get("did_not") else "",
            "count_op": count.get("op", "gte"), "count": value_text(count["value"]) if "value" in count else ""}


def _condition_form(rule: dict) -> dict | None:
    """A rule → the builder condition that makes it, or None when the builder lacks its shape."""
    keys = set(rule)
    if keys == {"reachable"}:
        return {"kind": "reachable", "reachable": rule["reachable"]}
    if "channel_opt_in" in rule and keys <= {"channel_opt_in", "value"}:
        return {"kind": "channel_opt_in", "channel": rule["channel_opt_in"],
                "opted_in": "false" if rule.get("value") is False else "true"}
    if "topic" in rule and keys <= {"topic", "subscribed"}:
        return {"kind": "topic", "topic": rule["topic"], "subscribed": "false" if rule.get("subscribed") is False else "true"}
    if keys == {"segment"}:
        return {"kind": "segment", "segment": str(rule["segment"])}
    if "event" in rule and keys <= {"event", "where", "count", "within_days", "since", "did_not"}:
        return _event_form(rule)
    if "field" in rule and keys <= {"field", "op", "value"}:
        op = rule.get("op", "eq")
        return {"kind": "field", "field": rule["field"], "op": op,
                "value": _value_text(op, rule.get("value", ""), text=rule["field"] in TEXT_FIELDS)}
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
    """Service errors at rule paths → errors at the builder's inputs (or the JSON box):
    `rules.all[1].any[0].where[2].value` → `g1.c0.where.2`, `….count.value` → `g1.c0.count`."""
    errors: FieldErrors = {}
    for issue in issues:
        field = issue.get("field", "rules")
        found = ERROR_PATH.match(field)
        if found:
            group, condition, part = found.groups()
            name = f"g{group}.c{condition}"
            if part:
                where = WHERE_PART.match(part)
                if where:
                    part = f"where.{where.group(1)}"
                else:
                    part = re.split(r"[.\[]", part, maxsplit=1)[0]
                    part = {"channel_opt_in": "channel"}.get(part, part)
                name = f"{name}.{part}"
        else:
            name = field if field in ("name", "description") else "rules"
        errors.setdefault(name, []).append(issue["message"])
    return errors


def _apply(state: dict, action: str) -> dict:
    parts = action.split(":")
    numbers = [int(p) for p in parts[1:] if p.isdigit()]
    if parts[0] == "add_group":
        state["groups"].append({"match": "all", "conditions": [dict(BLANK)]})
    elif parts[0] == "add_condition" and len(numbers) == 1 and numbers[0] < len(state["groups"]):
        state["groups"][numbers[0]]["conditions"].append(dict(BLANK))
    elif parts[0] in ("remove", "add_where") and len(numbers) == 2:
        g, c = numbers
        if g < len(state["groups"]) and c < len(state["groups"][g]["conditions"]):
            if parts[0] == "add_where":
                condition = state["groups"][g]["conditions"][c]
                condition["where"] = [*condition.get("where", []), dict(BLANK_WHERE)]
                return state
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
    topics = db.session.scalars(select(Topic.key).order_by(Topic.key).limit(200))
    return {"fields": fields, "events": list(events), "topics": list(topics)}


def _editor(segment=None, *, name="", description="", state=None, rules_json="", errors=None, status=200):
    if state is None and not rules_json:
        state = {"match": "all", "groups": [{"match": "all", "conditions": [dict(BLANK)]}]}
    return render_template(
        "segments/edit.html", segment=segment, name=name, description=description, state=state,
        rules_json=rules_json, errors=errors or {}, kinds=KINDS, ops=VALUE_OPS, op_names=OP_NAMES,
        count_names=COUNT_NAMES, windows=WINDOWS, channels=("sms", "email", "push", "inapp"),
        others=[(s.id, s.name) for s in db.session.scalars(select(Segment).order_by(Segment.name).limit(500))
                if segment is None or s.id != segment.id],
        **_suggestions(),
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
    result, sample, summary = None, [], None
    if rules is not None:
        try:
            summary = explain(service.check_rules(db.session, rules))
            result = service.count(db.session, rules)
            sample, _ = service.members(db.session, rules, limit=5)
        except InvalidInput as error:
            errors = errors_at_inputs(error.errors)
    return render_template("segments/_count.html", result=result, sample=sample, summary=summary, errors=errors)
