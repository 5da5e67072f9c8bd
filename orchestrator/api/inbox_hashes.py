"""/v1/inbox-hashes: the user_hash a backend hands to its app for the in-app inbox API."""
from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields

from orchestrator.api.auth import protect
from orchestrator.api.parsing import Blueprint
from orchestrator.services.inbox import inbox_user_hash

blp = Blueprint("inbox_hashes", __name__, url_prefix="/v1/inbox-hashes",
                description="In-app inbox: user hashes that let an app read one person's inbox.")
protect(blp)


class InboxHashSchema(Schema):
    external_id = fields.String()
    user_hash = fields.String(metadata={"description": "hex HMAC-SHA256 of external_id with the inbox secret."})


@blp.route("/<external_id>")
class InboxHash(MethodView):
    @blp.response(200, InboxHashSchema)
    def get(self, external_id):
        """The user_hash for external_id (the contact need not exist yet). Compute it in your
        backend and never in the app: whoever holds it can read that person's inbox."""
        return {"external_id": external_id, "user_hash": inbox_user_hash(current_app, external_id)}
