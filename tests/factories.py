"""Small ``make_*`` helpers for store and sync data; no fixtures files."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hubspot_sync.models import (
    ApiCall,
    Association,
    ItemOutcome,
    ItemState,
    SyncBatch,
    SyncItem,
    SyncRun,
)
from reconcile.mapping import stage
from reconcile.models import LineItem, Order, Store

PLACED = datetime(2010, 12, 1, 8, 26, tzinfo=UTC)


def make_store(slug: str = "shop", name: str = "Test shop") -> Store:
    return Store.objects.create(name=name, slug=slug)


def make_order(
    store: Store,
    number: str,
    lines: int = 2,
    kind: str = Order.Kind.SALE,
    placed_at: datetime = PLACED,
) -> Order:
    """An order with ``lines`` lines (SKU ``SKU<n>``, 6 × 2.55), not staged."""
    order = Order.objects.create(
        store=store,
        number=number,
        kind=kind,
        customer_id="17850",
        country="United Kingdom",
        placed_at=placed_at,
        currency="GBP",
    )
    LineItem.objects.bulk_create(
        LineItem(
            order=order,
            position=position,
            sku=f"SKU{position}",
            description=f"Item {position}",
            quantity=-6 if kind == Order.Kind.CREDIT_NOTE else 6,
            unit_price=Decimal("2.55"),
        )
        for position in range(1, lines + 1)
    )
    return order


def make_staged_order(store: Store, number: str, **kwargs) -> Order:
    """An order whose deal and line SyncItems exist, as the importer leaves them."""
    order = make_order(store, number, **kwargs)
    stage(Order.objects.filter(pk=order.pk))
    order.refresh_from_db()
    return order


def item(key: str) -> SyncItem:
    return SyncItem.objects.get(key=key)


def set_state(key: str, state: str, **fields) -> SyncItem:
    """Move the item with this store key to ``state`` (and any other fields)."""
    SyncItem.objects.filter(key=key).update(state=state, **fields)
    return item(key)


def make_run(state: str = SyncRun.State.DONE, **fields) -> SyncRun:
    started = fields.pop("started", PLACED)
    finished = fields.pop(
        "finished",
        started + timedelta(seconds=83) if state == SyncRun.State.DONE else None,
    )
    return SyncRun.objects.create(
        state=state, started=started, finished=finished, **fields
    )


def make_batch(
    run: SyncRun, kind: str = SyncBatch.Kind.LINE_ITEM_UPSERT, items=(), **fields
) -> SyncBatch:
    return SyncBatch.objects.create(
        run=run, kind=kind, item_ids=[i.pk for i in items], **fields
    )


def make_call(run: SyncRun, batch: SyncBatch | None = None, **fields) -> ApiCall:
    values = {
        "method": "POST",
        "endpoint": "/crm/v3/objects/line_items/batch/upsert",
        "status": 200,
        "duration_ms": 120,
        "correlation_id": "3c5f0d4e-0b1a-4c43-9f0c-1a2b3c4d5e6f",
        "rate_limit": {"max": 100, "remaining": 97, "daily_remaining": 249000},
        "request_body": '{"inputs": []}',
        "response_body": '{"status": "COMPLETE", "results": []}',
    }
    return ApiCall.objects.create(run=run, batch=batch, **{**values, **fields})


def make_outcome(
    sync_item: SyncItem, outcome: str, call: ApiCall | None = None, **detail
) -> ItemOutcome:
    return ItemOutcome.objects.create(
        item=sync_item,
        run=call.run if call else None,
        batch=call.batch if call else None,
        api_call=call,
        outcome=outcome,
        detail=detail,
    )


def make_shop() -> Store:
    """Four orders in every interesting state; the tests count on exactly this.

    ====== ================ ================ =====================================
    order  kind             deal             lines
    ====== ================ ================ =====================================
    1001   sale             verified (9001)  1 verified, 2 mismatch (both linked),
                                             3 failed
    1002   sale             unreported skip  1 unreported skip, 2 pending
    1003   stock adjustment excluded         1 excluded
    C1004  credit note      pending          1 pending
    ====== ================ ================ =====================================
    """
    store = make_store()
    make_staged_order(store, "1001", lines=3)
    make_staged_order(store, "1002", lines=2)
    make_staged_order(store, "1003", lines=1, kind=Order.Kind.STOCK_ADJUSTMENT)
    make_staged_order(store, "C1004", lines=1, kind=Order.Kind.CREDIT_NOTE)

    set_state("shop:1001", ItemState.VERIFIED, hubspot_id="9001")
    set_state(
        "shop:1001:1",
        ItemState.VERIFIED,
        hubspot_id="7001",
        association=Association.LINKED,
    )
    set_state(
        "shop:1001:2",
        ItemState.MISMATCH,
        hubspot_id="7002",
        association=Association.LINKED,
        reason_code="MISMATCH",
    )
    set_state(
        "shop:1001:3",
        ItemState.FAILED,
        reason_code="INVALID_OPTION",
        reason="A value is not one of the options the HubSpot property allows.",
    )
    set_state("shop:1002", ItemState.UNREPORTED_SKIP, reason_code="UNREPORTED_SKIP")
    set_state("shop:1002:1", ItemState.UNREPORTED_SKIP, reason_code="UNREPORTED_SKIP")
    return store


def audit_fields(entry) -> dict:
    """An audit entry's fields as a dict, to compare whole."""
    return {
        name: getattr(entry, name)
        for name in (
            "user",
            "username",
            "action",
            "target",
            "parameters",
            "preview",
            "status",
            "result",
            "run_id",
            "sweep_id",
        )
    }
