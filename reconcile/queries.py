"""Counts and lookups shared by the dashboard and the ``tally_status`` command.

``status_counts`` returns plain JSON-serialisable dicts with stable keys:
every state appears, with 0 where nothing is in it. ``deals`` and
``line_items`` count every staged item, excluded ones too; the ``*_in_hubspot``
keys only those HubSpot holds (a HubSpot ID, and not since found gone).
"""

import re
from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Count, Prefetch, Q, QuerySet

from hubspot_sync.models import (
    ApiCall,
    Association,
    ItemOutcome,
    ItemState,
    ObjectType,
    Outcome,
    SyncItem,
    SyncRun,
)
from reconcile.models import LineItem, Order

# A store key "starts with q" as a range on its unique index (LIKE 'q%' is
# case-insensitive in SQLite, so it cannot use that index).
LAST_CHARACTER = "\U0010ffff"
# Reason codes are HubSpot's and Tally's upper-case words joined by underscores.
REASON_CODE_PART = re.compile(r"[A-Za-z_]{3,}")


def status_counts() -> dict:
    items_by_state = _items_by_state()
    in_hubspot = _items_in_hubspot(items_by_state)
    return {
        "orders": Order.objects.count(),
        "line_items": LineItem.objects.count(),
        "deals": sum(items_by_state[ObjectType.DEAL.value].values()),
        "deals_in_hubspot": in_hubspot[ObjectType.DEAL.value],
        "line_items_in_hubspot": in_hubspot[ObjectType.LINE_ITEM.value],
        "items_by_state": items_by_state,
        "unreported_skips": sum(
            counts[ItemState.UNREPORTED_SKIP.value]
            for counts in items_by_state.values()
        ),
        # Items HubSpot ever left out silently, settled since or not: the
        # current state alone would hide the ones a read-back verified.
        "unreported_skips_seen": ItemOutcome.objects.filter(
            outcome=Outcome.UNREPORTED_SKIP
        )
        .values("item_id")
        .distinct()
        .count(),
        "associations": _line_item_associations(),
        "runs_by_state": _runs_by_state(),
    }


def _zeroes(choices) -> dict[str, int]:
    return {value: 0 for value in choices.values}


def _items_by_state() -> dict[str, dict[str, int]]:
    counts = {object_type: _zeroes(ItemState) for object_type in ObjectType.values}
    rows = (
        SyncItem.objects.order_by()
        .values_list("object_type", "state")
        .annotate(n=Count("pk"))
    )
    for object_type, state, n in rows:
        counts[object_type][state] = n
    return counts


def _items_in_hubspot(items_by_state: dict[str, dict[str, int]]) -> dict[str, int]:
    """Items HubSpot holds: all but those without a HubSpot ID or gone from it.

    Counted as the few that are not, through the indexes on ``hubspot_id`` and
    on (``object_type``, ``state``); counting the many that are reads every row.
    """
    gone = Q(object_type__in=ObjectType.values, state=ItemState.NOT_FOUND)
    outside = dict(
        SyncItem.objects.filter(Q(hubspot_id="") | gone)
        .order_by()
        .values_list("object_type")
        .annotate(n=Count("pk"))
    )
    return {
        object_type: sum(states.values()) - outside.get(object_type, 0)
        for object_type, states in items_by_state.items()
    }


def _line_item_associations() -> dict[str, int]:
    counts = _zeroes(Association)
    rows = (
        SyncItem.objects.filter(object_type=ObjectType.LINE_ITEM)
        .order_by()
        .values_list("association")
        .annotate(n=Count("pk"))
    )
    counts.update(rows)
    return counts


def _runs_by_state() -> dict[str, int]:
    counts = _zeroes(SyncRun.State)
    rows = SyncRun.objects.order_by().values_list("state").annotate(n=Count("pk"))
    counts.update(rows)
    return counts


def latest_runs(limit: int = 10) -> list[SyncRun]:
    return list(SyncRun.objects.order_by("-created", "-pk")[:limit])


def items(
    state: str = "", object_type: str = "", association: str = "", q: str = ""
) -> QuerySet[SyncItem]:
    """SyncItems matching the filters, each with its order's pk and latest outcome.

    The latest outcome is prefetched per page as a one-element list in
    ``latest_outcomes``, so only the rows shown pay for it.
    """
    rows = (
        SyncItem.objects.select_related("order", "line_item")
        .defer("properties", "fingerprint")
        .prefetch_related(
            Prefetch(
                "outcomes",
                queryset=ItemOutcome.objects.order_by("-pk")[:1],
                to_attr="latest_outcomes",
            )
        )
    )
    if state:
        rows = rows.filter(state=state)
    if object_type:
        rows = rows.filter(object_type=object_type)
    if association:
        rows = rows.filter(association=association)
    if q:
        rows = rows.filter(search(q))
    return rows.order_by("-state_changed", "-pk")


def search(q: str) -> Q:
    """What the items page's search box matches.

    A store key starting with q; a HubSpot ID, SKU or order number equal to q
    (SKU and number in any case); a reason code containing q. Each lookup but
    the last uses an index, so a search stays fast on 100,000 items; reason
    codes are scanned only when q could be part of one.
    """
    orders = Order.objects.filter(number__in={q, q.upper()}).exclude(sync_item=None)
    lines = LineItem.objects.exclude(sync_item=None)
    match = (
        Q(key__gte=q, key__lt=q + LAST_CHARACTER)
        | Q(hubspot_id=q)
        | Q(pk__in=lines.filter(sku=q.upper()).values("sync_item"))
        | Q(pk__in=orders.values("sync_item"))
        | Q(pk__in=lines.filter(order__in=orders.values("pk")).values("sync_item"))
    )
    if REASON_CODE_PART.fullmatch(q):
        match |= Q(reason_code__icontains=q)
    return match


def order_lines(order: Order) -> list[LineItem]:
    """The order's lines in position order, each item's outcomes newest first.

    The outcomes are in ``line.sync_item.history``, read in one query and
    grouped here: a prefetch through ``sync_item`` costs more than the query
    on an order of hundreds of lines.
    """
    lines = list(
        order.lines.select_related("sync_item")
        .defer("sync_item__properties", "sync_item__fingerprint")
        .order_by("position")
    )
    histories = defaultdict(list)
    outcomes = ItemOutcome.objects.filter(item__line_item__order=order)
    for outcome in outcomes.order_by("-pk"):
        histories[outcome.item_id].append(outcome)
    for line in lines:
        if line.sync_item:
            line.sync_item.history = histories[line.sync_item_id]
    return lines


def item_history(item: SyncItem | None) -> list[ItemOutcome]:
    if item is None:
        return []
    return list(item.outcomes.order_by("-pk"))


def api_calls_for(outcomes: Iterable[ItemOutcome]) -> list[ApiCall]:
    """The API calls behind these outcomes, each once, oldest first.

    Fetched apart from the outcomes because one batch call serves up to 100
    items. With HubSpot's answer (the token was removed before storing) but
    not the request: that is on each call's own page.
    """
    ids = {outcome.api_call_id for outcome in outcomes if outcome.api_call_id}
    calls = ApiCall.objects.filter(pk__in=ids).defer("request_body")
    return list(calls.order_by("pk"))
