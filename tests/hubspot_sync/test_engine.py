import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import requests

from hubspot_sync import engine
from hubspot_sync.models import (
    ApiCall,
    Association,
    ItemOutcome,
    ItemState,
    ObjectType,
    SyncItem,
    SyncRun,
)
from reconcile.mapping import stage
from reconcile.models import LineItem, Order, Store

pytestmark = pytest.mark.django_db


def make_orders(count: int, lines_each: int, price: str = "2.55") -> Store:
    store = Store.objects.create(name="Test store", slug="test")
    for n in range(count):
        order = Order.objects.create(
            store=store,
            number=str(536365 + n),
            customer_id="17850",
            country="United Kingdom",
            placed_at=datetime(2010, 12, 1, 8, 26, tzinfo=UTC),
            currency="GBP",
        )
        LineItem.objects.bulk_create(
            LineItem(
                order=order,
                position=p,
                sku=f"8512{p}A",
                description="WHITE HANGING HEART T-LIGHT HOLDER",
                quantity=6,
                unit_price=Decimal(price),
            )
            for p in range(1, lines_each + 1)
        )
    stage(Order.objects.filter(store=store))
    return store


def run_sync() -> SyncRun:
    return engine.run_inline(engine.create_run().pk)


def states(object_type: str) -> dict[str, int]:
    items = SyncItem.objects.filter(object_type=object_type)
    return {
        s: items.filter(state=s).count()
        for s in set(items.values_list("state", flat=True))
    }


def test_it_verifies_and_links_every_deal_and_line_item(hubspot):
    make_orders(count=3, lines_each=40)

    run = run_sync()

    assert run.state == SyncRun.State.DONE
    assert states(ObjectType.DEAL) == {"verified": 3}
    assert states(ObjectType.LINE_ITEM) == {"verified": 120}
    assert set(
        SyncItem.objects.filter(object_type="line_items").values_list(
            "association", flat=True
        )
    ) == {Association.LINKED}
    assert run.summary == {"verified": 123, "associated": 120}
    assert hubspot.store.count("line_items") == 120
    assert hubspot.store.count("deals") == 3


def test_it_links_each_line_item_to_its_own_deal(hubspot):
    make_orders(count=2, lines_each=3)

    run_sync()

    for line in LineItem.objects.select_related("sync_item", "order__sync_item"):
        assert line.sync_item.associated_to == line.order.sync_item.hubspot_id


def test_it_sends_nothing_again_when_nothing_changed(hubspot):
    make_orders(count=2, lines_each=5)
    run_sync()
    last_call = ApiCall.objects.latest("pk").pk

    second = run_sync()

    assert second.items_total == 0
    assert second.summary == {}
    upserts = ApiCall.objects.filter(pk__gt=last_call, endpoint__contains="batch")
    assert upserts.count() == 0
    assert hubspot.store.count("line_items") == 10


def test_it_resends_only_the_changed_line(hubspot):
    make_orders(count=1, lines_each=4)
    run_sync()
    line = LineItem.objects.get(position=2)
    line.quantity = 7
    line.save()
    stage(Order.objects.all())

    second = run_sync()

    assert second.items_total == 2  # the line and its deal's amount
    assert hubspot.store.count("line_items") == 4
    assert SyncItem.objects.get(pk=line.sync_item_id).state == ItemState.VERIFIED


def test_it_stores_every_call_without_the_token(hubspot):
    make_orders(count=1, lines_each=2)

    run = run_sync()

    calls = ApiCall.objects.filter(run=run)
    assert calls.filter(endpoint="/crm/v3/objects/line_items/batch/upsert").count() == 1
    upsert = calls.get(endpoint="/crm/v3/objects/line_items/batch/upsert")
    assert upsert.status == 200
    assert upsert.correlation_id
    assert upsert.rate_limit["max"] == 190
    assert upsert.rate_limit["interval_ms"] == 10000
    assert (
        json.loads(upsert.request_body)["inputs"][0]["idProperty"] == "tally_line_key"
    )
    for call in calls:
        assert "sandbox-token" not in call.request_body + call.response_body


