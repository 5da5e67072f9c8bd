"""Input no column can store is a 422 naming the field, never a 500, and writes nothing:
NUL characters, NaN and Infinity, instants at the edge of the calendar, numbers too large.

On both databases: PostgreSQL refuses NUL in text and JSONB and NaN in JSONB (a 500 before),
SQLite stored them and answered JSON that is not JSON.
"""
from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from orchestrator.db import db
from orchestrator.models import Campaign, Contact, Device, Event, Segment, Template, WebhookEndpoint

NUL = "\x00"


def refused(response, status: int = 422) -> set[str]:
    """The fields a problem document names; it must be a 4xx problem with a strict-JSON body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = json.loads(response.get_data(as_text=True), parse_constant=_not_json)
    assert body["status"] == status and body["title"] and body["type"]
    return {e["field"] for e in body.get("errors", [])}


def _not_json(constant):
    raise AssertionError(f"{constant} is not JSON")


def raw_post(api, path: str, body: str, method: str = "POST"):
    return api.client.open(path, method=method, data=body,
                           headers={**api._headers(None), "Content-Type": "application/json"})


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


# NUL characters ------------------------------------------------------------------------------

@pytest.mark.parametrize("body, field", [
    ({"external_id": f"a{NUL}b"}, "external_id"),
    ({"external_id": "u1", "attributes": {"plan": f"pro{NUL}"}}, "attributes.plan"),
    ({"external_id": "u1", "attributes": {"address": {"lines": ["ok", f"x{NUL}"]}}}, "attributes.address.lines.1"),
    ({"external_id": "u1", "attributes": {f"k{NUL}": 1}}, "attributes"),
    ({"external_id": "u1", "timezone": f"UTC{NUL}"}, "timezone"),
    ({"external_id": "u1", "email": f"a{NUL}@example.com"}, "email"),
])
def test_nul_in_a_contact_is_refused_naming_the_field(api, body, field):
    assert refused(api.post("/v1/contacts", json=body)) == {field}
    assert refused(api.post("/v1/contacts/batch", json={"contacts": [{"external_id": "ok"}, body]})) == {
        f"contacts.1.{field}"}
    assert count(Contact) == 0


def test_nul_in_an_event_is_refused_and_the_batch_stores_nothing(api):
    assert refused(api.post("/v1/events", json={"external_id": "e1", "name": f"tap{NUL}"})) == {"name"}
    assert refused(api.post("/v1/events", json={"external_id": "e1", "name": "tap",
                                                "properties": {"deep": {"er": f"{NUL}"}}})) == {"properties.deep.er"}
    batch = [{"external_id": "ok", "name": "tap"}, {"external_id": "e1", "name": "tap", "id": f"x{NUL}"}]
    assert refused(api.post("/v1/events", json={"events": batch})) == {"events.1.id"}
    assert count(Event) == 0 and count(Contact) == 0


def test_nul_in_a_device_token_is_refused(api):
    api.post("/v1/contacts", json={"external_id": "d1"})
    assert refused(api.post("/v1/contacts/d1/devices", json={"token": f"t{NUL}", "platform": "ios"})) == {"token"}
    assert count(Device) == 0


@pytest.mark.parametrize("query", ["q", "email", "phone", "cursor"])
def test_nul_in_a_query_parameter_is_refused(api, query):
    assert refused(api.get("/v1/contacts", query_string={query: NUL})) == {query}


def test_nul_in_path_parameters_names_nothing_there_is(api):
    for path, field in [("/v1/contacts/%00", "external_id"), ("/v1/contacts/a%00/events", "external_id"),
                        ("/v1/templates/k%00", "key"), ("/v1/topics/%00", "key"),
                        ("/v1/inbox-hashes/%00", "external_id")]:
        assert refused(api.get(path), 404) == {field}
    api.post("/v1/contacts", json={"external_id": "d2"})
    assert refused(api.delete("/v1/contacts/d2/devices/t%00"), 404) == {"token"}


def test_nul_in_a_template_is_refused_wherever_it_sits(api):
    content = {"sms": {"body": "Hi"}, "push": {"title": "T", "body": "B", "data": {"k": "v"}},
               "sample_data": {"contact": {}, "data": {"n": "1"}}}
    base = {"key": "welcome", "name": "Welcome", "content": content}
    assert refused(api.post("/v1/templates", json={**base, "name": f"W{NUL}"})) == {"name"}
    for path, bad in [(("sms", "body"), f"Hi{NUL}"), (("push", "data", "k"), f"v{NUL}"),
                      (("sample_data", "data", "n"), f"{NUL}")]:
        broken = json.loads(json.dumps(content))
        node = broken
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = bad
        assert refused(api.post("/v1/templates", json={**base, "content": broken})) == {"content." + ".".join(path)}
    assert count(Template) == 0

    assert api.post("/v1/templates", json=base).status_code == 201
    assert refused(api.patch("/v1/templates/welcome", json={"content": {"sms": {"body": f"x{NUL}"}}})) == {
        "content.sms.body"}
    assert refused(api.patch("/v1/templates/welcome", json={"name": f"x{NUL}"})) == {"name"}
    assert api.get("/v1/templates/welcome").get_json()["content"]["sms"]["body"] == "Hi"


def test_nul_elsewhere_in_the_api(api):
    assert refused(api.post("/v1/segments", json={"name": "s", "rules": {
        "all": [{"field": "email", "op": "eq", "value": f"a{NUL}"}]}})) == {"rules.all.0.value"}
    assert refused(api.post("/v1/campaigns", json={"name": f"c{NUL}", "channels": ["sms"]})) == {"name"}
    assert refused(api.post("/v1/webhook-endpoints", json={
        "url": f"https://hooks.example.com/a{NUL}", "event_types": ["*"]})) == {"url"}
    assert refused(api.post("/v1/topics", json={"key": "news", "name": f"N{NUL}"})) == {"name"}
    assert refused(api.post("/v1/messages", json={"template": f"t{NUL}", "to": {"external_id": "x"}})) == {"template"}
    assert count(Segment) == 0 and count(Campaign) == 0 and count(WebhookEndpoint) == 0


def test_lone_surrogates_are_refused_naming_the_field(api):
    """`"\\ud800"` is valid JSON escaping but no character: neither database can encode it."""
    lone = '"\\ud800"'
    assert refused(raw_post(api, "/v1/contacts", '{"external_id": ' + lone + "}")) == {"external_id"}
    assert refused(raw_post(api, "/v1/contacts", '{"external_id": "s1", "attributes": {"a": [' + lone + "]}}")) == {
        "attributes.a.0"}
    assert refused(raw_post(api, "/v1/events", '{"external_id": "s1", "name": "x", "properties": {' + lone + ": 1}}")) == {
        "properties"}
    assert refused(raw_post(api, "/v1/templates", '{"key": "k", "name": "n", "content": {"sms": {"body": '
                            + lone + "}}}")) == {"content.sms.body"}
    assert count(Contact) == 0 and count(Event) == 0 and count(Template) == 0
    # a real astral character (its JSON escape is a surrogate pair) is of course fine
    ok = raw_post(api, "/v1/contacts", '{"external_id": "\\ud83d\\ude00"}')
    assert ok.status_code == 200 and ok.get_json()["external_id"] == "\U0001F600"


def test_a_webhook_url_with_a_port_that_cannot_be_is_refused(api):
    for url in ("https://hooks.example.com:99999/in", "https://hooks.example.com:65536"):
        assert refused(api.post("/v1/webhook-endpoints", json={"url": url, "event_types": ["*"]})) == {"url"}
    assert count(WebhookEndpoint) == 0


# NaN, Infinity and numbers too large -----------------------------------------------------------

def with_literal(body: dict, literal: str) -> str:
    """`body` as JSON text with its "?" values replaced by a literal json.dumps would not write."""
    return json.dumps(body).replace('"?"', literal)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_refused_naming_the_field(api, literal):
    for path, body, field in [
        ("/v1/contacts", {"external_id": "n1", "attributes": {"score": "?"}}, "attributes.score"),
        ("/v1/events", {"external_id": "n1", "name": "x", "properties": {"a": [1, "?"]}}, "properties.a.1"),
        ("/v1/campaigns", {"name": "c", "channels": ["sms"], "holdout_percent": "?"}, "holdout_percent"),
        ("/v1/campaigns", {"name": "c", "channels": ["sms"], "variants": [{"name": "a", "weight": "?"}]},
         "variants.0.weight"),
        ("/v1/segments", {"name": "s", "rules": {"all": [{"field": "attributes.age", "op": "gt", "value": "?"}]}},
         "rules.all.0.value"),
    ]:
        assert refused(raw_post(api, path, with_literal(body, literal))) == {field}, path
    assert refused(api.get("/v1/campaigns/1/stats", query_string={"confidence": literal.lower()})) == {"confidence"}
    assert count(Contact) == 0 and count(Event) == 0 and count(Campaign) == 0 and count(Segment) == 0


def test_numbers_beyond_a_double_or_a_bigint_are_refused(api):
    huge = "1" + "0" * 400
    assert refused(raw_post(api, "/v1/contacts", f'{{"external_id": "b1", "attributes": {{"n": {huge}}}}}')) == {
        "attributes.n"}
    # Segment rules compare numbers in SQL: past 2^53 they are not even exact in JSON.
    assert refused(api.post("/v1/segments", json={"name": "s", "rules": {
        "all": [{"field": "attributes.age", "op": "gt", "value": 10**40}]}})) == {"rules.all.0.value"}
    assert refused(api.post("/v1/campaigns", json={"name": "c", "channels": ["sms"], "segment_id": 2**63})) == {
        "segment_id"}
    assert refused(api.get("/v1/messages", query_string={"campaign_id": str(2**64)})) == {"campaign_id"}
    assert count(Contact) == 0 and count(Segment) == 0


# Instants at the edge of the calendar ---------------------------------------------------------

@pytest.mark.parametrize("instant", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_instants_that_overflow_in_utc_are_refused(api, instant):
    assert refused(api.post("/v1/events", json={"external_id": "t1", "name": "x", "timestamp": instant})) == {
        "timestamp"}
    assert refused(api.get("/v1/contacts", query_string={"updated_after": instant})) == {"updated_after"}
    assert refused(api.get("/v1/messages", query_string={"since": instant})) == {"since"}
    assert refused(api.post("/v1/campaigns", json={"name": "c", "channels": ["sms"],
                                                   "schedule": {"kind": "at", "at": instant}})) == {"schedule"}
    assert count(Event) == 0 and count(Campaign) == 0


def test_the_ends_of_the_calendar_still_work_as_filters(api):
    assert api.get("/v1/contacts", query_string={"updated_after": "0001-01-01T00:00:00Z"}).status_code == 200
    assert api.get("/v1/messages", query_string={"since": "0001-01-01T00:00:00Z",
                                                 "until": "9999-12-31T23:59:59Z"}).status_code == 200


def test_instants_chorus_schedules_from_stay_clear_of_year_9999(api):
    """An event's time and a send_at get delays and retry ages added: 9999-12-31 would overflow."""
    assert refused(api.post("/v1/events", json={"external_id": "t1", "name": "x",
                                                "timestamp": "9999-12-31T00:00:00Z"})) == {"timestamp"}
    assert refused(api.post("/v1/messages", json={"template": "t", "to": {"external_id": "x"},
                                                  "send_at": "9999-12-31T00:00:00Z"})) == {"send_at"}
    assert api.post("/v1/events", json={"external_id": "t1", "name": "x",
                                        "timestamp": "0001-01-01T00:00:00Z"}).status_code == 202


