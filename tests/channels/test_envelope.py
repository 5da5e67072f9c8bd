from dataclasses import dataclass

from channels import Accepted, Envelope, Failed, PermanentError, TransientError, content_field
from channels.envelope import content_as_dict


@dataclass
class RenderedSms:  # the shape the templates package renders
    text: str
    encoding: str
    segments: int


def test_content_reads_the_same_from_a_dataclass_or_a_dict():
    as_object = RenderedSms("hello", "GSM-7", 1)
    as_dict = {"text": "hello", "encoding": "GSM-7", "segments": 1}
    for content in (as_object, as_dict):
        assert content_field(content, "text") == "hello"
        assert content_field(content, "segments") == 1
        assert content_field(content, "missing", "default") == "default"
    assert content_as_dict(as_object) == as_dict


def test_results_say_whether_to_retry():
    envelope = Envelope(7, "c:1:2:sms", "+14155552671", {"text": "hi"})
    assert Accepted(envelope.message_id, "SM1").ok
    transient = Failed(7, TransientError("busy", retry_after=3))
    permanent = Failed(7, PermanentError("21211", "bad number", address_invalid=True))
    assert not transient.ok and transient.transient and transient.error.retry_after == 3
    assert not permanent.transient and permanent.error.address_invalid
