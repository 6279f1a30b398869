"""The webhook task: which events lead to a re-check, and doing it twice is safe."""

from datetime import timedelta

import pytest

from hubspot_sync import webhooks
from hubspot_sync.models import Association, ItemOutcome, SyncItem, WebhookEvent
from hubspot_sync.signals import records_changed
from reconcile.models import Sweep
from tests.factories import item, make_staged_order, make_store

pytestmark = pytest.mark.django_db


@pytest.fixture
def orders():
    store = make_store()
    first = make_staged_order(store, "1001", lines=2)
    second = make_staged_order(store, "1002", lines=1)
    for key, hubspot_id in [
        ("shop:1001", "501"),
        ("shop:1001:1", "511"),
        ("shop:1001:2", "512"),
        ("shop:1002", "502"),
        ("shop:1002:1", "521"),
    ]:
        found = item(key)
        found.hubspot_id = hubspot_id
        found.state = "verified"
        found.save()
    return first, second


@pytest.fixture
def signalled():
    calls = []

    def listener(sender, item_ids, event_ids, **kwargs):
        calls.append((sorted(item_ids), sorted(event_ids)))

    records_changed.connect(listener, sender=WebhookEvent)
    yield calls
    records_changed.disconnect(listener, sender=WebhookEvent)


def stored(*events) -> list[int]:
    bodies = [
        {
            "eventId": n,
            "portalId": 1234567,
            "appId": 1837263,
            "occurredAt": 1788597072520 + n,
            "attemptNumber": 0,
            "changeSource": "CRM_UI",
            "sourceId": "userId:1",
        }
        | e
        for n, e in enumerate(events)
    ]
    return webhooks.store(bodies)


def change(object_id, name="amount", kind="deal", **extra):
    return {
        "subscriptionType": f"{kind}.propertyChange",
        "objectId": object_id,
        "propertyName": name,
        "propertyValue": "0",
    } | extra


def test_one_recheck_for_a_batch_and_a_second_run_does_nothing(orders, signalled):
    first, second = orders
    ids = stored(change(501), change(521, "quantity", "line_item"), change(501))

    assert webhooks.process_events(ids) == {"processed": 3, "ignored": 0, "failed": 0}
    assert webhooks.process_events(ids) == {"processed": 0, "ignored": 0, "failed": 0}

    expected_items = sorted([item("shop:1001").pk, item("shop:1002:1").pk])
    assert signalled == [(expected_items, ids)]
    (sweep,) = Sweep.objects.all()
    assert (sweep.trigger, sweep.scope) == (
        "webhook",
        {"orders": sorted([first.pk, second.pk])},
    )
    assert set(WebhookEvent.objects.values_list("state", flat=True)) == {
        WebhookEvent.State.PROCESSED
    }


@pytest.mark.parametrize(
    ("event", "why"),
    [
        (change(999), "No item of Tally's has this HubSpot ID."),
        (change(501, "hs_next_step"), "hs_next_step is not a property Tally syncs."),
        (
            change(501, changeSource="INTEGRATION", sourceId="1837263"),
            "Tally's own write, echoed by HubSpot.",
        ),
        (
            {"subscriptionType": "contact.propertyChange", "objectId": 501},
            "Not a deal or a line item.",
        ),
        (
            {"subscriptionType": "deal.creation", "objectId": 501},
            "Tally does not act on creation events.",
        ),
    ],
    ids=["unknown record", "unsynced property", "own write", "contact", "creation"],
)
def test_events_tally_has_no_use_for_are_kept_and_ignored(
    orders, signalled, event, why
):
    ids = stored(event)

    assert webhooks.process_events(ids) == {"processed": 0, "ignored": 1, "failed": 0}

    assert list(WebhookEvent.objects.values_list("state", "detail")) == [
        (WebhookEvent.State.IGNORED, why)
    ]
    assert signalled == []
    assert not Sweep.objects.exists()


def test_generic_subscriptions_deletions_and_association_changes_are_checked(
    orders, signalled
):
    ids = stored(
        {
            "subscriptionType": "object.propertyChange",
            "objectTypeId": "0-8",
            "objectId": 511,
            "propertyName": "price",
            "propertyValue": "1",
        },
        {"subscriptionType": "deal.deletion", "objectId": 502},
        {
            "subscriptionType": "line_item.associationChange",
            "objectId": 512,
            "associationType": "LINE_ITEM_TO_DEAL",
            "fromObjectId": 512,
            "toObjectId": 501,
            "associationRemoved": True,
        },
        {"subscriptionType": "line_item.restore", "objectId": 521},
    )

    assert webhooks.process_events(ids) == {"processed": 4, "ignored": 0, "failed": 0}

    keys = ["shop:1001:1", "shop:1002", "shop:1001:2", "shop:1001", "shop:1002:1"]
    assert signalled == [(sorted(item(k).pk for k in keys), ids)]


