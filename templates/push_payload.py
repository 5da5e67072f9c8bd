"""The FCM v1 message a rendered push becomes, and its size against FCM's 4,096-byte limit."""

from __future__ import annotations

import json
from typing import Any

FCM_MAX_PAYLOAD_BYTES = 4096
DEEP_LINK_KEY = "deep_link"  # the data key the apps read the deep link from
PUSH_PRIORITIES = ("high", "normal")
MAX_PUSH_TTL_SECONDS = 28 * 24 * 3600  # FCM keeps an undelivered message at most four weeks


def fcm_message(
    *,
    title: str,
    body: str,
    image_url: str | None = None,
    deep_link: str | None = None,
    data: dict[str, str] | None = None,
    sound: str | None = None,
    badge: int | None = None,
    priority: str | None = None,
    ttl_seconds: int | None = None,
    collapse_key: str | None = None,
) -> dict[str, Any]:
    """The FCM v1 ``message`` object without the device token (tokens vary per send)."""
    notification: dict[str, Any] = {"title": title, "body": body}
    if image_url:
        notification["image"] = image_url
    payload_data = dict(data or {})
    if deep_link:
        payload_data[DEEP_LINK_KEY] = deep_link
    message: dict[str, Any] = {"notification": notification}
    if payload_data:
        message["data"] = payload_data
    android_notification: dict[str, Any] = {}
    aps: dict[str, Any] = {}
    if sound:
        android_notification["sound"] = sound
        aps["sound"] = sound
    if badge is not None:
        aps["badge"] = badge
    if image_url:
        aps["mutable-content"] = 1  # lets the iOS notification service extension fetch the image
    android: dict[str, Any] = {}
    if android_notification:
        android["notification"] = android_notification
    if priority:
        android["priority"] = priority.upper()  # the v1 API's enum
    if ttl_seconds is not None:
        android["ttl"] = f"{ttl_seconds}s"
    if collapse_key:
        android["collapse_key"] = collapse_key
    if android:
        message["android"] = android
    if aps:
        apns: dict[str, Any] = {"payload": {"aps": aps}}
        if image_url:
            apns["fcm_options"] = {"image": image_url}
        message["apns"] = apns
    return message


def payload_size(message: dict[str, Any]) -> int:
    """UTF-8 bytes of the compact JSON, as FCM measures it."""
    return len(json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
