import re

import pytest
from django.http import QueryDict
from django.urls import reverse

from hubspot_sync.models import WebhookEvent

pytestmark = pytest.mark.django_db


def event(key: str, state: str, detail: str = "", **fields) -> WebhookEvent:
    values = {
        "subscription_type": "line_item.propertyChange",
        "object_type": "line_items",
        "object_id": "40000000003",
        "property_name": "quantity",
        "property_value": "60",
        "change_source": "CRM_UI",
        **fields,
    }
    return WebhookEvent.objects.create(
        dedupe_key=key, state=state, detail=detail, **values
    )


def test_every_event_shows_with_what_tally_did_and_failures_can_be_picked(
    viewer_client,
):
    event("a", WebhookEvent.State.PROCESSED, "Re-checked by sweep 2.")
    event("b", WebhookEvent.State.FAILED, "OperationalError: database is locked")
    event("c", WebhookEvent.State.IGNORED, "Not a record of Tally's.")
    url = reverse("reconcile:webhook-list")

    everything = viewer_client.get(url)
    failed = viewer_client.get(url, {"state": "failed"})

    assert [r.record.dedupe_key for r in everything.context["table"].page] == [
        "c",
        "b",
        "a",
    ]
    assert [r.record.dedupe_key for r in failed.context["table"].page] == ["b"]
    assert "database is locked" in failed.text
    assert 'href="/items/?q=40000000003"' in failed.text


def test_a_state_with_no_events_says_so_and_links_back_to_all(viewer_client):
    event("a", WebhookEvent.State.PROCESSED, "Re-checked by sweep 2.")
    url = reverse("reconcile:webhook-list")

    failed = viewer_client.get(url, {"state": "failed"})
    WebhookEvent.objects.all().delete()
    none_at_all = viewer_client.get(url)

    assert list(failed.context["table"].page) == []
    assert f'No failed events. <a href="{url}">Show all events</a>.' in failed.text
    assert "No webhook events yet" not in failed.text
    assert "No webhook events yet" in none_at_all.text


def test_the_hubspot_id_links_to_a_search_for_exactly_that_value(viewer_client):
    event("a", WebhookEvent.State.FAILED, object_id="a&b=c d")

    page = viewer_client.get(reverse("reconcile:webhook-list"))

    href = re.search(r'<a href="(/items/\?[^"]*)">a&amp;b=c d</a>', page.text)
    assert href, page.text
    assert href.group(1) == "/items/?q=a%26b%3Dc+d"
    assert QueryDict(href.group(1).partition("?")[2]).dict() == {"q": "a&b=c d"}
