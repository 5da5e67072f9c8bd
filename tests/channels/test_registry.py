import pytest

from channels import (
    CHANNEL_KEYS,
    LIMITS,
    ChannelRegistry,
    ChannelSettings,
    DuplicateChannel,
    EmailChannel,
    InappChannel,
    PushChannel,
    SandboxChannel,
    SmsChannel,
    UnknownChannel,
    build_registry,
)
from channels.channel import Channel
from tests.channels.conftest import twilio_settings


def test_every_channel_key_is_registered_by_default(outbox):
    registry = build_registry({}, outbox)
    assert sorted(registry.keys()) == sorted(CHANNEL_KEYS)
    for key in CHANNEL_KEYS:
        channel = registry.get(key)
        assert isinstance(channel, Channel)
        assert channel.key == key and channel.is_sandbox and channel.is_available()
        assert channel.max_batch == LIMITS[key].max_batch
    assert registry.sandboxed() == list(CHANNEL_KEYS)


def test_credentials_present_select_the_real_adapters(outbox, inbox, twilio_server, fcm_server, smtp_server):
    config = {
        **{k: v for k, v in vars(twilio_settings(twilio_server)).items() if k.startswith(("twilio_", "public_"))},
        "CHORUS_FCM_SERVICE_ACCOUNT": fcm_server.service_account,
        "SMTP_HOST": smtp_server.host,
        "SMTP_PORT": str(smtp_server.port),
        "smtp_security": "none",
        "email_from_address": "news@chorus.example",
    }
    registry = build_registry(config, outbox, inbox)
    try:
        assert isinstance(registry["sms"], SmsChannel)
        assert isinstance(registry["push"], PushChannel)
        assert isinstance(registry["email"], EmailChannel)
        assert registry["email"].settings.smtp_port == smtp_server.port
        assert isinstance(registry["inapp"], InappChannel)
        assert registry.sandboxed() == []
        for key in CHANNEL_KEYS:
            assert isinstance(registry[key], Channel) and not registry[key].is_sandbox
    finally:
        registry.close()


def test_sandbox_only_ignores_credentials_but_keeps_the_inbox(outbox, inbox, twilio_server, fcm_server, smtp_server):
    config = {
        **{k: v for k, v in vars(twilio_settings(twilio_server)).items() if k.startswith(("twilio_", "public_"))},
        "CHORUS_FCM_SERVICE_ACCOUNT": fcm_server.service_account,
        "SMTP_HOST": smtp_server.host, "SMTP_PORT": str(smtp_server.port), "smtp_security": "none",
        "email_from_address": "news@chorus.example",
    }
    registry = build_registry(config, outbox, inbox, sandbox_only=True)
    assert registry.sandboxed() == ["sms", "push", "email"]
    assert isinstance(registry["inapp"], InappChannel)


def test_partial_twilio_credentials_fall_back_to_the_sandbox(outbox):
    registry = build_registry({"twilio_account_sid": "AC1", "twilio_auth_token": ""}, outbox)
    assert isinstance(registry["sms"], SandboxChannel)


def test_duplicates_and_unknown_keys_raise(outbox):
    registry = ChannelRegistry()
    registry.register(SandboxChannel("sms", outbox))
    with pytest.raises(DuplicateChannel):
        registry.register(SandboxChannel("sms", outbox))
    with pytest.raises(UnknownChannel):
        registry.get("fax")
    with pytest.raises(ValueError):
        SandboxChannel("fax", outbox)


def test_settings_read_objects_and_coerce_numbers():
    class Config:
        CHORUS_SMTP_PORT = "2525"
        SMTP_TIMEOUT = "3"

    settings = ChannelSettings.from_config(Config())
    assert settings.smtp_port == 2525 and settings.smtp_timeout == 3.0
    assert not settings.smtp_configured
