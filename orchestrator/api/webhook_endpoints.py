"""/v1/webhook-endpoints: where Chorus POSTs message status changes and inbound events."""
from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from orchestrator.api.auth import protect
from orchestrator.api.parsing import ID, Blueprint
from orchestrator.db import db
from orchestrator.schemas.fields import Text, Url
from orchestrator.services import webhooks as service

blp = Blueprint("webhook_endpoints", __name__, url_prefix="/v1/webhook-endpoints",
                description="Outbound webhooks: signed JSON events, retried with backoff, with a delivery log.")
protect(blp)


class EndpointInSchema(Schema):
    url = Url(required=True, schemes={"http", "https"}, require_tld=False,
              validate=validate.Length(max=2048))
    event_types = fields.List(Text(validate=validate.Length(min=1, max=64)), required=True,
                              validate=validate.Length(min=1, max=50),
                              metadata={"description": "e.g. `message.delivered`, `message.*`, `contact.*`, `*`."})
    description = Text(load_default="", validate=validate.Length(max=255))


class EndpointSchema(Schema):
    id = fields.Integer()
    url = fields.String()
    event_types = fields.List(fields.String())
    description = fields.String()
    active = fields.Boolean()
    created_at = fields.DateTime()


class CreatedEndpointSchema(EndpointSchema):
    secret = fields.String(metadata={"description": "Signs every delivery (HMAC-SHA256). Shown only now."})


class DeliverySchema(Schema):
    id = fields.Integer()
    event_id = fields.String()
    event_type = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    response_snippet = fields.String(allow_none=True)
    created_at = fields.DateTime()
    delivered_at = fields.DateTime(allow_none=True)


@blp.route("")
class Endpoints(MethodView):
    @blp.response(200, EndpointSchema(many=True))
    def get(self):
        return service.list_endpoints(db.session)

    @blp.arguments(EndpointInSchema)
    @blp.response(201, CreatedEndpointSchema)
    def post(self, body):
        """Register an endpoint. URLs on private or loopback networks are refused (SSRF)."""
        endpoint = service.create_endpoint(db.session, allow_private=current_app.config["ALLOW_PRIVATE_WEBHOOK_URLS"],
                                           **body)
        db.session.commit()
        return endpoint


@blp.route(f"/<{ID}:endpoint_id>")
class EndpointItem(MethodView):
    @blp.response(200, EndpointSchema)
    def get(self, endpoint_id):
        return service.get_endpoint(db.session, endpoint_id)

    @blp.response(204)
    def delete(self, endpoint_id):
        service.delete_endpoint(db.session, endpoint_id)
        db.session.commit()


@blp.route(f"/<{ID}:endpoint_id>/deliveries")
class Deliveries(MethodView):
    @blp.response(200, DeliverySchema(many=True))
    def get(self, endpoint_id):
        """The delivery log, newest first (the last 100)."""
        return service.list_deliveries(db.session, endpoint_id)
