"""What every HTTP provider call shares: no re-sent POSTs, and the provider's Retry-After."""

from __future__ import annotations

import functools
from typing import Any, Mapping, NamedTuple
from urllib.parse import urlsplit

import requests
from urllib3.util.retry import Retry

# Never let urllib3 re-send a POST on a read error or a 5xx: the provider may already have the
# message, and a second copy reaches a person's phone. Connecting again is safe (nothing was
# sent). False (not 0) re-raises the original error, so a read timeout stays a Timeout
# instead of turning into a generic connection error.
NO_RESEND = Retry(total=None, connect=1, read=False, status=0, other=False, redirect=False, allowed_methods=None)


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    value = headers.get("Retry-After") if headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date; rare from these APIs, and the caller has its own back-off


def pin_environment(session: requests.Session, base_url: str) -> None:
    """Take the environment's proxy and CA-bundle settings for `base_url` once (requests reads
    HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE…), then stop requests reading them again: with
    `trust_env` it walks the process environment on every call, a sixth of an SMS send's CPU. A provider
    client only calls its one host, so these are the settings each call would have found."""
    found = _read_environment(base_url)
    session.proxies.update(found.proxies)
    session.verify = found.verify
    session.trust_env = False


class EnvironmentSettings(NamedTuple):
    proxies: Mapping[str, str]
    verify: Any  # True, or the CA bundle's path


def environment_for(url: str) -> EnvironmentSettings:
    """The proxy and CA-bundle settings requests would read from the environment for `url`,
    read once per origin (scheme, host, port): for a client that calls many hosts (outbound
    webhooks), what `pin_environment` is for a client of one. Pass them to a session whose
    `trust_env` is off."""
    parts = urlsplit(url)
    return _environment_for_origin(f"{parts.scheme}://{parts.netloc}")


@functools.lru_cache(maxsize=1024)
def _environment_for_origin(origin: str) -> EnvironmentSettings:
    return _read_environment(origin)


def _read_environment(url: str) -> EnvironmentSettings:
    """What requests takes from the environment for `url` (read now, every time)."""
    with requests.Session() as reader:
        found = reader.merge_environment_settings(url, {}, None, None, None)
    return EnvironmentSettings(dict(found["proxies"]), found["verify"])
