import pytest
from django.urls import reverse

from hubspot_sync.models import WebhookEvent

pytestmark = pytest.mark.django_db


def event(key: str, state: str, detail: str = "", **fields) -> WebhookEvent:
    return WebhookEvent.objects.create(
        dedupe_key=key,
        subscription_type="line_item.propertyChange",
        object_type="line_items",
        object_id="40000000003",
        property_name="quantity",
        property_value="60",
        change_source="CRM_UI",
        state=state,
        detail=detail,
        **fields,
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
