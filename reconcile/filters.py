"""Which items a list, a CSV report or a bulk action applies to.

One FilterSet reads the query string of every item list, so that the list a
person sees, the CSV they export from it and the "retry all in this list"
action all select exactly the same items.
"""

from copy import copy
from datetime import date, datetime, time, timedelta

import django_filters
from django import forms
from django.db.models import CharField, Q, QuerySet, Transform
from django.http import QueryDict
from django.utils import timezone

from hubspot_sync.models import (
    Association,
    ImportJob,
    ItemOutcome,
    ItemState,
    ObjectType,
    Outcome,
    SyncItem,
)
from reconcile import categories, queries
from reconcile.models import LineItem, Order, Store

# A category selection of at most this many items is read through the state
# index and sorted (see ``readable``).
SORT_AT_MOST = 10_000
SEARCH_MAX_LENGTH = 200


class ItemFilter(django_filters.FilterSet):
    """The query string ?q=&state=&type=&association=&store=&placed_after=&placed_before=&code=.

    ``q`` finds a reason code by its start (``queries.search``); ``code`` is one
    exact reason code, as the errors page links to it.
    """

    q = django_filters.CharFilter(
        label="Search",
        method="search",
        max_length=SEARCH_MAX_LENGTH,
        help_text="Order number, SKU, HubSpot ID, start of a store key or reason code",
    )
    state = django_filters.ChoiceFilter(
        choices=ItemState.choices, empty_label="Any", method="in_state"
    )
    type = django_filters.ChoiceFilter(
        field_name="object_type",
        label="Object type",
        choices=ObjectType.choices,
        empty_label="Any",
    )
    association = django_filters.ChoiceFilter(
        choices=Association.choices, empty_label="Any"
    )
    store = django_filters.ModelChoiceFilter(
        label="Store",
        queryset=Store.objects.order_by("name"),
        method="in_store",
        to_field_name="slug",
        empty_label="Any",
    )
    placed_after = django_filters.DateFilter(
        label="Placed on or after",
        method="placed_from",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    placed_before = django_filters.DateFilter(
        label="Placed on or before",
        method="placed_until",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    code = django_filters.CharFilter(
        label="Reason code", field_name="reason_code", max_length=64
    )
    job = django_filters.NumberFilter(
        label="Import job",
        method="in_job",
        min_value=1,
        help_text="The items one HubSpot import carried (the Jobs page)",
    )
    ever = django_filters.ChoiceFilter(
        label="Ever had outcome",
        choices=Outcome.choices,
        empty_label="Any",
        method="ever_had",
        help_text="Items with this outcome anywhere in their history, "
        "e.g. every unreported skip, settled since or not",
    )

    class Meta:
        model = SyncItem
        fields: list[str] = []

    def in_job(self, queryset, name, job_id):
        ids = (
            ImportJob.objects.filter(pk=job_id)
            .values_list("item_ids", flat=True)
            .first()
        )
        return queryset.filter(pk__in=ids or [])

    def ever_had(self, queryset, name, outcome):
        # Through the (outcome, item) index of the outcomes.
        seen = ItemOutcome.objects.filter(outcome=outcome).values("item_id")
        return queryset.filter(pk__in=seen)

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        # A list of ids (see ``queries.search``), so that the search's own
        # indexes find the few matches instead of the category's state index
        # reading them all.
        return queryset.filter(queries.search(value))

    def in_state(self, queryset, name, state):
        # Searched, the state is checked on the few items found (see
        # ``filtered_items``).
        searched = bool((self.form.cleaned_data.get("q") or "").strip())
        return queryset.filter(**{"state__unindexed" if searched else "state": state})

    def in_store(self, queryset, name, store):
        # Through joins, not a list of ids: a store usually holds most items,
        # and a page then finds its rows sooner by its sort order's index.
        return queryset.filter(Q(order__store=store) | Q(line_item__order__store=store))

    def placed_from(self, queryset, name, day):
        if day == date.min:
            # No order is placed before the first day a date can name; its
            # midnight may not even exist in UTC east of Greenwich.
            return queryset.filter(items_of(Order.objects.all()))
        return queryset.filter(
            items_of(Order.objects.filter(placed_at__gte=start_of(day)))
        )

    def placed_until(self, queryset, name, day):
        if day == date.max:
            # The last day a date can name has no next day to stop before
            # (date.max + 1 day overflows): every order is placed by its end.
            return queryset.filter(items_of(Order.objects.all()))
        next_day = start_of(day + timedelta(days=1))
        return queryset.filter(items_of(Order.objects.filter(placed_at__lt=next_day)))


def items_of(orders) -> Q:
    """The items of these orders (deals and lines): one UNION of both id lists.

    An OR of two subqueries made PostgreSQL read every item (minutes at 2.3
    million for a whole store); each side of the union is a plain lookup. No
    ORDER BY on either side: SQLite refuses one in a compound query.
    """
    orders = orders.order_by()
    lines = LineItem.objects.filter(order__in=orders.values("pk")).order_by()
    ids = (
        orders.exclude(sync_item=None)
        .values("sync_item")
        .union(lines.exclude(sync_item=None).values("sync_item"))
    )
    return Q(pk__in=ids)


def start_of(day: date) -> datetime:
    """Midnight of ``day`` in the dashboard's time zone (a range on the index of
    placed_at, where a ``__date`` lookup would convert every row)."""
    return timezone.make_aware(datetime.combine(day, time.min))


def readable(selection: QuerySet[SyncItem]) -> tuple[QuerySet[SyncItem], int]:
    """The selection of a category as it is read fastest, and its number of items.

    A category is a condition on the state, which only the index on
    (object_type, state) serves, so the count names both object types. A
    small selection is read through that index too and sorted; a large one
    is found sooner by walking the index of its sort order (state_changed,
    key) until a page is full.
    """
    indexed = selection.filter(object_type__in=ObjectType.values)
    count = indexed.count()
    return (indexed if count <= SORT_AT_MOST else selection), count


def filtered_items(params, category: str | None = None) -> ItemFilter:
    """The ItemFilter bound to ``params`` over all items or one item category.

    ``.qs`` is the selection (invalid fields are left out and the form says
    why); ``.form`` renders the filter form. A search finds few items by its
    own indexes; the category is then only checked on those (``unindexed``):
    SQLite, whose tables Tally leaves unanalysed, would otherwise read the
    category's millions of items through the state index.
    """
    if not category:
        return ItemFilter(params, queryset=SyncItem.objects.all())
    condition = categories.get(category).items
    if condition is None:
        raise ValueError(f"{category} is not a category of items")
    q = str(params.get("q") or "").strip()
    if q and len(q) <= SEARCH_MAX_LENGTH:
        condition = unindexed(condition)
    return ItemFilter(params, queryset=SyncItem.objects.filter(condition))


def filter_problems(chosen: ItemFilter, name=str) -> str:
    """The invalid filters of a bound ``ItemFilter`` on one line, each as
    ``name(field): its errors``, for the exports that refuse to run on them."""
    return "; ".join(
        f"{name(field)}: {' '.join(errors)}" for field, errors in chosen.errors.items()
    )


@CharField.register_lookup
class Unindexed(Transform):
    """A text column as it is, which SQLite must not read through an index.

    SQLite's unary plus (``+column``) is its documented way to say so; other
    databases get the column unchanged.
    """

    lookup_name = "unindexed"

    def as_sql(self, compiler, connection):
        return compiler.compile(self.lhs)

    def as_sqlite(self, compiler, connection):
        sql, params = compiler.compile(self.lhs)
        return f"+{sql}", params


def unindexed(condition: Q) -> Q:
    """The condition with each field looked up through ``Unindexed``."""
    rewritten = copy(condition)
    rewritten.children = [
        unindexed(child) if isinstance(child, Q) else _unindexed_lookup(*child)
        for child in condition.children
    ]
    return rewritten


def _unindexed_lookup(name: str, value) -> tuple:
    field, _, lookup = name.partition("__")
    return (f"{field}__unindexed__{lookup or 'exact'}", value)


def filter_query(params) -> str:
    """The filters of a query string without its paging and sorting, encoded.

    What a list hands to its CSV export and to "retry all in this list", so
    that they select what the list shows.
    """
    kept = QueryDict(mutable=True)
    for name in ItemFilter.base_filters:
        values = [value for value in params.getlist(name) if value]
        if values:
            kept.setlist(name, values)
    return kept.urlencode()
