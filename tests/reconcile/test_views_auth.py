import pytest
from django.urls import reverse

from tests.factories import make_run, make_shop

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "name, args",
    [
        ("reconcile:overview", []),
        ("reconcile:run-list", []),
        ("reconcile:run-detail", [1]),
        ("reconcile:item-list", []),
        ("reconcile:order-detail", [1]),
        ("reconcile:call-detail", [1]),
    ],
)
def test_it_sends_anonymous_users_to_login(client, name, args):
    url = reverse(name, args=args)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_it_shows_the_login_form_with_labels(client):
    response = client.get(reverse("login"))

    assert response.status_code == 200
    assert [t.name for t in response.templates][0] == "registration/login.html"
    assert '<label for="id_username">Username</label>' in response.text
    assert '<label for="id_password">Password</label>' in response.text


def test_it_logs_in_and_lands_on_the_overview(client, viewer):
    make_shop()
    make_run()

    response = client.post(
        reverse("login"),
        {"username": "viewer", "password": "viewer-pass-123"},
        follow=True,
    )

    assert response.redirect_chain == [(reverse("reconcile:overview"), 302)]
    assert "Signed in as <strong>viewer</strong>" in response.text


def test_it_refuses_a_wrong_password_with_a_message(client, viewer):
    response = client.post(
        reverse("login"), {"username": "viewer", "password": "wrong-password"}
    )

    assert response.status_code == 200
    assert "Please enter a correct username and password." in response.text


def test_it_logs_out_with_a_post_form(viewer_client):
    page = viewer_client.get(reverse("reconcile:overview"))
    logout = viewer_client.post(reverse("logout"))

    assert f'<form method="post" action="{reverse("logout")}">' in page.text
    assert logout.status_code == 302
    assert logout["Location"] == reverse("login")
    assert viewer_client.get(reverse("reconcile:overview")).status_code == 302
