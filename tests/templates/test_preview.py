from templates import EmailContent, PushContent, SampleData, SmsContent, TemplateContent, preview


def test_preview_renders_every_channel_with_counts():
    content = TemplateContent(
        sms=SmsContent(body="Hi {{ contact.attributes.first_name }}"),
        push=PushContent(title="Hello"),
        email=EmailContent(subject="S", html="<p>{{ contact.attributes.first_name }}</p>"),
        sample_data=SampleData(contact={"attributes": {"first_name": "Ana"}}),
    )
    result = preview(content)
    assert set(result.rendered) == {"sms", "push", "email"}
    assert result.rendered["sms"].text == "Hi Ana" and result.sms_segments == 1 and result.sms_encoding == "GSM-7"
    assert result.push_payload_size == result.rendered["push"].payload_size > 0
    assert result.rendered["email"].text == "Ana"
    assert result.errors == []


def test_bad_channels_become_errors_and_good_ones_still_render():
    content = TemplateContent(
        sms=SmsContent(body="ok"),
        push=PushContent(title="line\n{{ data.n / 0 }}"),
        sample_data=SampleData(data={"n": 1}),
    )
    result = preview(content, locale="fr")
    assert set(result.rendered) == {"sms"}
    assert [(e.channel, e.field, e.line, e.code) for e in result.errors] == [("push", "title", 2, "render_failed")]
