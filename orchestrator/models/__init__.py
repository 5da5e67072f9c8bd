from orchestrator.models.access import ROLES, ApiKey, AuditEntry, User
from orchestrator.models.base import Model, metadata, utcnow
from orchestrator.models.campaigns import Campaign, CampaignBatch, CampaignRun, CampaignVariant, Segment, TriggerEntry
from orchestrator.models.contacts import CHANNEL_KEYS, Contact, Device, Event, Preference, Topic
from orchestrator.models.idempotency import IdempotencyKey
from orchestrator.models.imports import ContactImport
from orchestrator.models.messages import InboxItem, Message, MessageEvent, OutboxEntry
from orchestrator.models.opt_outs import SmsOptOut
from orchestrator.models.webhooks import WebhookDelivery, WebhookEndpoint
from orchestrator.models.templates import Template, TemplateVersion

__all__ = [
    "ROLES", "ApiKey", "AuditEntry", "User", "Model", "metadata", "utcnow", "CHANNEL_KEYS",
    "Contact", "Device", "Event", "Preference", "Topic", "InboxItem", "Message", "MessageEvent",
    "OutboxEntry", "SmsOptOut", "IdempotencyKey", "WebhookDelivery", "WebhookEndpoint", "Template", "TemplateVersion",
    "ContactImport", "Campaign", "CampaignBatch", "CampaignRun", "CampaignVariant", "Segment", "TriggerEntry",
]
