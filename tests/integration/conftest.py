import pytest

from tests.integration.stack import Stack


@pytest.fixture
def stack(postgres_url, redis_url):
    deployment = Stack(postgres_url, redis_url, CHORUS_SENDING_TIMEOUT_SECONDS="5", CHORUS_SWEEP_GRACE_SECONDS="5")
    try:
        yield deployment
    finally:
        deployment.stop()
