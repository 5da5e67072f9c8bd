import pytest
from marshmallow import ValidationError

from templates import InappAction, LocaleOverride, SmsContent, TemplateContent, TemplateContentSchema, Renderer

schema = TemplateContentSchema()

PAYLOAD = {
    "category": "transactional",
    "topic": "orders",
    "sms": {"body": "Order {{ data.id }}"},
    "inapp": {"title": "t", "primary_action": {"label": "Open", "url": "shop://o"}},
    "blocks": {"footer": "bye"},
    "variables": {"brand": "Shop", "year": 2025},
    "locales": {"pt_BR": {"sms": {"body": "Pedido {{ data.id }}"}, "inapp": {"primary_action": {"label": "Abrir"}}}},
    "sample_data": {"contact": {"attributes": {}}, "data": {"id": 1}},
}


def test_load_builds_dataclasses_and_dump_round_trips():
    content = schema.load(PAYLOAD)
    assert isinstance(content, TemplateContent)
    assert content.sms == SmsContent("Order {{ data.id }}")
    assert content.inapp.primary_action == InappAction("Open", "shop://o")
    assert isinstance(content.locales["pt_BR"], LocaleOverride)
    assert schema.load(schema.dump(content)) == content


def test_partial_locale_override_merges_field_by_field():
    content = schema.load(PAYLOAD)
    inapp = Renderer().render(content, "inapp", locale="pt-BR")
    assert (inapp.primary_action.label, inapp.primary_action.url) == ("Abrir", "shop://o")
    assert Renderer().render(content, "sms", locale="pt-br", data={"id": 5}).text == "Pedido 5"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"category": "promo"}, "category"),
        ({"locales": {"not a locale": {}}}, "locales"),
        ({"variables": {"x": {"nested": 1}}}, "variables"),
        ({"blocks": {"bad name": "x"}}, "blocks"),
        ({"email": {"from_address": "nope"}}, "email"),
        ({"push": {"badge": "3"}}, "push"),
        ({"push": {"title": "t", "priority": "urgent"}}, "push"),
        ({"push": {"title": "t", "ttl_seconds": -1}}, "push"),
        ({"push": {"title": "t", "ttl_seconds": 29 * 24 * 3600}}, "push"),
        ({"push": {"title": "t", "ttl_seconds": "3600"}}, "push"),
        ({"push": {"title": "t", "collapse_key": "k" * 65}}, "push"),
        ({"sms": {"body": "x", "extra": 1}}, "sms"),
    ],
)
def test_invalid_shapes_are_refused(change, field):
    with pytest.raises(ValidationError) as caught:
        schema.load({**PAYLOAD, **change})
    assert field in caught.value.messages
