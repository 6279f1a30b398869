import pytest


@pytest.fixture
def viewer_client(client, viewer):
    """A test client logged in as the viewer."""
    client.force_login(viewer)
    return client
