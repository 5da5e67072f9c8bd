import pytest

from templates import (
    EmailContent,
    InappAction,
    InappContent,
    LocaleOverride,
    PushContent,
    SampleData,
    SmsContent,
    TemplateContent,
    TemplateValidationError,
    validate,
)

SAMPLE = SampleData(contact={"attributes": {"first_name": "Ana"}, "locale": "en"}, data={"order_id": "A1"})


def codes(issues):
    return {(issue.code, issue.channel, issue.field, issue.line, issue.locale) for issue in issues}


def test_a_good_template_is_publishable():
    content = TemplateContent(
        sms=SmsContent(body="Hi {{ contact.attributes.first_name }}, order {{ data.order_id }}"),
        push=PushContent(title="Order {{ data.order_id }}"),
        email=EmailContent(subject="Order", html="<p>{{ blocks.footer }}</p>"),
        inapp=InappContent(title="t", primary_action=InappAction("Open", "shop://orders/{{ data.order_id }}")),
        blocks={"footer": "Thanks"},
        locales={"pt-BR": LocaleOverride(sms={"body": "Oi {{ contact.attributes.first_name }}"})},
        sample_data=SAMPLE,
    )
    report = validate(content)
    assert report.errors == [] and report.warnings == [] and report.publishable
    report.raise_for_errors()


def test_syntax_errors_and_unknown_filters_have_line_channel_and_locale():
    content = TemplateContent(
        sms=SmsContent(body="ok\n{{ data.x|shout }}"),
        email=EmailContent(subject="s", html="<p>\n\n{% if %}</p>"),
        blocks={"b": "{{ oops("},
        locales={"fr": LocaleOverride(push={"title": "{% for %}"})},
        push=PushContent(title="t"),
        sample_data=SAMPLE,
    )
    report = validate(content)
    assert {(c, ch, f, line, loc) for c, ch, f, line, loc in codes(report.errors)} >= {
        ("unknown_filter", "sms", "body", 2, None),
        ("syntax", "email", "html", 3, None),
        ("syntax", "blocks", "b", 1, None),
        ("syntax", "push", "title", 1, "fr"),
    }
    assert not report.publishable
    with pytest.raises(TemplateValidationError) as caught:
        report.raise_for_errors()
    assert len(caught.value.issues) == len(report.errors)


def test_required_fields_per_channel():
    content = TemplateContent(
        sms=SmsContent(body=" "),
        push=PushContent(),
        email=EmailContent(html=""),
        inapp=InappContent(primary_action=InappAction(label="", url="javascript:alert(1)")),
        sample_data=SAMPLE,
    )
    found = {(c, ch, f) for c, ch, f, _, _ in codes(validate(content).errors)}
    assert found >= {
        ("required", "sms", "body"),
        ("required", "push", "body"),
        ("email_subject_missing", "email", "subject"),
        ("email_body_missing", "email", "html"),
        ("required", "inapp", "body"),
        ("required", "inapp", "primary_action.label"),
        ("invalid_url", "inapp", "primary_action.url"),
    }


def test_variables_missing_from_sample_data_are_warnings_with_paths():
    content = TemplateContent(
        sms=SmsContent(body="Hi {{ contact.attributes.nickname }}\n{{ first_name }} {{ data.maybe|default('') }}"),
        sample_data=SAMPLE,
    )
    report = validate(content)
    assert report.publishable
    messages = {(w.line, w.message.split(" ")[0]) for w in report.warnings if w.code == "undefined_variable"}
    assert (1, "'contact.attributes.nickname'") in messages
    assert (2, "'first_name'") in messages
    assert not any("maybe" in w.message for w in report.warnings)


def test_sms_segments_over_the_maximum_is_an_error_and_ucs2_a_warning():
    content = TemplateContent(sms=SmsContent(body="{{ data.order_id }} " + "é" * 400 + " ж"), sample_data=SAMPLE)
    report = validate(content, max_sms_segments=3)
    assert any(e.code == "sms_segments" and "renders to 7 SMS segments" in e.message for e in report.errors)
    assert any(w.code == "sms_encoding" and "ж" in w.message for w in report.warnings)
    assert validate(content, max_sms_segments=7).publishable


def test_push_payload_over_fcm_limit_is_an_error():
    content = TemplateContent(push=PushContent(title="t", body="{{ data.long }}"), sample_data=SampleData(data={"long": "x" * 4100}))
    assert [e.code for e in validate(content).errors] == ["push_payload_size"]


def test_render_failures_in_any_locale_block_publishing():
    content = TemplateContent(
        sms=SmsContent(body="fine"),
        locales={"de": LocaleOverride(sms={"body": "{{ data.order_id + 1 }}"})},
        sample_data=SAMPLE,
    )
    report = validate(content)
    assert [(e.code, e.locale, e.line) for e in report.errors] == [("render_failed", "de", 1)]


def test_runaway_template_is_reported_once_not_per_locale():
    content = TemplateContent(
        sms=SmsContent(body="{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"),
        locales={"de": LocaleOverride(), "fr": LocaleOverride()},
        sample_data=SAMPLE,
    )
    from templates import RenderLimits

    report = validate(content, limits=RenderLimits(deadline_seconds=0.05))
    assert [e.code for e in report.errors] == ["render_limit"]


def test_unsupported_tags_and_odd_locales():
    content = TemplateContent(
        sms=SmsContent(body="{% include 'x' %}"),
        email=None,
        locales={"qq": LocaleOverride(email={"subject": "x"})},
        sample_data=SAMPLE,
    )
    report = validate(content)
    assert ("unsupported_tag", "sms", "body", 1, None) in codes(report.errors)
    assert {"unknown_locale", "orphan_override"} <= {w.code for w in report.warnings}


def test_no_channels_is_an_error():
    assert [e.code for e in validate(TemplateContent()).errors] == ["no_channels"]
