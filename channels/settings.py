"""The provider settings the channel adapters need, and where they come from.

``ChannelSettings.from_config`` reads a mapping (Flask's ``app.config``, a dict) or an
object with attributes. Each field is looked up as ``field``, ``FIELD`` and
``CHORUS_FIELD``, so the orchestrator's config table can hand its values over as they are.

| field                          | meaning                                                     |
|--------------------------------|-------------------------------------------------------------|
| public_url                     | CHORUS_PUBLIC_URL, base of status callback URLs             |
| twilio_account_sid/auth_token  | Twilio credentials (both needed for the real SMS adapter)   |
| twilio_messaging_service_sid   | preferred sender; else twilio_from_number                   |
| twilio_api_url                 | override of https://api.twilio.com (tests, benchmarks)      |
| fcm_service_account            | service-account JSON: a dict, a JSON string or a file path  |
| fcm_api_url                    | override of https://fcm.googleapis.com (tests, benchmarks)  |
| smtp_host/port/username/password, smtp_security ("starttls", "ssl" or "none")                |
| email_from_address, email_from_name  default sender when the template gives none         |
| *_timeout                      | seconds per provider HTTP/SMTP call                         |
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class ChannelSettings:
    public_url: str | None = None

    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_from_number: str | None = None
    twilio_api_url: str | None = None
    twilio_timeout: float = 10.0

    fcm_service_account: Any = None
    fcm_api_url: str | None = None
    fcm_timeout: float = 10.0

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_security: str = "starttls"
    smtp_timeout: float = 10.0
    email_from_address: str | None = None
    email_from_name: str | None = None

    @classmethod
    def from_config(cls, config: Any) -> "ChannelSettings":
        if isinstance(config, cls):
            return config
        values = {}
        for f in dataclasses.fields(cls):
            for name in (f.name, f.name.upper(), "CHORUS_" + f.name.upper()):
                value = _lookup(config, name)
                if value not in (None, ""):
                    values[f.name] = _coerce(f.type, value)
                    break
        return cls(**values)

    @property
    def twilio_configured(self) -> bool:
        return bool(
            self.twilio_account_sid
            and self.twilio_auth_token
            and (self.twilio_messaging_service_sid or self.twilio_from_number)
        )

    @property
    def fcm_configured(self) -> bool:
        return bool(self.fcm_service_account)

    @property
    def smtp_configured(self) -> bool:
        return bool(self.smtp_host and self.email_from_address)

    def service_account_info(self) -> dict[str, Any]:
        """The Firebase service account as a dict, whatever form it was given in."""
        account = self.fcm_service_account
        if isinstance(account, Mapping):
            return dict(account)
        text = str(account).strip()
        if not text.startswith("{"):
            with open(os.path.expanduser(text), encoding="utf-8") as handle:
                text = handle.read()
        return json.loads(text)


def _lookup(config: Any, name: str) -> Any:
    if isinstance(config, Mapping):
        return config.get(name)
    return getattr(config, name, None)


def _coerce(type_name: Any, value: Any) -> Any:
    # Annotations are strings under `from __future__ import annotations`.
    if type_name == "float":
        return float(value)
    if type_name == "int":
        return int(value)
    return value
