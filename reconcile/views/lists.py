"""The lists: every item, one list per reconciliation category, the error
codes, and the CSV export of each.

A list, its export and its "retry all" link read the same query string through
``filtered_items``, so they select the same items. A page pays for the order,
the latest outcome (and, for mismatches, the latest mismatch) of the rows it
shows only: a count, one page query and one query per prefetch.

Every view here only reads: anything but GET and HEAD gets 405
(``require_safe``), not a page that looks as if a form had been taken.
"""

from functools import partial
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.db.models import (
    Case,
    CharField,
    Count,
    Min,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
)
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_safe
from django_tables2 import RequestConfig

from hubspot_sync.models import ItemOutcome, ItemState, Outcome, SyncItem
from reconcile import categories, reports
from reconcile.filters import filter_problems, filter_query, filtered_items
from reconcile.models import OrderProblem, Orphan
from reconcile.tables import (
    LIST_DEPTH,
    CategoryItemTable,
    ItemTable,
    ListData,
    OrderProblemTable,
    OrphanTable,
    bounded_count,
)

RETRY_PREVIEW = "reconcile:retry-preview"
RETRY_PERMISSION = "reconcile.retry_items"
# The columns an item category leaves out: those that are always empty in it
# or say nothing there. Field differences exist only for mismatches.
HIDDEN_COLUMNS = {
    "in-sync": ("differences", "reason_code", "reason", "next_step"),
    "mismatch": (),
    "never-synced": ("differences", "hubspot_id"),
}
HIDDEN_BY_DEFAULT = ("differences",)
# The states of the item categories that need attention (all but in sync and
# excluded): the errors page counts their reason codes.
ATTENTION_STATES = [
    state
    for state in ItemState.values
    if state not in (ItemState.VERIFIED, ItemState.EXCLUDED)
]
# HubSpot's own words follow this in a reason; the errors page shows the rest.
HUBSPOT_SAID = " HubSpot said:"


@login_required
@require_safe
def item_list(request: HttpRequest) -> HttpResponse:
    selection = filtered_items(request.GET)
    retry_url = _retry_url(request)
    rows = ListData(_newest_first(selection.qs), _shown)
    table = ItemTable(rows, exclude=_unselectable(retry_url))
    RequestConfig(request).configure(table)

    query = filter_query(request.GET)
    context = {
        "form": selection.form,
        "table": table,
        "retry_url": retry_url,
        "retry_all_url": _retry_all_url(retry_url, None, query),
        "export_url": _with_query(reverse("reconcile:item-export"), query),
        "clear_url": reverse("reconcile:item-list"),
        "lists": categories.CATEGORIES,
        "capped": rows.capped,
        "depth": LIST_DEPTH,
    }
    return render(request, "reconcile/item_list.html", context)


@login_required
@require_safe
def category_list(request: HttpRequest, slug: str) -> HttpResponse:
    category = _category(slug)
    if slug == "orphan":
        return _orphan_list(request, category)
    if slug == "order-problem":
        return _order_problem_list(request, category)

    selection = filtered_items(request.GET, slug)
    retry_url = _retry_url(request)
    hidden = HIDDEN_COLUMNS.get(slug, HIDDEN_BY_DEFAULT) + _unselectable(
        None if slug in NOT_RETRYABLE else retry_url
    )
    shown = partial(_shown, mismatches=slug == "mismatch")
    rows = ListData(_newest_first(selection.qs), shown)
    table = CategoryItemTable(rows, exclude=hidden)
    RequestConfig(request).configure(table)

    query = filter_query(request.GET)
    # Unfiltered, the page's own count is the category's.
    total = bounded_count(categories.items_in(slug)) if query else len(rows)
    context = {
        "category": category,
        "total": min(total, LIST_DEPTH),
        "total_capped": total > LIST_DEPTH or (rows.capped and not query),
        "capped": rows.capped,
        "depth": LIST_DEPTH,
        "filtered": bool(query),
        "form": selection.form,
        "table": table,
        "retry_url": retry_url,
        "retry_all_url": _retry_all_url(retry_url, category, query),
        "export_url": _with_query(
            reverse("reconcile:category-export", args=[slug]), query
        ),
        "clear_url": reverse("reconcile:category-list", args=[slug]),
        "lists": categories.CATEGORIES,
    }
    return render(request, "reconcile/category_list.html", context)


def _category(slug: str) -> categories.Category:
    try:
        return categories.get(slug)
    except KeyError:
        raise Http404(f"No list {slug!r}") from None


def _newest_first(selection: QuerySet[SyncItem]) -> QuerySet[SyncItem]:
    """A list's order unless sorted otherwise: served by the indexes on
    (state_changed, id) and (state, state_changed, id) without a sort."""
    return selection.order_by("-state_changed", "-pk")