def test_campaign_delays_and_windows_are_bounded(api):
    base = {"name": "c", "channels": ["sms"]}
    trigger = {"event_name": "e", "delay_seconds": 10**30}
    assert refused(api.post("/v1/campaigns", json={**base, "trigger": trigger})) == {"trigger.delay_seconds"}
    assert refused(api.post("/v1/campaigns", json={**base, "goal": {"event_name": "g", "window_hours": 1e300}})) == {
        "goal.window_hours"}
    assert refused(api.post("/v1/campaigns", json={**base, "schedule": {
        "kind": "local_time", "date": "2030-01-01", "time": "09:00", "grace_seconds": 1e30}})) == {"schedule"}
    assert refused(api.post("/v1/campaigns", json={**base, "trigger": {"event_name": "e",
                                                                       "reentry": {"every_days": 10**12}}})) == {
        "trigger.reentry"}
    assert count(Campaign) == 0
    ok = api.post("/v1/campaigns", json={**base, "trigger": {"event_name": "e", "delay_seconds": 3600}})
    assert ok.status_code == 201, ok.get_json()


# Every field the API reads is one that refuses these ------------------------------------------

def argument_schemas(app):
    from orchestrator.schemas.contacts import EventBatchSchema, EventInSchema

    yield "POST /v1/events", EventInSchema()  # loaded by the view itself
    yield "POST /v1/events (batch)", EventBatchSchema()
    for endpoint, view in app.view_functions.items():
        view_class = getattr(view, "view_class", None)
        for method in sorted(getattr(view_class, "methods", None) or ()):
            handler = getattr(view_class, method.lower())
            for parameter in getattr(handler, "_apidoc", {}).get("arguments", {}).get("parameters", []):
                schema = parameter["schema"]
                yield f"{method} {endpoint}", schema() if isinstance(schema, type) else schema


