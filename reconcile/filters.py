"""Which items a list, a CSV report or a bulk action applies to.

One FilterSet reads the query string of every item list, so that the list a
person sees, the CSV they export from it and the "retry all in this list"
action all select exactly the same items.
"""

import django_filters
from django import forms

from hubspot_sync.models import Association, ItemState, ObjectType, SyncItem
from reconcile import categories, queries
from reconcile.models import Store


class ItemFilter(django_filters.FilterSet):
    """The query string ?q=&state=&type=&association=&store=&placed_after=&placed_before=."""

    q = django_filters.CharFilter(
        label="Search",
        method="search",
        max_length=200,
        help_text="Order number, SKU, HubSpot ID, store key or reason code",
    )
    state = django_filters.ChoiceFilter(choices=ItemState.choices, empty_label="Any")
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

    class Meta:
        model = SyncItem
        fields: list[str] = []

    def search(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(queries.search(value)) if value else queryset

    def in_store(self, queryset, name, store):
        return queryset.filter(_order_field("store", store))

    def placed_from(self, queryset, name, day):
        return queryset.filter(_order_field("placed_at__date__gte", day))

    def placed_until(self, queryset, name, day):
        return queryset.filter(_order_field("placed_at__date__lte", day))


def _order_field(lookup: str, value):
    """A condition on the item's order, whether the item is a deal or a line."""
    from django.db.models import Q

    return Q(**{f"order__{lookup}": value}) | Q(
        **{f"line_item__order__{lookup}": value}
    )


def filtered_items(params, category: str | None = None) -> ItemFilter:
    """The ItemFilter bound to ``params`` over all items or one item category.

    ``.qs`` is the selection (invalid fields are left out and the form says
    why); ``.form`` renders the filter form.
    """
    base = categories.items_in(category) if category else SyncItem.objects.all()
    return ItemFilter(params, queryset=base)
