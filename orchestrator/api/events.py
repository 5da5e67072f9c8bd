"""/v1/events: what contacts did, for segments, triggers and conversions."""
from __future__ import annotations

from flask import request
from flask.views import MethodView
from marshmallow import ValidationError

from orchestrator.api.auth import protect
from orchestrator.api.parsing import Blueprint
from orchestrator.db import db
from orchestrator.errors import InvalidInput
from orchestrator.schemas.contacts import EventBatchSchema, EventInSchema, IngestResultSchema
from orchestrator.services.events import ingest_events

blp = Blueprint("events", __name__, url_prefix="/v1/events", description="Track events.")
protect(blp)

_one = EventInSchema()
_batch = EventBatchSchema()


@blp.route("")
class Events(MethodView):
    @blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": {
        "oneOf": [EventInSchema, EventBatchSchema]}}}})  # apispec registers both as components
    @blp.response(202, IngestResultSchema)
    def post(self):
        """Track one event, or up to 1,000 as `{"events": [...]}`. All or nothing: a bad event
        (reported by index) stores none. A repeated `id` is accepted and ignored."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise InvalidInput.field("body", "Send a JSON object.")
        try:
            events = _batch.load(body)["events"] if "events" in body else [_one.load(body)]
        except ValidationError as exc:
            raise exc
        if not events:
            raise InvalidInput.field("events", "Send at least one event.")
        result = ingest_events(db.session, events)
        db.session.commit()
        return result
