import pytest


@pytest.fixture
def viewer_client(client, viewer):
    """A test client logged in as the viewer."""
    client.force_login(viewer)
    return client


@pytest.fixture(autouse=True)
def fresh_counts():
    """The overview caches its counts; a test starts without another's."""
    from django.core.cache import cache

    cache.clear()
