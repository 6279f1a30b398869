"""Reconciliation categories: what the dashboard counts, lists and exports.

Every staged item is in exactly one item category, decided by its state and
whether HubSpot holds it; orphans (HubSpot records the store does not know)
and order problems (an order whose deal and lines do not add up) are kept in
their own tables. The overview, the lists, the CSV reports and the trend
snapshots all read the categories from here, so that they always agree.
"""

from dataclasses import dataclass

from django.db.models import Count, Q

from hubspot_sync.models import ItemState, SyncItem

WAITING_STATES = (ItemState.PENDING, ItemState.TRANSIENT, ItemState.UNKNOWN)


@dataclass(frozen=True)
class Category:
    slug: str
    label: str
    description: str
    # Which SyncItems are in it; None for orphans and order problems.
    items: Q | None = None
    # True where something needs a person or a run.
    attention: bool = True


CATEGORIES = (
    Category(
        "in-sync",
        "In sync",
        "HubSpot holds the record and every synced field equals the store's.",
        Q(state=ItemState.VERIFIED),
        attention=False,
    ),
    Category(
        "mismatch",
        "Field mismatch",
        "HubSpot holds the record but at least one synced field differs.",
        Q(state=ItemState.MISMATCH),
    ),
    Category(
        "missing",
        "Missing in HubSpot",
        "The record was synced but HubSpot no longer has it "
        "(deleted, archived or merged away).",
        Q(state=ItemState.NOT_FOUND),
    ),
    Category(
        "duplicate",
        "Duplicate in HubSpot",
        "More than one HubSpot record carries this store key.",
        Q(state=ItemState.DUPLICATE),
    ),
    Category(
        "unreported",
        "Unreported skip",
        "HubSpot named it neither in its results nor in its errors; "
        "the next run sends it again.",
        Q(state=ItemState.UNREPORTED_SKIP),
    ),
    Category(
        "failed",
        "Failed",
        "HubSpot refused it; the reason says what to change.",
        Q(state=ItemState.FAILED),
    ),
    Category(
        "never-synced",
        "Never synced",
        "In the store but not yet in HubSpot: waiting for a run or for a retry "
        "after a temporary failure.",
        Q(state__in=WAITING_STATES, hubspot_id=""),
    ),
    Category(
        "waiting",
        "Changed, waiting",
        "In HubSpot, changed in the store since, and waiting for the next run.",
        Q(state__in=WAITING_STATES) & ~Q(hubspot_id=""),
    ),
    Category(
        "orphan",
        "Orphan in HubSpot",
        "A HubSpot record carries a store key that the store does not know.",
    ),
    Category(
        "order-problem",
        "Order does not add up",
        "The order's deal and line items in HubSpot differ: a line not on its "
        "deal, a different number of lines, amounts or currency.",
    ),
    Category(
        "excluded",
        "Not synced by design",
        "Stock adjustments and lines removed from the store.",
        Q(state=ItemState.EXCLUDED),
        attention=False,
    ),
)
BY_SLUG = {category.slug: category for category in CATEGORIES}
ITEM_CATEGORIES = tuple(c for c in CATEGORIES if c.items is not None)


def get(slug: str) -> Category:
    """The category named ``slug``; KeyError for an unknown one."""
    return BY_SLUG[slug]


def items_in(slug: str):
    """The SyncItems of an item category (a QuerySet, unordered)."""
    category = BY_SLUG[slug]
    if category.items is None:
        raise ValueError(f"{slug} is not a category of items")
    return SyncItem.objects.filter(category.items)


def counts(by_state: dict[str, int] | None = None) -> dict[str, int]:
    """How many are in each category now, every slug present.

    ``by_state`` is the number of items in each state, if already counted
    (``queries.status_counts`` does); else one grouped query through the
    index on state counts them. Only the waiting states are split by whether
    the item has a HubSpot ID: a few thousand items, not millions. Then one
    count each for orphans and order problems.
    """
    from reconcile.models import OrderProblem, Orphan

    if by_state is None:
        # As the overview counts them: the few not verified through the
        # index, the verified by subtraction (a grouped count reads every row).
        from reconcile import queries

        by_state = queries.states_of(queries.count_items_by_state())
    without_id = dict(
        SyncItem.objects.filter(state__in=WAITING_STATES, hubspot_id="")
        .order_by()
        .values_list("state")
        .annotate(n=Count("*"))
    )
    result = {category.slug: 0 for category in CATEGORIES}
    for state, total in by_state.items():
        if state in WAITING_STATES:
            result["never-synced"] += without_id.get(state, 0)
            result["waiting"] += total - without_id.get(state, 0)
            continue
        for category in ITEM_CATEGORIES:
            if category.slug not in ("never-synced", "waiting") and _holds(
                category, state
            ):
                result[category.slug] += total
    result["orphan"] = Orphan.objects.count()
    result["order-problem"] = (
        OrderProblem.objects.order_by().values("order").distinct().count()
    )
    return result


def _holds(category: Category, state: str) -> bool:
    """Whether a category defined by one state alone holds items in ``state``."""
    return category.items.children == [("state", state)]
