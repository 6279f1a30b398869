"""How store orders and line items become HubSpot deals and line items.

``stage`` writes what each order and line should look like in HubSpot into
its ``SyncItem``; the sync engine in ``hubspot_sync`` only ever reads those.

Returns and refunds: HubSpot refuses negative prices, so a credit note (an
invoice number starting with C) becomes a deal whose ``tally_order_kind`` is
``credit_note`` and whose line items carry the returned quantity as a
positive number. The deal's own amount keeps the sign (negative), so that
HubSpot's revenue reports net credit notes off instead of counting them as
sales; its line items then add up to the amount's absolute value. A negative
unit price on a sale is sent as it is and comes back as a visible failure,
since Tally cannot guess what it meant.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Prefetch
from django.utils import timezone

from hubspot_sync.models import Association, ItemState, ObjectType, SyncItem
from hubspot_sync.properties import FINGERPRINT_PROPERTY, STORE_KEY_PROPERTY
from reconcile.models import LineItem, Order

DEAL_PIPELINE = "default"
DEAL_STAGE = "closedwon"
STAGE_CHUNK = 500


def _number(value: Decimal | int) -> str:
    value = Decimal(value)
    return format(value.normalize(), "f") if value else "0"


def line_properties(line: LineItem) -> dict[str, str]:
    order = line.order
    quantity = line.quantity
    if order.kind == Order.Kind.CREDIT_NOTE:
        quantity = abs(quantity)
    return {
        "tally_line_key": line.store_key,
        "name": line.description or f"SKU {line.sku}",
        "hs_sku": line.sku,
        "quantity": _number(quantity),
        "price": _number(line.unit_price),
        "hs_line_item_currency_code": order.currency,
        "hs_position_on_quote": str(line.position),
        "tally_line_kind": line.kind,
    }


def deal_properties(order: Order, lines: list[LineItem]) -> dict[str, str]:
    total = sum((line.quantity * line.unit_price for line in lines), Decimal(0))
    if order.kind == Order.Kind.CREDIT_NOTE:
        name = f"Credit note {order.number}"
    else:
        name = f"Order {order.number}"
    return {
        "tally_order_key": order.store_key,
        "dealname": name,
        "amount": _number(total),
        # isoformat, not strftime: %Y drops the leading zeros of a year below 1000.
        "closedate": order.placed_at.astimezone(UTC)
        .isoformat(timespec="seconds")
        .replace("+00:00", ".000Z"),
        "pipeline": DEAL_PIPELINE,
        "dealstage": DEAL_STAGE,
        "deal_currency_code": order.currency,
        "tally_order_kind": order.kind,
        "tally_customer_id": order.customer_id,
        "tally_country": order.country,
    }


def fingerprint(properties: dict[str, str]) -> str:
    text = json.dumps(properties, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class StageResult:
    created: int = 0
    changed: int = 0
    unchanged: int = 0

    def add(self, other: "StageResult") -> None:
        self.created += other.created
        self.changed += other.changed
        self.unchanged += other.unchanged


def stage(orders) -> StageResult:
    """Create or refresh the SyncItem of every given order and its lines.

    An item whose desired properties changed goes back to ``pending``; an
    unchanged one keeps its state and history.
    """
    result = StageResult()
    order_ids = list(orders.values_list("pk", flat=True))
    for start in range(0, len(order_ids), STAGE_CHUNK):
        chunk = order_ids[start : start + STAGE_CHUNK]
        with transaction.atomic():
            result.add(_stage_chunk(chunk))
    return result


def _stage_chunk(order_ids: list[int]) -> StageResult:
    orders = (
        Order.objects.filter(pk__in=order_ids)
        .select_related("store", "sync_item")
        # A join, not a second prefetch: prefetching sync_item built an OR
        # term per line, past SQLite's expression depth for big re-imports.
        .prefetch_related(
            Prefetch("lines", queryset=LineItem.objects.select_related("sync_item"))
        )
    )
    wanted: list[tuple[object, SyncItem]] = []
    for order in orders:
        lines = list(order.lines.all())
        excluded = order.kind == Order.Kind.STOCK_ADJUSTMENT
        deal = _desired_item(ObjectType.DEAL, deal_properties(order, lines), "")
        wanted.append((order, deal))
        for line in lines:
            item = _desired_item(
                ObjectType.LINE_ITEM, line_properties(line), order.store_key
            )
            wanted.append((line, item))
        if excluded:
            for _, item in wanted[-(len(lines) + 1) :]:
                item.state = ItemState.EXCLUDED
                item.reason_code = "STOCK_ADJUSTMENT"
                item.reason = "A stock write-off in the warehouse, not a sale."
                item.next_step = "Nothing to do: write-offs are kept in Tally only."
                item.association = Association.NOT_APPLICABLE
    return _save_items(wanted)


def _desired_item(object_type: str, properties: dict, parent_key: str) -> SyncItem:
    key_name = STORE_KEY_PROPERTY[object_type]
    # The fingerprint travels with the record, so that a later sweep can tell
    # from one property whether HubSpot still holds what the store sent.
    digest = fingerprint(properties)
    return SyncItem(
        object_type=object_type,
        key=properties[key_name],
        parent_key=parent_key,
        properties={**properties, FINGERPRINT_PROPERTY: digest},
        fingerprint=digest,
        association=(
            Association.PENDING
            if object_type == ObjectType.LINE_ITEM
            else Association.NOT_APPLICABLE
        ),
    )


def _save_items(wanted: list[tuple[object, SyncItem]]) -> StageResult:
    result = StageResult()
    new, changed = [], []
    for record, item in wanted:
        current = record.sync_item
        if current is None:
            new.append((record, item))
        elif current.fingerprint != item.fingerprint:
            changed.append(_refresh(current, item))
        else:
            result.unchanged += 1
    if new:
        # bulk_create sets the primary keys (RETURNING, on SQLite 3.35+ and
        # PostgreSQL), so the records can point at their items at once.
        SyncItem.objects.bulk_create([item for _, item in new])
        for model in (Order, LineItem):
            _link(model, [(r, item) for r, item in new if isinstance(r, model)])
        result.created = len(new)
    if changed:
        SyncItem.objects.bulk_update(changed, _REFRESHED_FIELDS, batch_size=500)
        result.changed = len(changed)
    return result


_REFRESHED_FIELDS = [
    "properties",
    "fingerprint",
    "state",
    "state_changed",
    "association",
    "reason_code",
    "reason",
    "next_step",
]


def _refresh(current: SyncItem, desired: SyncItem) -> SyncItem:
    """Take the new desired values; send again, or exclude, as the data says.

    An item whose record is gone from HubSpot and waits for a person (found
    so by a sweep or a webhook, or TALLY_ON_NOT_FOUND=wait) keeps waiting: a
    send would re-create a record that may still be restored from HubSpot's
    recycling bin, leaving two with one store key. It takes the new values,
    which the person's retry sends.
    """
    current.properties = desired.properties
    current.fingerprint = desired.fingerprint
    if current.state == ItemState.NOT_FOUND and desired.state != ItemState.EXCLUDED:
        return current
    current.state = desired.state
    current.state_changed = timezone.now()
    current.reason_code = desired.reason_code
    current.reason = desired.reason
    current.next_step = desired.next_step
    if desired.association == Association.NOT_APPLICABLE:
        current.association = Association.NOT_APPLICABLE
    elif current.association == Association.NOT_APPLICABLE:
        current.association = Association.PENDING
    return current


REMOVED_FROM_STORE = "REMOVED_FROM_STORE"


def mark_removed(item_ids: list[int]) -> None:
    """Keep the items of lines deleted from the store, flagged as out of step.

    HubSpot keeps a line item until someone archives it, so an item that may
    have reached HubSpot says so; one never sent only says it was removed.
    The importer takes the item back if a line with its key returns.
    """
    now = timezone.now()
    for start in range(0, len(item_ids), STAGE_CHUNK):
        items = SyncItem.objects.filter(pk__in=item_ids[start : start + STAGE_CHUNK])
        excluded = {"state": ItemState.EXCLUDED, "state_changed": now, "updated": now}
        items.exclude(hubspot_id="", attempts=0).update(
            **excluded,
            reason_code=REMOVED_FROM_STORE,
            reason="Removed from the order in the store; HubSpot still has it.",
            next_step=(
                "Delete the line item in HubSpot (archive), "
                "or put the line back in the store."
            ),
        )
        items.filter(hubspot_id="", attempts=0).update(
            **excluded,
            association=Association.NOT_APPLICABLE,
            reason_code=REMOVED_FROM_STORE,
            reason="Removed from the order in the store before it was sent to HubSpot.",
            next_step="Nothing to do; it is sent if the line is put back in the store.",
        )


def _link(model, pairs: list[tuple[object, SyncItem]]) -> None:
    for record, item in pairs:
        record.sync_item = item
    table = connection.ops.quote_name(model._meta.db_table)
    sql = f"UPDATE {table} SET sync_item_id = %s WHERE id = %s"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.executemany(sql, [(item.pk, record.pk) for record, item in pairs])
