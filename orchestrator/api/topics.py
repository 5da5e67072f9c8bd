"""/v1/topics: subscription topics people opt into or out of."""
from __future__ import annotations

from flask.views import MethodView
from sqlalchemy import select

from orchestrator.api.auth import protect
from orchestrator.api.parsing import Blueprint
from orchestrator.db import db
from orchestrator.errors import Conflict
from orchestrator.models import Topic
from orchestrator.schemas.contacts import TopicInSchema, TopicPatchSchema, TopicSchema
from orchestrator.services.preferences import get_topic

blp = Blueprint("topics", __name__, url_prefix="/v1/topics", description="Subscription topics.")
protect(blp)


@blp.route("")
class Topics(MethodView):
    @blp.response(200, TopicSchema(many=True))
    def get(self):
        return db.session.scalars(select(Topic).order_by(Topic.key)).all()

    @blp.arguments(TopicInSchema)
    @blp.response(201, TopicSchema)
    def post(self, body):
        if db.session.scalar(select(Topic.id).where(Topic.key == body["key"])):
            raise Conflict(f"Topic {body['key']!r} exists already.")
        topic = Topic(**body)
        db.session.add(topic)
        db.session.commit()
        return topic


@blp.route("/<key>")
class TopicItem(MethodView):
    @blp.response(200, TopicSchema)
    def get(self, key):
        return get_topic(db.session, key)

    @blp.arguments(TopicPatchSchema)
    @blp.response(200, TopicSchema)
    def patch(self, body, key):
        topic = get_topic(db.session, key)
        for field, value in body.items():
            setattr(topic, field, value)
        db.session.commit()
        return topic
