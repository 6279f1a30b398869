import pytest


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
