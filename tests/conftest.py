import os

import pytest
from django.conf import settings
from django.test import override_settings
from django_q.conf import Conf


@pytest.fixture
def viewer(django_user_model):
    return django_user_model.objects.create_user("viewer", password="viewer-pass-123")


@pytest.fixture
def hubspot(tmp_path, settings):
    """Tally's HubSpot sandbox on a free port, with Tally pointed at it."""
    from django.core.cache import cache

    from hubspot_sync.sandbox.server import SandboxServer

    cache.clear()  # a fresh portal: the properties setup must run again
    server = SandboxServer(tmp_path / "sandbox.sqlite3", port=0)
    server.start()
    settings.HUBSPOT_BASE_URL = server.url
    settings.HUBSPOT_ACCESS_TOKEN = "sandbox-token"
    try:
        yield server
    finally:
        server.stop()


class RedisKeys:
    """This test session's keys in Redis: its django-q2 queue and rate budget."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url)
        self.prefix = prefix

    def clear(self, pattern: str = "*") -> None:
        for match in (f"{self.prefix}:{pattern}", f"django_q:{self.prefix}:{pattern}"):
            keys = list(self.redis.scan_iter(match=match, count=500))
            if keys:
                self.redis.delete(*keys)


@pytest.fixture(scope="session", autouse=True)
def redis_keys():
    """In the scaled mode, Redis keys of this session's own.

    A run side by side, or one after a run that was killed, then never sees
    this one's queued tasks or rate back-offs. Workers started by a test get
    the prefix through TALLY_REDIS_PREFIX.
    """
    if not settings.REDIS_URL:
        yield None
        return
    keys = RedisKeys(settings.REDIS_URL, f"tally-test-{os.getpid()}")
    # django-q2 reads its settings once, at import: move its names too.
    names = {
        "PREFIX": keys.prefix,
        "CLUSTER_NAME": keys.prefix,
        "Q_STAT": f"django_q:{keys.prefix}:cluster",
    }
    with (
        override_settings(TALLY_REDIS_PREFIX=keys.prefix),
        pytest.MonkeyPatch.context() as patch,
    ):
        for name, value in names.items():
            patch.setattr(Conf, name, value)
        try:
            yield keys
        finally:
            keys.clear()


@pytest.fixture(autouse=True)
def fresh_redis(redis_keys):
    """No test inherits an earlier one's queued tasks or 429 back-off."""
    if redis_keys is not None:
        redis_keys.clear()
