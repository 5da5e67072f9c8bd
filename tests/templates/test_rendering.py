from hypothesis import given, settings
from hypothesis import strategies as st

import pytest

from templates import (
    EmailContent,
    InappAction,
    InappContent,
    LocaleOverride,
    PushContent,
    RenderedSms,
    Renderer,
    RenderLimitExceeded,
    RenderLimits,
    SmsContent,
    TemplateContent,
    TemplateRenderError,
)

renderer = Renderer()

CONTENT = TemplateContent(
    sms=SmsContent(body="Hi {{ contact.attributes.first_name|default('there') }}! {{ blocks.offer }}"),
    push=PushContent(
        title="{{ blocks.offer }}",
        body="Order {{ data.order_id }}",
        deep_link="shop://orders/{{ data.order_id }}",
        data={"order_id": "{{ event.order_id }}"},
        sound="default",
        badge=3,
    ),
    email=EmailContent(
        subject="Hello\n{{ contact.attributes.first_name }}",
        preheader="{{ variables.code }} inside",
        html='<html><body><p>Hi {{ contact.attributes.first_name }}</p>{{ blocks.offer }}'
        '<a href="https://shop.example/?a=1&amp;b={{ data.order_id }}">Shop</a>'
        '<a href="mailto:help@shop.example">Help</a></body></html>',
    ),
    inapp=InappContent(
        title="{{ blocks.offer }}",
        body="b",
        primary_action=InappAction(label="Open", url="shop://orders/{{ data.order_id }}"),
    ),
    blocks={"offer": "<b>20% off</b> with {{ variables.code }}"},
    variables={"code": "SUMMER"},
    locales={
        "pt": LocaleOverride(blocks={"offer": "<b>20% de desconto</b> com {{ variables.code }}"}),
        "pt-BR": LocaleOverride(sms={"body": "Oi {{ contact.attributes.first_name }}! {{ blocks.offer }}"}, variables={"code": "VERAO"}),
    },
)
ANA = {"attributes": {"first_name": "Ana <x>"}, "locale": "pt_BR", "timezone": "America/Sao_Paulo"}


def test_sms_uses_the_most_specific_override_and_shared_block():
    sms = renderer.render(CONTENT, "sms", contact=ANA)
    assert sms == RenderedSms("Oi Ana <x>! <b>20% de desconto</b> com VERAO", "GSM-7", 1)


def test_locale_falls_back_to_language_then_default():
    pt = renderer.render(CONTENT, "sms", contact={"locale": "pt-PT", "attributes": {}})
    assert pt.text == "Hi there! <b>20% de desconto</b> com SUMMER"
    default = renderer.render(CONTENT, "sms", contact={"locale": "de", "attributes": {}})
    assert default.text == "Hi there! <b>20% off</b> with SUMMER"


def test_email_escapes_data_but_not_author_blocks_and_shapes_links():
    email = renderer.render(
        CONTENT, "email", contact=ANA, data={"order_id": "7"},
        link_wrapper=lambda url: "https://t.example/c?u=" + url,
        open_pixel_url="https://t.example/o.gif?m=1&x=2",
    )  # fmt: skip
    assert email.subject == "Hello Ana <x>"
    assert "Hi Ana &lt;x&gt;" in email.html
    assert "<b>20% de desconto</b> com VERAO" in email.html
    assert 'href="https://t.example/c?u=https://shop.example/?a=1&amp;b=7"' in email.html
    assert 'href="mailto:help@shop.example"' in email.html
    assert email.html.index("VERAO inside") < email.html.index("Hi Ana")
    assert email.html.index('src="https://t.example/o.gif?m=1&amp;x=2"') < email.html.index("</body>")
    assert "Hi Ana <x>" in email.text
    assert "Shop (https://t.example/c?u=https://shop.example/?a=1&b=7)" in email.text
    assert "VERAO inside" not in email.text  # the hidden preheader is not body copy


def test_push_renders_data_and_measures_payload():
    push = renderer.render(CONTENT, "push", data={"order_id": 42})
    assert (push.title, push.body, push.deep_link, push.data) == (
        "<b>20% off</b> with SUMMER", "Order 42", "shop://orders/42", {"order_id": "42"},
    )  # fmt: skip
    assert push.badge == 3 and push.sound == "default" and 100 < push.payload_size < 400


def test_push_delivery_options_are_used_as_written():
    content = TemplateContent(push=PushContent(title="Digest", body="{{ data.n }} new", priority="normal",
                                               ttl_seconds=3600, collapse_key="digest"))
    push = renderer.render(content, "push", data={"n": 3})
    assert (push.priority, push.ttl_seconds, push.collapse_key) == ("normal", 3600, "digest")
    plain = renderer.render(CONTENT, "push", data={"order_id": 1})
    assert (plain.priority, plain.ttl_seconds, plain.collapse_key) == (None, None, None)


def test_inapp_rejects_a_rendered_javascript_url():
    content = TemplateContent(inapp=InappContent(title="t", primary_action=InappAction("Go", "{{ data.url }}")))
    assert renderer.render(content, "inapp", data={"url": "https://ok.example"}).primary_action.url == "https://ok.example"
    with pytest.raises(TemplateRenderError) as caught:
        renderer.render(content, "inapp", data={"url": "javascript:alert(1)"})
    assert (caught.value.channel, caught.value.field, caught.value.code) == ("inapp", "primary_action.url", "invalid_url")


