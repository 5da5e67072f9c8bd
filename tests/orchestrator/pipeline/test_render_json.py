"""The row JSON of rendered content is what `dataclasses.asdict` gives, without its cost."""
from __future__ import annotations

import dataclasses

from orchestrator.pipeline.render import as_json
from templates.rendered import RenderedAction, RenderedEmail, RenderedInapp, RenderedPush, RenderedSms


def test_as_json_equals_asdict_for_every_rendered_kind():
    samples = [
        RenderedSms("Hi Ana", "GSM-7", 1),
        RenderedPush("T", "B", "https://img", "app://x", {"k": "v"}, "default", 3, 120),
        RenderedEmail("S", "P", "<p>x</p>", "x", "Chorus", "a@example.com", None),
        RenderedInapp("T", "B", None, RenderedAction("Go", "https://x"), None),
    ]
    for rendered in samples:
        assert as_json(rendered) == dataclasses.asdict(rendered)
    push = samples[1]
    assert as_json(push)["data"] is not push.data, "the row owns its copy of the map"
    assert as_json({"text": "already a dict"}) == {"text": "already a dict"}
