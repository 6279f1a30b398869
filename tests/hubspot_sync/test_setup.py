import pytest

from hubspot_sync import setup
from hubspot_sync.client import HubSpotClient
from hubspot_sync.models import ApiCall
from hubspot_sync.properties import CUSTOM_PROPERTIES

pytestmark = pytest.mark.django_db


def test_it_takes_a_property_whose_create_answer_was_lost(hubspot, monkeypatch):
    monkeypatch.setattr(setup, "CUSTOM_PROPERTIES", CUSTOM_PROPERTIES[:1])
    # The create lands, its answer never comes, and the retry answers 409.
    hubspot.configure(quirks={"timeout_after_write": 1}, hold_seconds=2)
    client = HubSpotClient(timeout=1, max_attempts=2)

    report = setup.ensure_properties(client)

    definition = CUSTOM_PROPERTIES[0]
    assert report.created == [f"{definition.object_type}.{definition.name}"]
    posts = ApiCall.objects.filter(method="POST").order_by("pk")
    assert [(call.status, call.error) for call in posts] == [
        (None, "timed out"),
        (409, ""),
    ]
