"""/v1/templates: unified message templates, their versions, publishing and previews."""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import ValidationError

from orchestrator.api.auth import actor, protect
from orchestrator.api.parsing import Blueprint
from orchestrator.db import db
from orchestrator.schemas.templates import (
    PreviewResultSchema, PreviewSchema, PublishSchema, TemplateBodySchema, TemplateCreateSchema,
    TemplateListQuerySchema, TemplatePageSchema, TemplatePatchSchema, TemplateQuerySchema,
    TemplateSchema, VersionListQuerySchema, VersionPageSchema,
)
from orchestrator.services import templates as service

blp = Blueprint("templates", __name__, url_prefix="/v1/templates",
                description="One template for SMS, push, email and in-app, with versions and locales.")
protect(blp)


@blp.route("")
class Templates(MethodView):
    @blp.arguments(TemplateListQuerySchema, location="query")
    @blp.response(200, TemplatePageSchema)
    def get(self, args):
        """List templates, oldest first, with a keyset cursor."""
        rows, cursor = service.list_templates(db.session, **args)
        return {"data": rows, "next_cursor": cursor}

    @blp.arguments(TemplateCreateSchema)
    @blp.response(201, TemplateSchema)
    def post(self, body):
        """Create a template; its content is version 1. Errors that no data could fix are a 422
        naming channel, field and line; warnings are saved and returned."""
        template, version = service.create_template(db.session, actor=actor(), **body)
        db.session.commit()
        return service.describe(db.session, template, version)


@blp.route("/<key>")
class TemplateItem(MethodView):
    @blp.arguments(TemplateQuerySchema, location="query")
    @blp.response(200, TemplateSchema)
    def get(self, args, key):
        """The template with the content of its latest version (or `?version=n`)."""
        template = service.get_template(db.session, key)
        return service.describe(db.session, template,
                                service.get_version(db.session, template, args.get("version")))

    @blp.arguments(TemplatePatchSchema)
    @blp.response(200, TemplateSchema)
    def patch(self, body, key):
        """Rename, or change the content: a change saves a new immutable version."""
        content = None
        if "content" in body:
            template = service.get_template(db.session, key)
            latest = service.get_version(db.session, template)
            document = service.merge_patch(service.content_body(latest), body.pop("content"))
            try:
                content = TemplateBodySchema().load(document)
            except ValidationError as error:
                raise ValidationError({"content": error.messages}) from None
        template, version, _ = service.update_template(
            db.session, key, content=content, actor=actor(), **body)
        db.session.commit()
        return service.describe(db.session, template, version)


@blp.route("/<key>/versions")
class TemplateVersions(MethodView):
    @blp.arguments(VersionListQuerySchema, location="query")
    @blp.response(200, VersionPageSchema)
    def get(self, args, key):
        """Every saved version, newest first."""
        rows, cursor = service.list_versions(db.session, key, **args)
        return {"data": rows, "next_cursor": cursor}


@blp.route("/<key>/publish")
class TemplatePublish(MethodView):
    @blp.arguments(PublishSchema)
    @blp.response(200, TemplateSchema)
    def post(self, body, key):
        """Publish a version (the latest by default). It must render for its sample data on
        every channel, in every locale; otherwise a 422 lists each problem."""
        template, version = service.publish(db.session, key, body.get("version"), actor=actor())
        db.session.commit()
        return service.describe(db.session, template, version)


@blp.route("/<key>/preview")
class TemplatePreview(MethodView):
    @blp.arguments(PreviewSchema)
    @blp.response(200, PreviewResultSchema)
    def post(self, body, key):
        """Render every channel for a stored contact, an inline contact and data, or the sample
        data: the content plus SMS segments, push payload size and warnings."""
        return service.preview(db.session, key, **body)
