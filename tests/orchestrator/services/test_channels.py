"""The app's channel registry: real adapters from configured credentials, except in the demo."""
from orchestrator.app import create_app
from orchestrator.services.channels import channels_for, close_channels
from tests.conftest import base_config

TWILIO = {"TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "token",
          "TWILIO_FROM_NUMBER": "+14155550100"}


def _registry(sqlite_url, **config):
    app = create_app(base_config(sqlite_url, **TWILIO, **config))
    try:
        return channels_for(app).sandboxed()
    finally:
        close_channels(app)


def test_configured_twilio_is_live(sqlite_url):
    assert "sms" not in _registry(sqlite_url)


def test_the_demo_never_sends_through_a_real_provider(sqlite_url):
    assert _registry(sqlite_url, DEMO=True) == ["sms", "push", "email"]
