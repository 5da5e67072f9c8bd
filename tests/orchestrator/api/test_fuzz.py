"""Schema-driven fuzzing: schemathesis sends what the OpenAPI document allows (and, in its
negative mode, what it forbids) to every /v1 operation, in-process over WSGI, and no answer
may be a 5xx (its `not_a_server_error` check).

Bounded for a shared 2-core machine: a few examples per operation plus the coverage phase's
boundary values (where NUL characters, huge integers and edge datetimes come from); no
stateful phase. /v1/inbox/stream (server-sent events) is not in the document; it is excluded
all the same.

The schema is loaded when this module is imported (schemathesis makes one test per operation
from it) from an app that never opens its database; the requests go to a fresh SQLite app.
`schemathesis.pytest.from_fixture` would defer both, but it does not run under pytest 9.2.
"""
from __future__ import annotations

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error

from orchestrator.app import create_app
from orchestrator.broker import activate_broker
from orchestrator.db import db
from orchestrator.services.api_keys import create_api_key
from tests.conftest import base_config, create_schema

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 8


def _openapi_document() -> dict:
    app = create_app(base_config("sqlite:///:memory:"))
    return app.test_client().get("/openapi.json").get_json()


CONFIG = schemathesis.Config.from_dict({
    "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large", "large_base_example"],
    "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
    "phases": {"stateful": {"enabled": False}},
})
schema = (schemathesis.openapi.from_dict(_openapi_document(), config=CONFIG)
          .include(path_regex=r"^/v1/").exclude(path="/v1/inbox/stream"))


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'chorus.sqlite3'}"
    create_schema(url)
    # As in production, an error answers a 500 problem document (and schemathesis re-raises the
    # app's exception with a curl command that reproduces it), rather than escaping as in TESTING.
    app = create_app(base_config(url, PROPAGATE_EXCEPTIONS=False))
    with app.app_context():
        app.config["FUZZ_SECRET_KEY"] = create_api_key(db.session, "fuzz").secret
        db.session.commit()
        db.session.remove()
    return app


@schema.parametrize()
def test_no_operation_answers_a_server_error(case, fuzz_app):
    activate_broker(fuzz_app)
    secret = fuzz_app.config["FUZZ_SECRET_KEY"]
    case.call_and_validate(app=fuzz_app, headers={"Authorization": f"Bearer {secret}"}, checks=[not_a_server_error])