def test_a_merge_re_points_the_primarys_item_and_flags_the_other(orders, signalled):
    """Two of Tally's deals merged: one record cannot carry two store keys."""
    ids = stored(
        {
            "subscriptionType": "deal.merge",
            "objectId": 503,
            "primaryObjectId": 501,
            "mergedObjectIds": [502],
            "newObjectId": 503,
            "numberOfPropertiesMoved": 4,
        }
    )

    webhooks.process_events(ids)
    webhooks.process_events(ids)

    primary, absorbed = item("shop:1001"), item("shop:1002")
    assert (primary.hubspot_id, primary.state) == ("503", "verified")
    assert (absorbed.hubspot_id, absorbed.state, absorbed.reason_code) == (
        "502",
        "not_found",
        "RECORD_MERGED",
    )
    outcomes = ItemOutcome.objects.filter(detail__source="webhook").order_by("pk")
    assert [(o.item.key, o.outcome, o.detail["merged_into"]) for o in outcomes] == [
        ("shop:1001", "updated", "503"),
        ("shop:1002", "not_found", "503"),
    ]


def test_a_merge_into_another_items_record_flags_the_absorbed_item(orders):
    ids = stored(
        {
            "subscriptionType": "deal.merge",
            "objectId": 501,
            "primaryObjectId": 501,
            "mergedObjectIds": [502],
            "numberOfPropertiesMoved": 2,
        }
    )

    webhooks.process_events(ids)

    assert item("shop:1001").hubspot_id == "501"
    absorbed = item("shop:1002")
    assert (absorbed.state, absorbed.reason_code) == ("not_found", "RECORD_MERGED")
    assert absorbed.reason.startswith(
        "Someone merged the record into HubSpot record 501"
    )


def test_a_line_merged_away_is_no_longer_shown_linked(orders):
    SyncItem.objects.filter(object_type="line_items").update(
        association=Association.LINKED, associated_to="501"
    )
    ids = stored(
        {
            "subscriptionType": "line_item.merge",
            "objectId": 512,
            "primaryObjectId": 512,
            "mergedObjectIds": [511],
            "numberOfPropertiesMoved": 1,
        }
    )

    webhooks.process_events(ids)

    absorbed, survivor = item("shop:1001:1"), item("shop:1001:2")
    assert (absorbed.state, absorbed.association) == ("not_found", "pending")
    assert (survivor.state, survivor.association) == ("verified", "linked")


def test_a_failure_marks_the_events_failed_with_their_next_try(orders, monkeypatch):
    ids = stored(change(501))

    def broken(event, held):
        raise RuntimeError("database went away")

    monkeypatch.setattr(webhooks, "_act", broken)
    assert webhooks.process_events(ids) == {"processed": 0, "ignored": 0, "failed": 1}

    failed = WebhookEvent.objects.get()
    assert (failed.state, failed.tries) == (WebhookEvent.State.FAILED, 1)
    assert failed.detail == (
        "RuntimeError: database went away (try 1 of 5; next try in about 1 min)"
    )
    assert failed.next_try - failed.processed_at == timedelta(minutes=1)
    assert not ItemOutcome.objects.exists()


def test_the_statements_do_not_grow_with_the_events(orders):
    """One read of the items for a task's events, not one per event."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def statements(count: int, first: int) -> int:
        events = [
            change(501 + (n % 2), propertyValue=str(first + n), eventId=first + n)
            for n in range(count)
        ]
        ids = stored(*events)
        with CaptureQueriesContext(connection) as captured:
            result = webhooks.process_events(ids)
        assert result == {"processed": count, "ignored": 0, "failed": 0}
        return len(captured)

    assert statements(10, 0) == statements(99, 1000)


def test_one_event_that_fails_fails_alone(orders, signalled, monkeypatch):
    ids = stored(change(501), change(502, propertyValue="9"))
    real = webhooks._act

    def breaks_on_502(event, held):
        if event.object_id == "502":
            raise ValueError("bad event")
        return real(event, held)

    monkeypatch.setattr(webhooks, "_act", breaks_on_502)

    assert webhooks.process_events(ids) == {"processed": 1, "ignored": 0, "failed": 1}
    states = dict(WebhookEvent.objects.values_list("object_id", "state"))
    assert states == {
        "501": WebhookEvent.State.PROCESSED,
        "502": WebhookEvent.State.FAILED,
    }
    failed = WebhookEvent.objects.get(object_id="502")
    assert (failed.tries, failed.detail) == (
        1,
        "ValueError: bad event (try 1 of 5; next try in about 1 min)",
    )
    assert signalled == [([item("shop:1001").pk], [ids[0]])]
    assert WebhookEvent.objects.get(object_id="501").detail.startswith(
        "Re-check: sweep "
    )


def test_a_merge_naming_one_merged_id_outside_a_list_is_taken(orders):
    ids = stored(
        {
            "subscriptionType": "deal.merge",
            "objectId": 501,
            "primaryObjectId": 501,
            "mergedObjectIds": 502,
            "newObjectId": 501,
        }
    )

    assert webhooks.process_events(ids)["processed"] == 1
    absorbed = item("shop:1002")
    assert (absorbed.state, absorbed.reason_code) == ("not_found", "RECORD_MERGED")