def unguarded(schema, path=""):
    from orchestrator.schemas.templates import TemplateBodySchema

    if isinstance(schema, TemplateBodySchema):  # the templates package's fields, checked whole by a pre_load
        return
    for name, field in schema.fields.items():
        yield from _unguarded_field(field, path + name)


def _unguarded_field(field, path):
    from marshmallow import fields

    from orchestrator.schemas.fields import JsonObject, Text

    if isinstance(field, fields.Nested):
        yield from unguarded(field.schema, path + ".")
    elif isinstance(field, fields.List):
        yield from _unguarded_field(field.inner, path + ".[]")
    elif isinstance(field, JsonObject):
        return
    elif isinstance(field, fields.Dict):
        for part, inner in (("keys", field.key_field), ("values", field.value_field)):
            if inner is None:
                yield f"{path} ({part}: anything)"
            else:
                yield from _unguarded_field(inner, f"{path}.<{part}>")
    elif isinstance(field, fields.String) and not isinstance(field, Text):
        yield path
    elif type(field) in (fields.Raw, fields.Field):
        yield path


def test_every_api_input_field_refuses_what_no_column_stores(sqlite_app):
    found = {label: sorted(unguarded(schema)) for label, schema in argument_schemas(sqlite_app)}
    assert len(found) > 20
    assert {label: paths for label, paths in found.items() if paths} == {}
