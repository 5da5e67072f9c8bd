"""/v1/contacts: people, their devices, preferences and events."""
from __future__ import annotations

from flask.views import MethodView
from sqlalchemy import delete, select

from orchestrator.api.auth import actor, protect
from orchestrator.api.parsing import Blueprint
from orchestrator.db import db
from orchestrator.errors import NotFound
from orchestrator.models import Device, utcnow
from orchestrator.schemas.contacts import (
    BatchResultSchema, ContactBatchSchema, ContactListQuerySchema, ContactPageSchema,
    ContactPatchSchema, ContactSchema, ContactUpsertSchema, DeviceInSchema, DeviceSchema,
    EventListQuerySchema, EventPageSchema, PreferencesSchema,
)
from orchestrator.services import contacts as service
from orchestrator.services.events import list_events
from orchestrator.services.preferences import read_preferences, write_preferences

blp = Blueprint("contacts", __name__, url_prefix="/v1/contacts",
                description="Contacts: the people Chorus messages.")
protect(blp)


@blp.route("")
class Contacts(MethodView):
    @blp.arguments(ContactListQuerySchema, location="query")
    @blp.response(200, ContactPageSchema)
    def get(self, args):
        """List contacts, oldest first, with a keyset cursor."""
        rows, cursor = service.list_contacts(db.session, **args)
        return {"data": rows, "next_cursor": cursor}

    @blp.arguments(ContactUpsertSchema)
    @blp.response(200, ContactSchema)
    def post(self, body):
        """Create or update a contact by external_id (fields not sent are left as they are)."""
        service.upsert_contacts(db.session, [body])
        db.session.commit()
        return service.get_contact(db.session, body["external_id"])


@blp.route("/batch")
class ContactBatch(MethodView):
    @blp.arguments(ContactBatchSchema)
    @blp.response(200, BatchResultSchema)
    def post(self, body):
        """Upsert up to 10,000 contacts. All or nothing: one bad row (reported by index) writes none."""
        result = service.upsert_contacts(db.session, body["contacts"])
        db.session.commit()
        return result


@blp.route("/<external_id>")
class ContactItem(MethodView):
    @blp.response(200, ContactSchema)
    def get(self, external_id):
        return service.get_contact(db.session, external_id)

    @blp.arguments(ContactPatchSchema)
    @blp.response(200, ContactSchema)
    def patch(self, body, external_id):
        service.get_contact(db.session, external_id)
        service.upsert_contacts(db.session, [{"external_id": external_id, **body}])
        db.session.commit()
        db.session.expire_all()
        return service.get_contact(db.session, external_id)

    @blp.response(204)
    def delete(self, external_id):
        """Erase the person and their personal data (GDPR right to erasure)."""
        service.erase_contact(db.session, external_id, actor=actor())
        db.session.commit()


@blp.route("/<external_id>/devices")
class Devices(MethodView):
    @blp.response(200, DeviceSchema(many=True))
    def get(self, external_id):
        contact = service.get_contact(db.session, external_id)
        return contact.devices

    @blp.arguments(DeviceInSchema)
    @blp.response(201, DeviceSchema)
    def post(self, body, external_id):
        """Register a push token. A token seen on another contact moves here (a shared device)."""
        contact = service.get_contact(db.session, external_id)
        device = db.session.scalar(select(Device).where(Device.token == body["token"]))
        if device is None:
            device = Device(contact_id=contact.id, **body)
            db.session.add(device)
        else:
            device.contact_id = contact.id
            device.platform = body["platform"]
            device.last_seen_at = utcnow()
        db.session.commit()
        return device


@blp.route("/<external_id>/devices/<path:token>")
class DeviceItem(MethodView):
    @blp.response(204)
    def delete(self, external_id, token):
        contact = service.get_contact(db.session, external_id)
        gone = db.session.execute(
            delete(Device).where(Device.contact_id == contact.id, Device.token == token))
        if gone.rowcount == 0:
            raise NotFound("No such device for this contact.")
        db.session.commit()


@blp.route("/<external_id>/preferences")
class Preferences(MethodView):
    @blp.response(200, PreferencesSchema)
    def get(self, external_id):
        return read_preferences(db.session, service.get_contact(db.session, external_id))

    @blp.arguments(PreferencesSchema)
    @blp.response(200, PreferencesSchema)
    def put(self, body, external_id):
        """Change any of: global unsubscribe, channel opt-ins, topic opt-ins (others stay)."""
        contact = service.get_contact(db.session, external_id)
        result = write_preferences(db.session, contact, body)
        db.session.commit()
        return result


@blp.route("/<external_id>/events")
class ContactEvents(MethodView):
    @blp.arguments(EventListQuerySchema, location="query")
    @blp.response(200, EventPageSchema)
    def get(self, args, external_id):
        """A contact's events, newest first."""
        contact = service.get_contact(db.session, external_id)
        rows, cursor = list_events(db.session, contact.id, **args)
        return {"data": rows, "next_cursor": cursor}
