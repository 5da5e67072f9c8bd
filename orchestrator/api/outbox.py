"""/v1/outbox: what the sandbox channels recorded instead of sending, newest first."""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from orchestrator.api.auth import protect
from orchestrator.api.parsing import Blueprint
from orchestrator.db import db
from orchestrator.models import CHANNEL_KEYS
from orchestrator.schemas.fields import Id, Text
from orchestrator.services.outbox import list_outbox

blp = Blueprint("outbox", __name__, url_prefix="/v1/outbox",
                description="The sandbox outbox: every message a channel without credentials would have sent.")
protect(blp)


class OutboxQuerySchema(Schema):
    channel = Text(validate=validate.OneOf(CHANNEL_KEYS))
    message_id = Id()
    address = Text(validate=validate.Length(min=1, max=4096))
    cursor = Text(validate=validate.Length(max=100))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class OutboxEntrySchema(Schema):
    id = fields.Integer()
    channel = fields.String()
    address = fields.String()
    message_id = fields.Integer(allow_none=True)
    provider_id = fields.String()
    content = fields.Dict()
    created_at = fields.DateTime()


class OutboxPageSchema(Schema):
    data = fields.List(fields.Nested(OutboxEntrySchema))
    next_cursor = fields.String(allow_none=True)


@blp.route("")
class Outbox(MethodView):
    @blp.arguments(OutboxQuerySchema, location="query")
    @blp.response(200, OutboxPageSchema)
    def get(self, args):
        """List sandbox sends, newest first, with a keyset cursor."""
        rows, cursor = list_outbox(db.session, **args)
        return {"data": rows, "next_cursor": cursor}
