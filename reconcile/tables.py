"""django-tables2 tables for the dashboard, and the small renderers they share."""

import json
from datetime import timedelta

import django_tables2 as tables
from django.core.paginator import Paginator
from django.urls import reverse
from django.utils.html import format_html
from django.utils.text import slugify

from hubspot_sync.models import (
    ItemOutcome,
    ObjectType,
    SyncBatch,
    SyncItem,
    SyncRun,
)

TABLE_TEMPLATE = "reconcile/_table.html"
EMPTY = "—"
# ?per_page= is read from the query string; a page of 100,000 rows would
# load them all, and their prefetch would exceed SQLite's variable limit.
MAX_PER_PAGE = 100


def badge(value: str, label: str) -> str:
    return format_html('<span class="badge badge-{}">{}</span>', slugify(value), label)


def format_duration(duration: timedelta | None) -> str:
    if duration is None:
        return EMPTY
    seconds = duration.total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def pretty_body(body: str) -> str:
    """Indented JSON when the body parses as JSON, else the text as stored."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body
    return json.dumps(parsed, indent=2, ensure_ascii=False)


def rate_limit_remaining(rate_limit: dict) -> str:
    """Requests left in HubSpot's window, and in the day when it said so."""
    remaining = rate_limit.get("remaining")
    if remaining is None:
        return EMPTY
    text = str(remaining)
    if rate_limit.get("max") is not None:
        text += f"/{rate_limit['max']}"
    if rate_limit.get("daily_remaining") is not None:
        text += f" (day: {rate_limit['daily_remaining']})"
    return text


def summarise_detail(detail: dict) -> str:
    """One line for an outcome's detail, as ``hubspot_sync.engine`` stores it.

    Mismatches list each property's store and HubSpot value; errors their
    HTTP status, category, code, property and message.
    """
    parts = []
    if detail.get("mismatches"):
        parts += [
            f"{name}: store {values.get('store')!r}, HubSpot {values.get('hubspot')!r}"
            for name, values in detail["mismatches"].items()
        ]
    elif "new" in detail:
        parts.append(_write_summary(detail["new"], detail.get("hubspot_id", "")))
    if detail.get("http_status"):
        parts.append(f"HTTP {detail['http_status']}")
    parts += [
        str(detail[name])
        for name in ("category", "code", "property", "message")
        if detail.get(name)
    ]
    if parts and detail.get("association"):
        parts.insert(0, "association")
    return " · ".join(parts)


def _write_summary(new: bool | None, hubspot_id: str) -> str:
    if new is None:
        return f"HubSpot ID {hubspot_id}"
    return f"{'created' if new else 'updated'} {hubspot_id}"


def call_rows(calls) -> list[dict]:
    """What the API call template shows of each call, bodies pretty-printed."""
    return [
        {
            "call": call,
            "request": pretty_body(call.request_body),
            "response": pretty_body(call.response_body),
            "remaining": rate_limit_remaining(call.rate_limit),
        }
        for call in calls
    ]


def latest_outcome_cell(outcome: ItemOutcome | None) -> str:
    if outcome is None:
        return EMPTY
    return format_html(
        '{} <span class="detail">{}</span>',
        badge(outcome.outcome, outcome.get_outcome_display()),
        summarise_detail(outcome.detail),
    )


def order_url(item: SyncItem) -> str | None:
    """The order page of an item, anchored at the line for a line item."""
    if item.object_type == ObjectType.DEAL:
        order = getattr(item, "order", None)
        if order is None:
            return None
        return reverse("reconcile:order-detail", args=[order.pk])
    line = getattr(item, "line_item", None)
    if line is None:
        return None
    url = reverse("reconcile:order-detail", args=[line.order_id])
    return f"{url}#line-{line.position}"


class DashboardTable(tables.Table):
    class Meta:
        template_name = TABLE_TEMPLATE
        attrs = {"class": "data"}
        per_page = 25

    def paginate(self, paginator_class=Paginator, per_page=None, page=1, **kwargs):
        per_page = min(max(per_page or self._meta.per_page, 1), MAX_PER_PAGE)
        return super().paginate(paginator_class, per_page, page, **kwargs)


