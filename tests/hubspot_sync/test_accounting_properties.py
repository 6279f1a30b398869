"""Property-based: whatever HubSpot's quirks do, every input ends accounted for."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.cache import cache
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubspot_sync import engine
from hubspot_sync.client import HubSpotClient
from hubspot_sync.models import ApiCall, Association, ItemState, SyncItem, SyncRun
from hubspot_sync.setup import ensure_properties_once
from reconcile.mapping import stage
from reconcile.models import LineItem, Order, Store

pytestmark = pytest.mark.django_db

SETTLED = {
    ItemState.VERIFIED,
    ItemState.MISMATCH,
    ItemState.FAILED,
    ItemState.UNREPORTED_SKIP,
    ItemState.TRANSIENT,
    ItemState.UNKNOWN,
}
QUIRKS = [
    "drop_result",
    "reject_whole_batch",
    "html_5xx",
    "connection_reset",
    "timeout_after_write",
    "association_empty",
]

orders_strategy = st.lists(
    st.lists(st.sampled_from(["2.55", "0", "-1.00", "19.99"]), min_size=1, max_size=40),
    min_size=1,
    max_size=6,
)
quirks_strategy = st.dictionaries(
    st.sampled_from(QUIRKS), st.sampled_from([0.05, 0.2, 0.5]), max_size=3
)


def _make(orders: list[list[str]]) -> None:
    store = Store.objects.create(name="Property store", slug="prop")
    for n, prices in enumerate(orders):
        order = Order.objects.create(
            store=store,
            number=str(600000 + n),
            placed_at=datetime(2011, 1, 4, 10, 0, tzinfo=UTC),
            currency="GBP",
        )
        LineItem.objects.bulk_create(
            LineItem(
                order=order,
                position=p,
                sku=f"SKU{p}",
                description="Mug",
                quantity=2,
                unit_price=Decimal(price),
            )
            for p, price in enumerate(prices, start=1)
        )
    stage(Order.objects.filter(store=store))


def _clean(hubspot) -> None:
    Store.objects.all().delete()
    SyncItem.objects.all().delete()
    SyncRun.objects.all().delete()
    ApiCall.objects.all().delete()
    hubspot.configure(quirks={})
    hubspot.reset()
    cache.clear()
    ensure_properties_once(HubSpotClient())


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(orders=orders_strategy, quirks=quirks_strategy, seed=st.integers(0, 1000))
def test_every_input_ends_with_one_settled_state_and_one_record_per_key(
    hubspot, settings, orders, quirks, seed
):
    # Short waits, so that a held answer times out and retries stay cheap.
    settings.HUBSPOT_TIMEOUT = 1
    settings.HUBSPOT_MAX_ATTEMPTS = 2
    _clean(hubspot)
    _make(orders)
    hubspot.configure(quirks=quirks, seed=seed, hold_seconds=1.5)

    run = engine.run_inline(engine.create_run().pk)

    assert run.state == SyncRun.State.DONE, run.error
    items = list(SyncItem.objects.all())
    assert len(items) == sum(len(lines) for lines in orders) + len(orders)
    for item in items:
        assert item.state in SETTLED, (item.key, item.state)
        assert item.outcomes.exists(), item.key
        if item.state != ItemState.VERIFIED:
            assert item.reason and item.next_step, item.key
        if item.object_type == "line_items" and item.state == ItemState.VERIFIED:
            assert item.association in (Association.LINKED, Association.FAILED)
            if item.association == Association.FAILED:
                assert item.reason_code, item.key
    for object_type, key_property in (
        ("deals", "tally_order_key"),
        ("line_items", "tally_line_key"),
    ):
        keys = [r.properties.get(key_property) for r in hubspot.store.all(object_type)]
        assert len(keys) == len(set(keys)), "two HubSpot records share a store key"
    for item in SyncItem.objects.filter(state=ItemState.VERIFIED):
        record = hubspot.store.get(item.object_type, item.hubspot_id)
        assert (
            record is not None
            and record.properties[
                "tally_line_key"
                if item.object_type == "line_items"
                else "tally_order_key"
            ]
            == item.key
        )
