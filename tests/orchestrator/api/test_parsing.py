"""Reading a request before the schemas do: JSON too deep to parse, ids too long to store."""
from __future__ import annotations

import pytest

from orchestrator.api.parsing import TOO_DEEP
from orchestrator.schemas.fields import MAX_ID, MAX_JSON_DEPTH


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def post_raw(api, path: str, body: str):
    return api.client.post(path, data=body, headers={**api._headers(None), "Content-Type": "application/json"})


@pytest.mark.parametrize("depth", [5_000, 100_000])
def test_json_nested_past_the_parser_is_a_400_not_a_recursion_error(api, depth):
    r = post_raw(api, "/v1/contacts", '{"external_id": "d", "attributes": {"a": ' + nested(depth) + "}}")
    assert r.status_code == 400, r.get_data(as_text=True)[:300]
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert r.get_json()["errors"] == [{"field": "body", "message": "Invalid JSON body."}]
    # /v1/events reads its body through Flask's get_json: the same decoder, its own 422
    r = post_raw(api, "/v1/events", '{"external_id": "d", "name": "n", "properties": {"a": ' + nested(depth) + "}}")
    assert r.status_code == 422 and r.get_json()["errors"][0]["field"] == "body"


def test_the_flask_json_provider_reads_too_deep_as_invalid(sqlite_app):
    with pytest.raises(ValueError, match=TOO_DEEP):
        sqlite_app.json.loads(nested(100_000))


def test_a_json_object_field_refuses_nesting_past_its_depth(api):
    too_deep = '{"external_id": "d", "attributes": {"a": ' + nested(MAX_JSON_DEPTH + 5) + "}}"
    r = post_raw(api, "/v1/contacts", too_deep)
    assert r.status_code == 422
    [error] = r.get_json()["errors"]
    assert error["field"].startswith("attributes.a.") and "deeper" in error["message"]
    fine = '{"external_id": "d", "attributes": {"a": ' + nested(MAX_JSON_DEPTH - 2) + "}}"
    assert post_raw(api, "/v1/contacts", fine).status_code == 200


@pytest.mark.parametrize("method, path", [
    ("GET", "/v1/campaigns/{}"), ("PATCH", "/v1/campaigns/{}"), ("POST", "/v1/campaigns/{}/pause"),
    ("GET", "/v1/campaigns/{}/stats"), ("GET", "/v1/segments/{}"), ("DELETE", "/v1/segments/{}"),
    ("GET", "/v1/segments/{}/contacts"), ("GET", "/v1/messages/{}"), ("POST", "/v1/messages/{}/retry"),
    ("GET", "/v1/webhook-endpoints/{}/deliveries"),
])
def test_ids_past_a_bigint_are_not_found(api, method, path):
    for too_big in (MAX_ID + 1, 10**40):
        r = api.client.open(path.format(too_big), method=method, json={}, headers=api._headers(None))
        assert r.status_code == 404, r.get_data(as_text=True)[:300]
        assert r.headers["Content-Type"].startswith("application/problem+json")
    r = api.client.open(path.format(MAX_ID), method=method, json={}, headers=api._headers(None))
    assert r.status_code == 404  # in range, and simply not there


def test_a_route_loads_every_request_with_its_one_schema_instance(pg_app, pg_api, monkeypatch):
    """Schemas are built when the routes are declared (webargs would build one per request);
    requests in parallel threads share them and still get their own errors."""
    from concurrent.futures import ThreadPoolExecutor

    from orchestrator.api.messages import RecipientSchema, SendSchema
    from tests.conftest import ApiClient

    twice = {"template": "otp", "to": {"phone": "+14155552671"}, "channels": ["sms", "sms"]}
    both = {"template": "otp", "to": {"external_id": "c1", "email": "a@example.com"}}
    pg_api.post("/v1/messages", json=both)  # a Nested field builds its schema on first use, once
    built = []
    for cls in (SendSchema, RecipientSchema):
        original = cls.__init__
        monkeypatch.setattr(cls, "__init__", lambda self, *a, _o=original, **k: (built.append(self), _o(self, *a, **k))[1])

    def send(n: int) -> list[str]:
        client = ApiClient(pg_app.test_client(), pg_api.key)
        fields = []
        for i in range(20):
            r = client.post("/v1/messages", json=twice if (n + i) % 2 else both)
            assert r.status_code == 422, r.get_json()
            fields.append(r.get_json()["errors"][0]["field"])
        return fields

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(send, range(8)))
    assert built == []
    for n, fields in enumerate(results):
        assert fields == ["channels" if (n + i) % 2 else "to" for i in range(20)]
