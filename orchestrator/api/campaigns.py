"""/v1/campaigns: broadcasts, scheduled, recurring and triggered campaigns, their lifecycle
(launch, pause, resume, cancel) and their results."""
from __future__ import annotations

from flask.views import MethodView

from orchestrator.api.auth import actor, protect
from orchestrator.api.parsing import ID, Blueprint
from orchestrator.db import db
from orchestrator.schemas.campaigns import (
    CampaignCreateSchema, CampaignListQuerySchema, CampaignPageSchema, CampaignPatchSchema, CampaignSchema,
    StatsQuerySchema, StatsSchema,
)
from orchestrator.services import campaign_stats
from orchestrator.services import campaigns as service

blp = Blueprint("campaigns", __name__, url_prefix="/v1/campaigns",
                description="Campaigns: who gets which template, on which channels, when; and how it did.")
protect(blp)


@blp.route("")
class Campaigns(MethodView):
    @blp.arguments(CampaignListQuerySchema, location="query")
    @blp.response(200, CampaignPageSchema)
    def get(self, args):
        """List campaigns, oldest first, with a keyset cursor (optionally by status)."""
        rows, cursor = service.list_campaigns(db.session, **args)
        return {"data": [service.describe(db.session, c) for c in rows], "next_cursor": cursor}

    @blp.arguments(CampaignCreateSchema)
    @blp.response(201, CampaignSchema)
    def post(self, body):
        """Create a draft campaign. Nothing is checked against templates or audience until launch."""
        campaign = service.create_campaign(db.session, actor=actor(), **body)
        db.session.commit()
        return service.describe(db.session, campaign)


@blp.route(f"/<{ID}:campaign_id>")
class CampaignItem(MethodView):
    @blp.response(200, CampaignSchema)
    def get(self, campaign_id):
        return service.describe(db.session, service.get_campaign(db.session, campaign_id))

    @blp.arguments(CampaignPatchSchema)
    @blp.response(200, CampaignSchema)
    def patch(self, body, campaign_id):
        """Change settings of a draft, scheduled or paused campaign (others can only be renamed: 409)."""
        campaign = service.update_campaign(db.session, campaign_id, actor=actor(), **body)
        db.session.commit()
        return service.describe(db.session, campaign)


def _action(name: str, doc: str):
    perform = getattr(service, name)

    @blp.route(f"/<{ID}:campaign_id>/{name}", endpoint=f"campaign_{name}")
    class Action(MethodView):
        @blp.response(200, CampaignSchema)
        def post(self, campaign_id):
            campaign = perform(db.session, campaign_id, actor=actor())
            return service.describe(db.session, campaign)

    Action.post.__doc__ = doc
    Action.__name__ = f"Campaign{name.title()}"
    return Action


CampaignLaunch = _action("launch", "Check everything, then send now, schedule, or start listening for the trigger. "
                                   "422 lists what stops it (unpublished template, a channel it lacks, an empty "
                                   "audience); 409 when the campaign's status does not allow it.")
CampaignPause = _action("pause", "Stop sending within seconds, mid-send; what waits stays queued.")
CampaignResume = _action("resume", "Go on from where the pause stopped: the plan from its cursor, queued messages.")
CampaignCancel = _action("cancel", "Stop for good; waiting messages become suppressed (reason `cancelled`).")


@blp.route(f"/<{ID}:campaign_id>/stats")
class CampaignStats(MethodView):
    @blp.arguments(StatsQuerySchema, location="query")
    @blp.response(200, StatsSchema)
    def get(self, args, campaign_id):
        """Per variant and channel: targeted, suppressed by reason, sent, delivered, failed, opened, clicked,
        unsubscribed, converted and rates; lift over the holdout with a confidence interval; counts over time."""
        campaign = service.get_campaign(db.session, campaign_id)
        return campaign_stats.stats(db.session, campaign, bucket=args["bucket"], confidence=args["confidence"])
