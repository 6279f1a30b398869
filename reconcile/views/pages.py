from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_safe
from django_tables2 import RequestConfig

from hubspot_sync.models import (
    ApiCall,
    Association,
    ItemState,
    ObjectType,
    Outcome,
    SyncRun,
    WebhookEvent,
)
from reconcile import answers, budget, diffs, queries
from reconcile import overview as overview_figures
from reconcile.models import Order, Sweep
from reconcile.tables import (
    BatchTable,
    RunTable,
    SweepTable,
    WebhookEventTable,
    call_rows,
    history_rows,
    line_rows,
    pretty_body,
    rate_limit_remaining,
)

CALLS_PER_PAGE = 20
RETRY_PERMISSION = "reconcile.retry_items"


@login_required
@require_safe
def overview(request: HttpRequest) -> HttpResponse:
    counted = queries.dashboard_counts()
    counts = counted["status"]
    deals = counts["items_by_state"][ObjectType.DEAL]
    line_items = counts["items_by_state"][ObjectType.LINE_ITEM]
    associations = counts["associations"]
    work = overview_figures.running_work()

    context = {
        "counts": counts,
        "state_rows": [
            (state, label, deals[state], line_items[state])
            for state, label in ItemState.choices
        ],
        "line_item_total": sum(line_items.values()),
        "excluded_deals": deals[ItemState.EXCLUDED],
        "association_rows": [
            (value, label, associations[value]) for value, label in Association.choices
        ],
        "runs": RunTable(queries.latest_runs(), orderable=False),
        "categories": overview_figures.category_cards(counted["categories"]),
        "counted_at": counted["as_of"],
        "counts_seconds": queries.COUNTS_SECONDS,
        "trend": overview_figures.trend(),
        "chart": {
            "width": overview_figures.CHART_WIDTH,
            "height": overview_figures.CHART_HEIGHT,
        },
        "budget": budget.today(),
        "work": work,
        # The latest full sweep that ended, failed ones too: a schedule that
        # keeps failing must show.
        "latest_sweep": Sweep.objects.filter(
            state__in=[Sweep.State.DONE, Sweep.State.FAILED], scope={}
        )
        .order_by("-finished", "-pk")
        .first(),
        "running": bool(work),
        # Failed events say a HubSpot change is not re-checked yet (their
        # state index makes this a range read).
        "failed_webhooks": WebhookEvent.objects.filter(
            state=WebhookEvent.State.FAILED
        ).count(),
    }
    return render(request, "reconcile/overview.html", context)


@login_required
@require_safe
def run_list(request: HttpRequest) -> HttpResponse:
    table = RunTable(SyncRun.objects.all())
    RequestConfig(request).configure(table)
    return render(request, "reconcile/run_list.html", {"table": table})


@login_required
@require_safe
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(SyncRun, pk=pk)

    batches = BatchTable(
        run.batches.annotate(call_count=Count("calls")), prefix="batch-"
    )
    RequestConfig(request).configure(batches)
    calls = Paginator(
        run.calls.defer("request_body", "response_body"), CALLS_PER_PAGE
    ).get_page(request.GET.get("calls"))

    context = {
        "run": run,
        "summary": _summary_rows(run.summary),
        "batches": batches,
        "calls": calls,
        "call_rows": call_rows(calls),
        # Queued too: an operator sent here after a confirmation watches it start.
        "running": run.state in (SyncRun.State.QUEUED, SyncRun.State.RUNNING),
    }
    return render(request, "reconcile/run_detail.html", context)


def _summary_rows(summary: dict) -> list[tuple[str, str, int]]:
    labels = dict(Outcome.choices)
    return [
        (outcome, labels.get(outcome, outcome), count)
        for outcome, count in (summary or {}).items()
    ]


@login_required
@require_safe
def call_detail(request: HttpRequest, pk: int) -> HttpResponse:
    call = get_object_or_404(ApiCall.objects.select_related("batch"), pk=pk)

    context = {
        "call": call,
        "run_url": _run_url(call),
        "remaining": rate_limit_remaining(call.rate_limit),
        "request_body": pretty_body(call.request_body),
        "response_body": pretty_body(call.response_body),
    }
    return render(request, "reconcile/call_detail.html", context)


def _run_url(call: ApiCall) -> str | None:
    """The run page at the page of its call list that holds this call."""
    if call.run_id is None:
        return None
    before = ApiCall.objects.filter(run_id=call.run_id, pk__lt=call.pk).count()
    url = reverse("reconcile:run-detail", args=[call.run_id])
    return f"{url}?calls={before // CALLS_PER_PAGE + 1}#call-{call.pk}"


@login_required
@require_safe
def order_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An order, its deal and lines, and what HubSpot answered for each.

    Each line shows its latest outcome; ``?line=N`` unfolds the whole history
    of line N. An order of hundreds of lines would otherwise render thousands
    of outcomes that nobody reads at once.
    """
    order = get_object_or_404(Order.objects.select_related("store", "sync_item"), pk=pk)
    unfolded = _line_number(request.GET.get("line"))

    lines = queries.order_lines(order, unfolded)
    deal_history = queries.item_history(order.sync_item)
    line_histories = [
        line.sync_item.history if line.sync_item else [] for line in lines
    ]
    calls = queries.api_calls_for(
        [*deal_history, *(outcome for history in line_histories for outcome in history)]
    )

    deal_rows, *line_histories = history_rows([deal_history, *line_histories])
    items = [order.sync_item, *(line.sync_item for line in lines)]
    may_retry = request.user.has_perm(RETRY_PERMISSION)
    retry_url = reverse("reconcile:retry-preview") if may_retry else None

    context = {
        "order": order,
        "deal": order.sync_item,
        "deal_history": deal_rows,
        "lines": list(zip(lines, line_histories, strict=True)),
        "line_rows": line_rows(lines, line_histories, retry_url),
        "total": sum(line.amount for line in lines),
        "call_rows": _with_excerpts(call_rows(calls), answers.identifiers(items)),
        "differences": diffs.latest_mismatches([i for i in items if i]),
        "problems": list(order.problems.order_by("code")),
    }
    return render(request, "reconcile/order_detail.html", context)


def _line_number(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _with_excerpts(rows: list[dict], wanted: set[str]) -> list[dict]:
    for row in rows:
        row["excerpt"] = answers.excerpt(row["call"].response_body, wanted)
    return rows


@login_required
@require_safe
def sweep_list(request: HttpRequest) -> HttpResponse:
    table = SweepTable(Sweep.objects.order_by("-created", "-pk"))
    RequestConfig(request).configure(table)
    return render(request, "reconcile/sweep_list.html", {"table": table})


@login_required
@require_safe
def webhook_list(request: HttpRequest) -> HttpResponse:
    """What HubSpot's webhooks said, and what Tally made of each event."""
    state = request.GET.get("state", "")
    events = WebhookEvent.objects.defer("payload")
    if state in WebhookEvent.State.values:
        events = events.filter(state=state)
    table = WebhookEventTable(events, state=state)
    RequestConfig(request).configure(table)
    context = {
        "table": table,
        "state": state,
        "states": WebhookEvent.State.choices,
        "max_tries": settings.TALLY_WEBHOOK_MAX_TRIES,
    }
    return render(request, "reconcile/webhook_list.html", context)