def _left_out_of(run) -> set[str]:
    left_out = set()
    for upsert in ApiCall.objects.filter(run=run, endpoint__endswith="/batch/upsert"):
        sent = {i["id"] for i in json.loads(upsert.request_body)["inputs"]}
        echoed = {
            r["properties"].get("tally_line_key") or r["properties"]["tally_order_key"]
            for r in json.loads(upsert.response_body)["results"]
        }
        left_out |= sent - echoed
    return left_out


def test_it_reads_back_inputs_hubspot_leaves_out_and_verifies_them(hubspot):
    make_orders(count=2, lines_each=50)
    hubspot.configure(quirks={"drop_result": 0.05})

    run = run_sync()

    left_out = _left_out_of(run)
    assert left_out  # the quirk dropped at least one
    assert SyncItem.objects.filter(state=ItemState.VERIFIED).count() == 102
    for item in SyncItem.objects.filter(key__in=left_out):
        history = [o for o in item.outcomes.all() if not o.detail.get("association")]
        assert [o.outcome for o in history] == ["unreported_skip", "verified"]
        assert history[0].api_call.endpoint.endswith("/batch/upsert")
        assert history[1].api_call.endpoint.endswith("/batch/read")
        assert history[1].detail["settled_by"] == "read"
        assert item.hubspot_id
    assert run.summary["unreported_skip"] == len(left_out)


def test_it_fails_only_the_bad_input_and_keeps_hubspots_words(hubspot):
    store = make_orders(count=1, lines_each=5)
    line = LineItem.objects.get(order__store=store, position=3)
    line.unit_price = Decimal("-1.50")
    line.save()
    stage(Order.objects.all())

    run_sync()

    failed = SyncItem.objects.get(state=ItemState.FAILED)
    assert failed.key == "test:536365:3"
    detail = failed.outcomes.get().detail
    assert detail["category"] == "VALIDATION_ERROR"
    assert "negative" in failed.reason
    assert failed.next_step.startswith("Fix the order in the store")
    assert states(ObjectType.LINE_ITEM) == {"verified": 4, "failed": 1}


def test_it_leaves_items_pending_and_says_why_when_hubspot_is_unreachable(
    hubspot, settings
):
    make_orders(count=1, lines_each=2)
    hubspot.stop()

    run = run_sync()

    assert run.state == SyncRun.State.FAILED
    assert "connection refused" in run.error
    assert states(ObjectType.LINE_ITEM) == {"pending": 2}


def test_it_keeps_one_outcome_per_item_and_send(hubspot):
    make_orders(count=1, lines_each=3)

    run = run_sync()

    per_item = ItemOutcome.objects.filter(run=run).values_list("item_id", "outcome")
    assert sorted(o for _, o in per_item) == ["associated"] * 3 + ["verified"] * 4


def test_it_relinks_lines_when_their_deal_was_deleted_in_hubspot(hubspot):
    make_orders(count=1, lines_each=2)
    run_sync()
    deal = SyncItem.objects.get(object_type="deals")
    old_id = deal.hubspot_id
    archived = requests.post(
        f"{hubspot.url}/_sandbox/archive/deals/{old_id}",
        headers={"Authorization": "Bearer sandbox-token"},
        timeout=10,
    )
    assert archived.status_code == 200
    line = LineItem.objects.get(position=1)
    line.quantity = 9
    line.save()
    stage(Order.objects.all())

    run_sync()

    deal.refresh_from_db()
    assert deal.hubspot_id != old_id
    assert deal.outcomes.last().detail["previous_hubspot_id"] == old_id
    lines = SyncItem.objects.filter(object_type="line_items")
    assert set(lines.values_list("associated_to", flat=True)) == {deal.hubspot_id}
    linked = hubspot.store.links_from([deal.hubspot_id], "line_items")[deal.hubspot_id]
    assert len(linked) == 2
