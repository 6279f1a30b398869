"""End to end: the sandbox delivers webhooks to a live Tally, which re-checks at once.

The sandbox posts signed batches to the live server from its own thread;
with django-q in sync mode the receiver's task and the targeted sweep run in
the live server's request, so the change is on the item when the sandbox's
delivery has been answered (``flush`` waits for that, with a deadline).
"""

import pytest
from django_q.conf import Conf

from hubspot_sync import engine, reasons
from hubspot_sync.models import ItemOutcome, ItemState, Outcome, SyncItem, WebhookEvent
from hubspot_sync.sandbox.clock import iso
from hubspot_sync.sandbox.remote import SandboxControl
from reconcile.models import Sweep
from tests.factories import item, make_staged_order, make_store

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "e2e-client-secret"


@pytest.fixture
def synced(hubspot, live_server, settings, monkeypatch):
    """Orders 1001 (two lines) and 1002 synced, then the sandbox delivering to Tally."""
    monkeypatch.setattr(Conf, "SYNC", True)
    settings.HUBSPOT_CLIENT_SECRET = SECRET
    settings.TALLY_PUBLIC_URL = ""
    store = make_store()
    make_staged_order(store, "1001", lines=2)
    make_staged_order(store, "1002", lines=1)
    engine.run_inline(engine.create_run().pk)
    assert set(item(k).state for k in ("shop:1001", "shop:1001:1", "shop:1002")) == {
        ItemState.VERIFIED
    }
    hubspot.app.webhooks.configure(f"{live_server.url}/hubspot/webhooks/", SECRET)
    return hubspot


def control(hubspot) -> SandboxControl:
    return SandboxControl(hubspot.url, "sandbox-token")


def delivered(hubspot) -> None:
    assert hubspot.app.webhooks.flush(timeout=30)
    assert hubspot.app.webhooks.describe()["failed"] == 0


def test_an_edit_in_hubspot_becomes_a_mismatch_with_its_time_and_source(synced):
    line = item("shop:1001:2")
    stored_quantity = line.properties["quantity"]

    control(synced).edit("line_items", line.hubspot_id, {"quantity": "7"}, 5550001)
    delivered(synced)

    event = WebhookEvent.objects.get(property_name="quantity")
    assert (
        event.subscription_type,
        event.object_type,
        event.object_id,
        event.property_value,
        event.change_source,
        event.state,
    ) == (
        "line_item.propertyChange",
        "line_items",
        line.hubspot_id,
        "7",
        "CRM_UI",
        WebhookEvent.State.PROCESSED,
    )
    line = item("shop:1001:2")
    assert (line.state, line.reason_code) == (ItemState.MISMATCH, reasons.MISMATCH.code)
    outcome = line.outcomes.filter(outcome=Outcome.MISMATCH).get()
    changed_at = iso(int(event.occurred_at.timestamp() * 1000))
    assert outcome.detail["mismatches"] == {
        "quantity": {
            "store": stored_quantity,
            "hubspot": "7",
            "changed_at": changed_at,
            "source": "CRM_UI",
            "source_id": "userId:5550001",
            "user_id": 5550001,
        }
    }
    # One targeted re-check of that order, no full sweep.
    (sweep,) = Sweep.objects.all()
    assert (sweep.trigger, sweep.scope, sweep.state) == (
        "webhook",
        {"orders": [line.line_item.order_id]},
        Sweep.State.DONE,
    )
    assert event.detail == f"Re-check: sweep {sweep.pk}"
    assert item("shop:1001").state == ItemState.VERIFIED
    assert item("shop:1002").state == ItemState.VERIFIED


def test_two_of_tallys_records_merged_in_hubspot_flag_the_absorbed_one(synced):
    """One record cannot carry two store keys: the merged-away item is flagged."""
    kept, merged = item("shop:1001"), item("shop:1002")
    old_id = merged.hubspot_id

    control(synced)._post(
        "/_sandbox/merge/deals",
        {"primary": kept.hubspot_id, "merged": merged.hubspot_id},
    )
    delivered(synced)

    kept, merged = item("shop:1001"), item("shop:1002")
    assert (merged.hubspot_id, merged.state, merged.reason_code) == (
        old_id,
        "not_found",
        "RECORD_MERGED",
    )
    assert kept.state == "verified"
    flagged = ItemOutcome.objects.get(item=merged, detail__source="webhook")
    event = WebhookEvent.objects.get(subscription_type="deal.merge")
    assert flagged.outcome == Outcome.NOT_FOUND
    assert flagged.detail == {
        "source": "webhook",
        "hubspot_id": old_id,
        "merged_into": kept.hubspot_id,
        "event": event.pk,
        "changed_at": event.payload["occurredAt"],
        "change_source": "CRM_UI",
    }
    (sweep,) = Sweep.objects.all()
    assert sorted(sweep.scope["orders"]) == sorted([kept.order.pk, merged.order.pk])