class RunTable(DashboardTable):
    id = tables.Column(
        verbose_name="Run", linkify=("reconcile:run-detail", [tables.A("pk")])
    )
    state = tables.Column()
    phase = tables.Column()
    progress = tables.Column(empty_values=(), orderable=False)
    items_total = tables.Column(verbose_name="Items")
    trigger = tables.Column()
    started = tables.DateTimeColumn(format="j M Y H:i:s")
    duration = tables.Column(empty_values=(), orderable=False)

    class Meta(DashboardTable.Meta):
        model = SyncRun
        fields = ()
        order_by = ("-created",)
        empty_text = "No sync runs yet."

    def render_id(self, value):
        return f"#{value}"

    def render_state(self, record, value):
        return badge(record.state, value)

    def render_progress(self, record):
        done, total = record.batches_done, record.batches_total
        return format_html(
            '<progress max="{}" value="{}" aria-hidden="true"></progress> {}/{}',
            total or 1,
            done,
            done,
            total,
        )

    def render_duration(self, record):
        if record.duration is None and record.state == SyncRun.State.RUNNING:
            return "running"
        return format_duration(record.duration)


class BatchTable(DashboardTable):
    id = tables.Column(verbose_name="Batch")
    kind = tables.Column()
    state = tables.Column()
    item_count = tables.Column(
        verbose_name="Items", accessor="item_ids", orderable=False
    )
    call_count = tables.Column(verbose_name="Calls")
    started = tables.DateTimeColumn(format="H:i:s")
    finished = tables.DateTimeColumn(format="H:i:s")
    error = tables.Column()

    class Meta(DashboardTable.Meta):
        model = SyncBatch
        fields = ()
        orderable = False
        per_page = 50
        empty_text = "No batches."

    def render_state(self, record, value):
        return badge(record.state, value)

    def render_item_count(self, value):
        return len(value)


class ItemTable(DashboardTable):
    key = tables.Column()
    object_type = tables.Column(verbose_name="Type", attrs={"td": {"class": "nowrap"}})
    state = tables.Column()
    answered = tables.Column(
        verbose_name="What HubSpot answered",
        accessor="latest_outcomes",
        empty_values=(),
        orderable=False,
        attrs={"td": {"class": "prose"}},
    )
    hubspot_id = tables.Column(verbose_name="HubSpot ID")
    association = tables.Column()
    reason_code = tables.Column(
        verbose_name="Reason code", attrs={"td": {"class": "code"}}
    )
    reason = tables.Column(orderable=False, attrs={"td": {"class": "prose"}})
    next_step = tables.Column(orderable=False, attrs={"td": {"class": "prose"}})
    attempts = tables.Column(attrs={"td": {"class": "num"}})
    state_changed = tables.DateTimeColumn(
        verbose_name="Last changed", format="Y-m-d H:i"
    )

    class Meta(DashboardTable.Meta):
        model = SyncItem
        fields = ()
        attrs = {"class": "data items"}
        empty_text = "No items match."

    def render_key(self, record, value):
        url = order_url(record)
        if url is None:
            return value
        return format_html('<a href="{}">{}</a>', url, value)

    def render_state(self, record, value):
        return badge(record.state, value)

    def render_association(self, record, value):
        if record.object_type == ObjectType.DEAL:
            return EMPTY
        return badge(record.association, value)

    def render_answered(self, value):
        return latest_outcome_cell(value[0] if value else None)


class HistoryTable(DashboardTable):
    created = tables.DateTimeColumn(verbose_name="When", format="j M Y H:i:s")
    outcome = tables.Column()
    detail = tables.Column(orderable=False, attrs={"td": {"class": "prose"}})
    run = tables.Column(
        linkify=("reconcile:run-detail", [tables.A("run_id")]),
        accessor="run_id",
    )
    api_call = tables.Column(verbose_name="API call", accessor="api_call_id")

    class Meta(DashboardTable.Meta):
        model = ItemOutcome
        fields = ()
        orderable = False
        attrs = {"class": "data history"}
        empty_text = "Not sent or checked yet."

    def render_outcome(self, record, value):
        return badge(record.outcome, value)

    def render_detail(self, value):
        return summarise_detail(value) or EMPTY

    def render_run(self, value):
        return f"#{value}"

    def render_api_call(self, value):
        return format_html('<a href="#call-{}">call #{}</a>', value, value)