def test_runtime_error_carries_channel_field_and_line():
    content = TemplateContent(push=PushContent(title="ok", body="one\ntwo\n{{ data.n + 1 }}"))
    with pytest.raises(TemplateRenderError) as caught:
        renderer.render(content, "push", data={"n": "x"})
    assert (caught.value.channel, caught.value.field, caught.value.line) == ("push", "body", 3)


def test_a_block_that_uses_itself_is_an_error():
    content = TemplateContent(sms=SmsContent(body="{{ blocks.a }}"), blocks={"a": "x{{ blocks.b }}", "b": "{{ blocks.a }}"})
    with pytest.raises(TemplateRenderError, match="uses itself"):
        renderer.render(content, "sms")


def test_compiled_templates_are_cached_per_version_key():
    local = Renderer()
    for _ in range(3):
        local.render(CONTENT, "sms", contact=ANA, cache_key="v1")
    before = len(local.cache)
    local.render(CONTENT, "sms", contact=ANA, cache_key="v1")
    assert len(local.cache) == before == 2  # the SMS body and the offer block
    local.render(CONTENT, "sms", contact=ANA, cache_key="v2")
    assert len(local.cache) == 4


def test_cache_is_bounded():
    local = Renderer(cache_size=3)
    for n in range(10):
        local.render(TemplateContent(sms=SmsContent(body=f"n={n}")), "sms")
    assert len(local.cache) == 3


def test_missing_values_render_empty_not_none():
    content = TemplateContent(sms=SmsContent(body="[{{ contact.attributes.x.y }}][{{ data.none }}]"))
    assert renderer.render(content, "sms", data={"none": None}).text == "[][]"


def test_babel_filters_use_the_contact_locale_and_timezone():
    content = TemplateContent(
        sms=SmsContent(body="{{ data.total|money('EUR') }} | {{ data.at|date('short') }} | {{ data.at|datetime('short') }}")
    )
    data = {"total": "1234.5", "at": "2025-03-01T02:30:00Z"}
    us = renderer.render(content, "sms", contact={"locale": "en-US", "timezone": "America/New_York"}, data=data)
    assert us.text == "€1,234.50 | 2/28/25 | 2/28/25, 9:30 PM"
    de = renderer.render(content, "sms", contact={"locale": "de_DE", "timezone": "Europe/Berlin"}, data=data)
    assert de.text == "1.234,50 € | 01.03.25 | 01.03.25, 03:30"


def test_money_without_currency_is_a_render_error():
    with pytest.raises(TemplateRenderError, match="currency"):
        renderer.render(TemplateContent(sms=SmsContent(body="{{ 3|money }}")), "sms")


def test_output_cap_applies_per_field():
    small = Renderer(RenderLimits(max_field_chars=100))
    content = TemplateContent(sms=SmsContent(body="{% for i in range(50) %}{{ data.word }}{% endfor %}"))
    assert small.render(content, "sms", data={"word": "ab"}).text == "ab" * 50
    with pytest.raises(RenderLimitExceeded):
        small.render(content, "sms", data={"word": "abc"})


SAFE_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@given(contact_attrs=st.dictionaries(st.text(max_size=10), SAFE_VALUES, max_size=5), data=st.dictionaries(st.text(max_size=10), SAFE_VALUES, max_size=5))
@settings(max_examples=30, deadline=None)
def test_arbitrary_safe_data_never_breaks_a_render(contact_attrs, data):
    content = TemplateContent(
        sms=SmsContent(body="{{ contact.attributes.name }} {{ data.items }} {{ data.x.y.z }} {% for k in data %}{{ k }}{% endfor %}"),
        email=EmailContent(subject="{{ data.subject }}", html="<p>{{ data }}</p>"),
    )
    scope = dict(contact={"attributes": contact_attrs}, data=data)
    sms = renderer.render(content, "sms", **scope)
    email = renderer.render(content, "email", **scope)
    assert sms.segments >= 0 and "<" not in email.html.removeprefix("<p>").removesuffix("</p>")


@given(st.text(max_size=60))
@settings(max_examples=80, deadline=None)
def test_autoescape_in_email_html_only(value):
    content = TemplateContent(
        sms=SmsContent(body="{{ data.v }}"),
        email=EmailContent(subject="{{ data.v }}", html="<p>{{ data.v }}</p>", text="{{ data.v }}"),
    )
    email = renderer.render(content, "email", data={"v": value})
    inner = email.html[len("<p>") : -len("</p>")]
    assert "<" not in inner and ">" not in inner
    assert email.text == value.strip()
    sms = renderer.render(content, "sms", data={"v": "<" + value})
    assert sms.text.startswith("<")


@given(st.integers(min_value=0, max_value=400), st.integers(min_value=1, max_value=300))
@settings(max_examples=40, deadline=None)
def test_output_never_exceeds_the_cap(repeats, cap):
    local = Renderer(RenderLimits(max_field_chars=cap))
    content = TemplateContent(sms=SmsContent(body="{% for i in range(data.n) %}x{% endfor %}"))
    try:
        text = local.render(content, "sms", data={"n": repeats}).text
    except RenderLimitExceeded:
        assert repeats > cap
    else:
        assert len(text) == repeats <= cap
