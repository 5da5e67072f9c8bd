"""The FCM v1 message a rendered push becomes, and its size against FCM's 4,096-byte limit."""

from __future__ import annotations

import json
from typing import Any

FCM_MAX_PAYLOAD_BYTES = 4096
DEEP_LINK_KEY = "deep_link"  # the data key the apps read the deep link from


def fcm_message(
    *,
    title: str,
    body: str,
    image_url: str | None = None,
    deep_link: str | None = None,
    data: dict[str, str] | None = None,
    sound: str | None = None,
    badge: int | None = None,
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
    if android_notification:
        message["android"] = {"notification": android_notification}
    if aps:
        apns: dict[str, Any] = {"payload": {"aps": aps}}
        if image_url:
            apns["fcm_options"] = {"image": image_url}
        message["apns"] = apns
    return message


def payload_size(message: dict[str, Any]) -> int:
    """UTF-8 bytes of the compact JSON, as FCM measures it."""
    return len(json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
