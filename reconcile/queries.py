"""Counts and lookups shared by the dashboard and the ``tally_status`` command.

``status_counts`` returns plain JSON-serialisable dicts with stable keys:
every state appears, with 0 where nothing is in it.
"""

from collections.abc import Iterable

from django.db.models import Count, Prefetch, Q, QuerySet

from hubspot_sync.models import (
    ApiCall,
    Association,
    ItemOutcome,
    ItemState,
    ObjectType,
    SyncItem,
    SyncRun,
)
from reconcile.models import LineItem, Order


def status_counts() -> dict:
    items_by_state = _items_by_state()
    return {
        "orders": Order.objects.count(),
        "line_items": LineItem.objects.count(),
        "deals": sum(items_by_state[ObjectType.DEAL.value].values()),
        "items_by_state": items_by_state,
        "unreported_skips": sum(
            counts[ItemState.UNREPORTED_SKIP.value]
            for counts in items_by_state.values()
        ),
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
        rows = rows.filter(
            Q(key__icontains=q) | Q(hubspot_id=q) | Q(reason_code__icontains=q)
        )
    return rows.order_by("-state_changed", "-pk")


def order_lines(order: Order) -> list[LineItem]:
    """The order's lines in position order, each item's outcomes newest first.

    The outcomes are in ``line.sync_item.history``.
    """
    history = Prefetch(
        "sync_item__outcomes",
        queryset=ItemOutcome.objects.order_by("-pk"),
        to_attr="history",
    )
    lines = order.lines.select_related("sync_item").prefetch_related(history)
    return list(lines.order_by("position"))


def item_history(item: SyncItem | None) -> list[ItemOutcome]:
    if item is None:
        return []
    return list(item.outcomes.order_by("-pk"))


def api_calls_for(outcomes: Iterable[ItemOutcome]) -> list[ApiCall]:
    """The API calls behind these outcomes, each once, oldest first.

    Fetched apart from the outcomes because one batch call serves up to 100
    items and its bodies would otherwise be read once per item.
    """
    ids = {outcome.api_call_id for outcome in outcomes if outcome.api_call_id}
    return list(ApiCall.objects.filter(pk__in=ids).order_by("pk"))
