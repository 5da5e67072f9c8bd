"""/v1/segments: saved audiences as JSON rules, their size and their members."""
from __future__ import annotations

from flask.views import MethodView

from orchestrator.api.auth import actor, protect
from orchestrator.api.parsing import ID, Blueprint
from orchestrator.db import db
from orchestrator.schemas.campaigns import (
    CountQuerySchema, CountSchema, PageQuerySchema, SegmentCreateSchema, SegmentPageSchema,
    SegmentPatchSchema, SegmentSchema,
)
from orchestrator.schemas.contacts import ContactPageSchema
from orchestrator.services import segments as service

blp = Blueprint("segments", __name__, url_prefix="/v1/segments",
                description="Segments: who a campaign reaches, as JSON rules over contacts and events.")
protect(blp)


@blp.route("")
class Segments(MethodView):
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, SegmentPageSchema)
    def get(self, args):
        """List segments, oldest first, with a keyset cursor."""
        rows, cursor = service.list_segments(db.session, **args)
        return {"data": [service.describe(s) for s in rows], "next_cursor": cursor}

    @blp.arguments(SegmentCreateSchema)
    @blp.response(201, SegmentSchema)
    def post(self, body):
        """Create a segment. Bad rules are a 422 naming each rule's path (`rules.all[1].op`)."""
        segment = service.create_segment(db.session, actor=actor(), **body)
        db.session.commit()
        return service.describe(segment)


@blp.route(f"/<{ID}:segment_id>")
class SegmentItem(MethodView):
    @blp.response(200, SegmentSchema)
    def get(self, segment_id):
        return service.describe(service.get_segment(db.session, segment_id))

    @blp.arguments(SegmentPatchSchema)
    @blp.response(200, SegmentSchema)
    def patch(self, body, segment_id):
        """Rename or change the rules (campaigns already sending keep the audience they planned)."""
        segment = service.update_segment(db.session, segment_id, actor=actor(), **body)
        db.session.commit()
        return service.describe(segment)

    @blp.response(204)
    def delete(self, segment_id):
        """Delete a segment no campaign or other segment uses (409 otherwise)."""
        service.delete_segment(db.session, segment_id, actor=actor())
        db.session.commit()


@blp.route(f"/<{ID}:segment_id>/count")
class SegmentCount(MethodView):
    @blp.arguments(CountQuerySchema, location="query")
    @blp.response(200, CountSchema)
    def get(self, args, segment_id):
        """The audience size: a fast sampled estimate on large contact tables, exact with `?exact=true`."""
        segment = service.get_segment(db.session, segment_id)
        return service.count(db.session, segment.rules, exact=args["exact"])


@blp.route(f"/<{ID}:segment_id>/contacts")
class SegmentContacts(MethodView):
    @blp.arguments(PageQuerySchema, location="query")
    @blp.response(200, ContactPageSchema)
    def get(self, args, segment_id):
        """The contacts in the segment now, in id order, with a keyset cursor."""
        segment = service.get_segment(db.session, segment_id)
        rows, cursor = service.members(db.session, segment.rules, **args)
        return {"data": rows, "next_cursor": cursor}
