"""Counts and lookups shared by the dashboard and the ``tally_status`` command.

``status_counts`` returns plain JSON-serialisable dicts with stable keys:
every state appears, with 0 where nothing is in it. ``deals`` and
``line_items`` count every staged item, excluded ones too; the ``*_in_hubspot``
keys only those HubSpot holds (a HubSpot ID, and not since found gone).

``dashboard_counts`` is what the overview shows: the same counts and the
categories' counts, kept for ``COUNTS_SECONDS`` in Django's cache (counting
millions of items takes a second); ``tally_status`` counts afresh.
"""

import re
from collections import defaultdict
from collections.abc import Iterable

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Max, Prefetch, Q, QuerySet
from django.utils import timezone

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
from reconcile import categories
from reconcile.models import LineItem, Order

# A store key "starts with q" as a range on its unique index (LIKE 'q%' is
# case-insensitive in SQLite, so it cannot use that index).
LAST_CHARACTER = "\U0010ffff"
# Reason codes are HubSpot's and Tally's upper-case words joined by underscores.
REASON_CODE_PART = re.compile(r"[A-Za-z_]{3,}")


# How long the overview shows the same counts, at most.
COUNTS_SECONDS = 30


def dashboard_counts() -> dict:
    """``status_counts`` and ``categories.counts`` and when they were counted.

    From the cache when counted less than ``COUNTS_SECONDS`` ago, else
    counted now and cached. ``invalidate_counts`` forgets them.
    """
    key = _counts_key()
    counted = cache.get(key)
    if counted is None:
        status = status_counts()
        counted = {
            "status": status,
            "categories": categories.counts(states_of(status["items_by_state"])),
            "as_of": timezone.now(),
        }
        cache.set(key, counted, COUNTS_SECONDS)
    return counted


def invalidate_counts() -> None:
    """Count afresh at the next overview, where items changed outside the work
    that ``_counts_key`` follows (an import, say)."""
    cache.delete(_counts_key())


def _counts_key() -> str:
    """One key per database and per state of its work.

    A run or sweep that starts or finishes, an action written to the audit
    log and any item's change of state (an import's new items too) change
    the key, so the overview counts afresh after them even
    when they ran in another process than this cache's (a worker).
    """
    from reconcile.models import AuditEntry, Sweep

    db = connection.settings_dict
    runs = SyncRun.objects.aggregate(last=Max("pk"), finished=Max("finished"))
    sweeps = Sweep.objects.aggregate(last=Max("pk"), finished=Max("finished"))
    audit = AuditEntry.objects.aggregate(last=Max("pk"))
    # An import (in another process: the cache is per process) stages new or
    # changed items, each with a fresh state_changed: the newest is an index read.
    items = SyncItem.objects.aggregate(changed=Max("state_changed"))
    work = [
        _stamp(items["changed"]),
        runs["last"],
        _stamp(runs["finished"]),
        sweeps["last"],
        _stamp(sweeps["finished"]),
        audit["last"],
    ]
    return (
        f"tally:counts:{connection.vendor}:{db['HOST']}:{db['PORT']}:{db['NAME']}:"
        + ":".join(str(part) for part in work)
    )


def _stamp(moment) -> str:
    return moment.isoformat() if moment else ""


def states_of(items_by_state: dict[str, dict[str, int]]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for states in items_by_state.values():
        for state, n in states.items():
            totals[state] += n
    return dict(totals)


def status_counts() -> dict:
    items_by_state = count_items_by_state()
    in_hubspot = _items_in_hubspot(items_by_state)
    line_items = sum(items_by_state[ObjectType.LINE_ITEM.value].values())
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
        "associations": _line_item_associations(line_items),
        "runs_by_state": _runs_by_state(),
    }


def _zeroes(choices) -> dict[str, int]:
    return {value: 0 for value in choices.values}


def count_items_by_state() -> dict[str, dict[str, int]]:
    """Items by type and state: the few not verified counted through the index
    on (object_type, state), the verified ones by subtraction from each
    type's total (the whole table counted, and the deals through the index on
    (object_type, state)). Counting the millions of verified items by state
    would read them all."""
    counts = {object_type: _zeroes(ItemState) for object_type in ObjectType.values}
    others = [state for state in ItemState.values if state != ItemState.VERIFIED]
    rows = (
        SyncItem.objects.filter(object_type__in=ObjectType.values, state__in=others)
        .order_by()
        .values_list("object_type", "state")
        .annotate(n=Count("*"))
    )
    for object_type, state, n in rows:
        counts[object_type][state] = n
    everything = SyncItem.objects.count()
    deals = SyncItem.objects.filter(object_type=ObjectType.DEAL).count()
    totals = {
        ObjectType.DEAL.value: deals,
        ObjectType.LINE_ITEM.value: everything - deals,
    }
    for object_type, total in totals.items():
        counts[object_type][ItemState.VERIFIED.value] = total - sum(
            counts[object_type].values()
        )
    return counts


