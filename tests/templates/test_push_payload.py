import json

from templates import FCM_MAX_PAYLOAD_BYTES, fcm_message, payload_size


def test_message_shape_follows_fcm_v1():
    message = fcm_message(
        title="T", body="B", image_url="https://img.example/a.png", deep_link="shop://o/1",
        data={"k": "v"}, sound="default", badge=2,
    )  # fmt: skip
    assert message == {
        "notification": {"title": "T", "body": "B", "image": "https://img.example/a.png"},
        "data": {"k": "v", "deep_link": "shop://o/1"},
        "android": {"notification": {"sound": "default"}},
        "apns": {
            "payload": {"aps": {"sound": "default", "badge": 2, "mutable-content": 1}},
            "fcm_options": {"image": "https://img.example/a.png"},
        },
    }


def test_delivery_options_are_fcm_v1_android_fields():
    message = fcm_message(title="T", body="B", priority="normal", ttl_seconds=600, collapse_key="digest")
    assert message["android"] == {"priority": "NORMAL", "ttl": "600s", "collapse_key": "digest"}
    assert "apns" not in message  # APNs takes them as headers, which are no part of the payload


def test_size_is_utf8_bytes_of_compact_json():
    message = fcm_message(title="ção", body="😀")
    assert payload_size(message) == len(json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode())
    assert payload_size(message) == len('{"notification":{"title":"ção","body":"😀"}}'.encode())


def test_limit_constant():
    assert FCM_MAX_PAYLOAD_BYTES == 4096
