"""Read-only pages and exports answer GET and HEAD only; the actions keep POST."""

import pytest
from django.urls import reverse
from django.utils import timezone

from hubspot_sync.models import ImportJob
from reconcile import roles
from reconcile.models import Order
from tests.factories import make_call, make_run, make_shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def addresses() -> list[str]:
    """Every read-only page and export of the dashboard, one address each."""
    make_shop()
    run = make_run()
    call = make_call(run)
    order = Order.objects.get(number="1001")
    return [
        reverse("reconcile:overview"),
        reverse("reconcile:item-list"),
        reverse("reconcile:item-export"),
        reverse("reconcile:category-list", args=["mismatch"]),
        reverse("reconcile:category-export", args=["mismatch"]),
        reverse("reconcile:category-list", args=["orphan"]),
        reverse("reconcile:category-export", args=["order-problem"]),
        reverse("reconcile:error-list"),
        reverse("reconcile:run-list"),
        reverse("reconcile:run-detail", args=[run.pk]),
        reverse("reconcile:call-detail", args=[call.pk]),
        reverse("reconcile:order-detail", args=[order.pk]),
        reverse("reconcile:sweep-list"),
        reverse("reconcile:webhook-list"),
        reverse("reconcile:job-list"),
        reverse("reconcile:audit-list"),
    ]


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "options"])
def test_read_only_pages_refuse_every_method_but_get_and_head(
    viewer_client, addresses, method
):
    answers = {
        address: getattr(viewer_client, method)(address) for address in addresses
    }

    assert {address: r.status_code for address, r in answers.items()} == dict.fromkeys(
        addresses, 405
    )
    assert {r["Allow"] for r in answers.values()} == {"GET, HEAD"}


def test_read_only_pages_answer_get_and_head(viewer_client, addresses):
    for address in addresses:
        assert viewer_client.get(address).status_code == 200, address
        assert viewer_client.head(address).status_code == 200, address


def test_an_anonymous_post_goes_to_the_login_first(client):
    address = reverse("reconcile:item-list")

    response = client.post(address)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={address}"


def test_the_actions_still_take_their_confirmation_by_post(client, django_user_model):
    user = django_user_model.objects.create_user("olive", password="operator-pass-1")
    roles.assign(user, roles.OPERATOR)
    client.force_login(user)
    make_shop()
    job = ImportJob.objects.create(
        object_type="deals", state="DONE", finished=timezone.now()
    )

    for address in (
        f"{reverse('reconcile:retry-preview')}?category=failed",
        f"{reverse('reconcile:resync-preview')}?store=shop",
        reverse("reconcile:sweep-preview"),
        reverse("reconcile:job-cancel", args=[job.pk]),
    ):
        # No valid token or an ended job: refused by the view, not the method.
        assert client.post(address).status_code in (200, 302), address
        assert client.delete(address).status_code == 405, address
