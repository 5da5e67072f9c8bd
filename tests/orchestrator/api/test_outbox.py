"""GET /v1/outbox: what sandbox channels recorded, filtered and paged."""
from __future__ import annotations

from channels import Envelope
from orchestrator.services.channels import channels_for


def test_outbox_lists_sandbox_sends_newest_first_with_filters_and_cursor(app, api):
    registry = channels_for(app)
    registry["email"].send_batch([
        Envelope(i, f"e{i}", f"p{i}@example.com", {"subject": f"S{i}", "html": "<p>x</p>", "text": "x"})
        for i in range(1, 4)])
    registry["push"].send_batch([Envelope(9, "p9", "device-token-9", {"title": "T", "body": "B"})])
    r = api.get("/v1/outbox?channel=email&limit=2")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert [e["message_id"] for e in body["data"]] == [3, 2]
    assert body["data"][0]["content"]["subject"] == "S3" and body["next_cursor"]
    rest = api.get(f"/v1/outbox?channel=email&limit=2&cursor={body['next_cursor']}").get_json()
    assert [e["message_id"] for e in rest["data"]] == [1] and rest["next_cursor"] is None
    assert [e["channel"] for e in api.get("/v1/outbox?message_id=9").get_json()["data"]] == ["push"]


def test_outbox_needs_a_secret_key_and_valid_filters(app, api):
    assert app.test_client().get("/v1/outbox").status_code == 401
    r = api.get("/v1/outbox?channel=fax&limit=0")
    assert r.status_code == 422
    assert {e["field"] for e in r.get_json()["errors"]} == {"channel", "limit"}
    assert api.get("/v1/outbox?cursor=%%%").status_code == 422