def test_a_deletion_in_hubspot_makes_the_item_not_found(synced):
    line = item("shop:1002:1")

    control(synced).archive("line_items", line.hubspot_id)
    delivered(synced)

    line = item("shop:1002:1")
    assert (line.state, line.reason_code) == (
        ItemState.NOT_FOUND,
        reasons.RECORD_ARCHIVED.code,
    )
    assert WebhookEvent.objects.get().state == WebhookEvent.State.PROCESSED


def test_a_record_restored_in_hubspot_is_verified_again_and_relinked(synced):
    line = item("shop:1002:1")
    control(synced).archive("line_items", line.hubspot_id)
    delivered(synced)
    assert item("shop:1002:1").state == ItemState.NOT_FOUND

    control(synced).restore("line_items", line.hubspot_id)
    delivered(synced)

    restored = item("shop:1002:1")
    assert (restored.state, restored.hubspot_id, restored.reason_code) == (
        ItemState.VERIFIED,
        line.hubspot_id,
        "",
    )
    assert list(
        WebhookEvent.objects.order_by("pk").values_list("subscription_type", "state")
    ) == [
        ("line_item.deletion", WebhookEvent.State.PROCESSED),
        ("line_item.restore", WebhookEvent.State.PROCESSED),
    ]
    assert [o.outcome for o in restored.outcomes.order_by("pk")][-2:] == [
        Outcome.NOT_FOUND,
        Outcome.VERIFIED,
    ]
    # Two targeted re-checks of order 1002, no full sweep.
    assert list(Sweep.objects.values_list("trigger", flat=True)) == [
        "webhook",
        "webhook",
    ]
    # Its link came back with it: the next sync links nothing, calls nothing new.
    run = engine.run_inline(engine.create_run().pk)
    assert run.items_total == 0
    assert item("shop:1002:1").association == "linked"


def test_a_link_removed_in_hubspot_shows_as_an_order_problem_then_a_sync_relinks(
    synced,
):
    from reconcile.models import OrderProblem
    from reconcile.sweep import create_sweep, run_sweep

    line, deal = item("shop:1001:2"), item("shop:1001")
    control(synced).unlink("line_items", line.hubspot_id, "deals", deal.hubspot_id)
    delivered(synced)

    events = WebhookEvent.objects.order_by("pk")
    assert [(e.subscription_type, e.payload["associationRemoved"]) for e in events] == [
        ("line_item.associationChange", True),
        ("deal.associationChange", True),
    ]
    assert {e.state for e in events} == {WebhookEvent.State.PROCESSED}
    problems = OrderProblem.objects.filter(order__number="1001")
    assert sorted(problems.values_list("code", "store_value", "hubspot_value")) == [
        ("AMOUNT_SUM", "30.6", "deal 30.6, lines 15.3"),
        ("LINE_COUNT", "2", "1"),
        (
            "LINE_NOT_ASSOCIATED",
            "shop:1001:2",
            f"line item {line.hubspot_id} not on deal {deal.hubspot_id}",
        ),
    ]
    # A person decides, as for any change made in HubSpot: the order's next
    # step is a resync, which links the line again.
    order = line.line_item.order
    engine.mark_pending(SyncItem.objects.filter(order=order), relink=True)
    engine.mark_pending(SyncItem.objects.filter(line_item__order=order), relink=True)
    engine.run_inline(engine.create_run().pk)
    linked = synced.store.links_from([deal.hubspot_id], "line_items")[deal.hubspot_id]
    assert line.hubspot_id in {link.to_id for link in linked}
    sweep = create_sweep(trigger="test", orders=[order.pk])
    run_sweep(sweep.pk)
    assert not OrderProblem.objects.filter(order=order).exists()


def test_a_record_tally_does_not_know_is_stored_and_ignored(synced):
    control(synced).plant("deals", {"dealname": "Made by hand"})
    delivered(synced)

    event = WebhookEvent.objects.get()
    assert (event.subscription_type, event.state, event.detail) == (
        "deal.creation",
        WebhookEvent.State.IGNORED,
        "Tally does not act on creation events.",
    )
    assert not Sweep.objects.exists()


def test_the_token_typed_into_hubspot_is_kept_nowhere(synced, settings):
    """QA's case: someone pastes the access token into a deal's name."""
    from django.db.models import Q

    token = settings.HUBSPOT_ACCESS_TOKEN
    deal = item("shop:1001")
    assert "dealname" in deal.properties  # synced: the edit becomes a mismatch

    control(synced).edit("deals", deal.hubspot_id, {"dealname": f"leak {token} here"})
    delivered(synced)

    event = WebhookEvent.objects.get(property_name="dealname")
    assert event.property_value == "leak [redacted] here"
    assert event.payload["propertyValue"] == "leak [redacted] here"
    mismatch = item("shop:1001").outcomes.filter(outcome=Outcome.MISMATCH).get()
    assert mismatch.detail["mismatches"]["dealname"]["hubspot"] == (
        "leak [redacted] here"
    )
    assert not ItemOutcome.objects.filter(detail__icontains=token).exists()
    assert not WebhookEvent.objects.filter(
        Q(payload__icontains=token) | Q(property_value__contains=token)
    ).exists()