def _shown(ids: list[int], mismatches: bool = False) -> QuerySet[SyncItem]:
    """The items of a page as it shows them: their orders, latest outcome,
    latest mismatch. The prefetches run for these rows only, one query each.
    """
    newest = ItemOutcome.objects.order_by("-pk")
    prefetches = [Prefetch("outcomes", newest[:1], to_attr="latest_outcomes")]
    if mismatches:
        latest_mismatch = newest.filter(outcome=Outcome.MISMATCH)[:1]
        prefetches.append(
            Prefetch("outcomes", latest_mismatch, to_attr="latest_mismatches")
        )
    return (
        SyncItem.objects.filter(pk__in=ids)
        .select_related("order", "line_item__order")
        .defer("properties", "fingerprint")
        .prefetch_related(*prefetches)
    )


def _retry_url(request: HttpRequest) -> str | None:
    """The retry preview's URL for those who may retry, once that page exists."""
    if not request.user.has_perm(RETRY_PERMISSION):
        return None
    try:
        return reverse(RETRY_PREVIEW)
    except NoReverseMatch:
        return None


# Lists where nothing can be retried: verified items need a resync, excluded
# ones are never sent. No checkboxes there.
NOT_RETRYABLE = ("in-sync", "excluded")


def _unselectable(retry_url: str | None) -> tuple[str, ...]:
    return () if retry_url else ("item",)


def _retry_all_url(
    retry_url: str | None, category: categories.Category | None, query: str
) -> str | None:
    """Retry every item of the list: its category and its filters.

    Not offered for categories that need nothing, nor for every item unfiltered.
    """
    if retry_url is None:
        return None
    if category is None:
        return _with_query(retry_url, query) if query else None
    if not category.attention:
        return None
    head = urlencode({"category": category.slug})
    return f"{retry_url}?{head}&{query}" if query else f"{retry_url}?{head}"


def _with_query(url: str, query: str) -> str:
    return f"{url}?{query}" if query else url


def _orphan_list(request: HttpRequest, category) -> HttpResponse:
    table = OrphanTable(Orphan.objects.order_by("store_key", "hubspot_id"))
    RequestConfig(request).configure(table)
    context = {
        "category": category,
        "table": table,
        "export_url": reverse("reconcile:category-export", args=[category.slug]),
        "lists": categories.CATEGORIES,
    }
    return render(request, "reconcile/orphan_list.html", context)


def _order_problem_list(request: HttpRequest, category) -> HttpResponse:
    problems = OrderProblem.objects.select_related("order").order_by("-found", "pk")
    table = OrderProblemTable(problems)
    RequestConfig(request).configure(table)
    orders = OrderProblem.objects.order_by().values("order").distinct().count()
    context = {
        "category": category,
        "table": table,
        "orders": orders,
        "export_url": reverse("reconcile:category-export", args=[category.slug]),
        "lists": categories.CATEGORIES,
    }
    return render(request, "reconcile/order_problem_list.html", context)


@login_required
@require_safe
def error_list(request: HttpRequest) -> HttpResponse:
    """Each reason code in each list that needs attention: how many, why, what to do.

    Read through the index on (state, state_changed, id), so that the millions
    of verified items are never scanned; a reason code greater than "" rather
    than not equal to it, which no index serves.
    """
    rows = (
        SyncItem.objects.filter(state__in=ATTENTION_STATES, reason_code__gt="")
        .annotate(category=_category_of_item())
        .order_by()
        .values("reason_code", "category")
        .annotate(
            items=Count("pk"),
            reason=Min("reason", filter=~Q(reason="")),
            next_step=Min("next_step", filter=~Q(next_step="")),
        )
        .order_by("-items", "reason_code", "category")
    )
    errors = [
        {
            "code": row["reason_code"],
            "category": categories.get(row["category"]),
            "items": row["items"],
            "reason": (row["reason"] or "").split(HUBSPOT_SAID)[0],
            "next_step": row["next_step"] or "",
            "url": _with_query(
                reverse("reconcile:category-list", args=[row["category"]]),
                urlencode({"code": row["reason_code"]}),
            ),
        }
        for row in rows
    ]
    return render(request, "reconcile/error_list.html", {"errors": errors})


def _category_of_item() -> Case:
    return Case(
        *(
            When(category.items, then=Value(category.slug))
            for category in categories.ITEM_CATEGORIES
        ),
        output_field=CharField(),
    )


@login_required
@require_safe
def item_export(request: HttpRequest) -> HttpResponse:
    refused = _refuse_invalid_filters(request, None)
    return refused or reports.response(reports.items(request.GET))


@login_required
@require_safe
def category_export(request: HttpRequest, slug: str) -> HttpResponse:
    category = _category(slug)
    if category.items is not None:
        refused = _refuse_invalid_filters(request, slug)
        if refused:
            return refused
    return reports.response(reports.for_category(slug, request.GET))


def _refuse_invalid_filters(request: HttpRequest, slug: str | None):
    """A 400 naming the bad filters, rather than a report of more rows than asked.

    The list page shows the same mistake beside its field and still lists;
    a file handed to finance has no such place, so it is not written at all.
    """
    chosen = filtered_items(request.GET, slug)
    if chosen.is_valid():
        return None
    return HttpResponseBadRequest(
        f"Nothing exported: a filter is not valid ({filter_problems(chosen)}). "
        "Correct it on the list and export again.",
        content_type="text/plain; charset=utf-8",
    )
