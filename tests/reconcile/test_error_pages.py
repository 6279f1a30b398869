import pytest

pytestmark = pytest.mark.django_db


def test_a_missing_page_keeps_the_navigation_and_says_where_to_go(viewer_client):
    response = viewer_client.get("/orders/999999/")

    assert response.status_code == 404
    assert "<h1>Not found</h1>" in response.text
    assert "<code>/orders/999999/</code>" in response.text
    assert 'href="/items/"' in response.text
    assert "Signed in as <strong>viewer</strong>" in response.text