def holding_ids_by_state() -> dict[str, dict[str, int]]:
    """Items with a HubSpot ID that are not excluded, by state and type: what a
    sweep checks. As the items by state, less the few with no HubSpot ID
    (through its index); counting the millions with one would read them all."""
    by_type = count_items_by_state()
    without = (
        SyncItem.objects.filter(hubspot_id="")
        .order_by()
        .values_list("object_type", "state")
        .annotate(n=Count("*"))
    )
    for object_type, state, n in without:
        if object_type in by_type:
            by_type[object_type][state] -= n
    return {
        state: {object_type: by_type[object_type][state] for object_type in by_type}
        for state in ItemState.values
        if state != ItemState.EXCLUDED
        and any(by_type[object_type][state] for object_type in by_type)
    }


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
        .annotate(n=Count("*"))
    )
    return {
        object_type: sum(states.values()) - outside.get(object_type, 0)
        for object_type, states in items_by_state.items()
    }


def _line_item_associations(line_items: int) -> dict[str, int]:
    """Staged line items by association: the few not linked counted through
    the index on (object_type, association), the linked ones by subtraction."""
    counts = _zeroes(Association)
    rows = (
        SyncItem.objects.filter(
            object_type=ObjectType.LINE_ITEM,
            association__in=[a for a in Association.values if a != Association.LINKED],
        )
        .order_by()
        .values_list("association")
        .annotate(n=Count("*"))
    )
    counts.update(rows)
    counts[Association.LINKED.value] = line_items - sum(counts.values())
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
    (SKU and number in any case); a reason code equal to q or starting with
    it, in any case. Each is one indexed lookup, and the items matched are
    their union: an OR of them would make a database read every item.
    """
    code = q.upper()
    orders = Order.objects.filter(number__in={q, code}, sync_item__isnull=False)
    lines = LineItem.objects.filter(sync_item__isnull=False)
    parts = [
        SyncItem.objects.filter(key__gte=q, key__lt=q + LAST_CHARACTER).values("pk"),
        SyncItem.objects.filter(hubspot_id=q).values("pk"),
        lines.filter(sku=code).values("sync_item"),
        orders.values("sync_item"),
        lines.filter(order__in=orders.values("pk")).values("sync_item"),
    ]
    if REASON_CODE_PART.fullmatch(q):
        # A range on the index of reason_code (LIKE would be a scan in SQLite),
        # checked by startswith where a collation orders words differently.
        parts.append(
            SyncItem.objects.filter(
                reason_code__gte=code,
                reason_code__lt=code + LAST_CHARACTER,
                reason_code__startswith=code,
            ).values("pk")
        )
    # Unordered, or SQLite refuses a compound SELECT inside IN (...).
    first, *rest = (part.order_by() for part in parts)
    return Q(pk__in=first.union(*rest))


def order_lines(order: Order, unfolded: int | None = None) -> list[LineItem]:
    """The order's lines in position order, each with the outcomes it shows.

    ``line.outcome_count`` is how many outcomes the line's item has;
    ``line.sync_item.history`` holds the latest of them, or all of them,
    newest first, for the line at position ``unfolded``. The ids of every
    outcome are read in one query and grouped here (a prefetch through
    ``sync_item`` costs more on an order of hundreds of lines); then only
    the outcomes shown, in one more.
    """
    lines = list(
        order.lines.select_related("sync_item")
        .defer("sync_item__properties", "sync_item__fingerprint")
        .order_by("position")
    )
    ids = defaultdict(list)
    outcomes = ItemOutcome.objects.filter(item__line_item__order=order)
    for item_id, pk in outcomes.order_by("-pk").values_list("item_id", "pk"):
        ids[item_id].append(pk)
    shown = set()
    for line in lines:
        line.outcome_count = len(ids[line.sync_item_id]) if line.sync_item else 0
        line.unfolded = line.position == unfolded
        shown.update(
            ids[line.sync_item_id] if line.unfolded else ids[line.sync_item_id][:1]
        )
    histories = defaultdict(list)
    for outcome in ItemOutcome.objects.filter(pk__in=shown).order_by("-pk"):
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
