"""django-tables2 tables for the dashboard, and the small renderers they share."""

import json
from collections.abc import Iterable
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache, lru_cache

import django_tables2 as tables
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.paginator import Paginator
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.dateformat import format as date_format
from django.utils.html import escape, format_html
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.text import Truncator, slugify
from django.utils.timezone import localtime
from django_tables2.data import TableQuerysetData

from hubspot_sync.models import (
    ItemOutcome,
    ItemState,
    ObjectType,
    Outcome,
    SyncBatch,
    SyncItem,
    SyncRun,
    WebhookEvent,
)
from hubspot_sync.text import EMPTY, format_duration
from reconcile import categories
from reconcile.models import OrderProblem, Orphan, Sweep
from reconcile.reports import changed_at

TABLE_TEMPLATE = "reconcile/_table.html"
# Longer text is cut in the items table; the order page shows all of it.
CLIP = 140
WHEN = "j M Y H:i:s"
NUMBER = {"th": {"class": "num"}, "td": {"class": "num"}}
# ?per_page= is read from the query string; a page of 100,000 rows would
# load them all, and their prefetch would exceed SQLite's variable limit.
MAX_PER_PAGE = 100
CENT = Decimal("0.01")


def counted(n: int, noun: str) -> str:
    """``n`` and the noun, plural unless one: "1 item", "2,000 items"."""
    return f"{n:,} {noun}{pluralize(n)}"


@lru_cache(maxsize=256)
def badge(value: str, label: str) -> str:
    return format_html('<span class="badge badge-{}">{}</span>', slugify(value), label)


def clipped(text: str, limit: int = CLIP) -> str:
    """The text cut to ``limit`` characters, the whole of it shown on hover."""
    if len(text) <= limit:
        return text
    return format_html('<span title="{}">{}</span>', text, Truncator(text).chars(limit))


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
    text = intcomma(remaining)
    if rate_limit.get("max") is not None:
        text += f"/{intcomma(rate_limit['max'])}"
    if rate_limit.get("daily_remaining") is not None:
        text += f" (day: {intcomma(rate_limit['daily_remaining'])})"
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
    if detail.get("deal_not_found"):
        parts.append("its deal is gone from HubSpot")
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


def tally_decision(outcome: ItemOutcome) -> str:
    """What Tally decided for an outcome that no stored HubSpot call stands behind.

    The shapes of ``detail`` are those ``hubspot_sync.associations`` and
    ``hubspot_sync.engine`` record without a call; any other says so plainly.
    """
    detail, kind = outcome.detail, outcome.outcome
    if detail.get("association") and kind == Outcome.FAILED:
        return "Tally: not sent — its deal is not in HubSpot"
    if detail.get("association") and detail.get("settled_by") == "read":
        return "Tally: linked — a read of the line's associations found the link"
    if detail.get("association") and detail.get("repair"):
        return "Tally: flagged — HubSpot did not confirm the link, sent twice"
    if kind == Outcome.TRANSIENT and not detail:
        return "Tally: not sent — an internal error (see the worker log)"
    return f"Tally: {outcome.get_outcome_display().lower()}, no HubSpot call stored"


def call_rows(calls) -> list[dict]:
    """Each call with its rate limit as shown; bodies are on the call's page."""
    return [
        {"call": call, "remaining": rate_limit_remaining(call.rate_limit)}
        for call in calls
    ]


def history_rows(histories: Iterable[list[ItemOutcome]]) -> list[list[str]]:
    """Each item's outcomes as list entries: when, outcome, detail, call, run.

    Rendered here rather than in a template because an order page can hold a
    thousand of them. They share a few runs and calls, and the outcomes of one
    batch share a timestamp, so each link and time is rendered once.
    """
    call_link, run_link, when = cache(_call_link), cache(_run_link), cache(_when)
    return [
        [
            format_html(
                '<li><span class="when">{}</span> {} <span class="what">{}</span>'
                "{}{}</li>",
                when(outcome.created),
                badge(outcome.outcome, outcome.get_outcome_display()),
                outcome_summary(outcome),
                call_link(outcome.api_call_id),
                run_link(outcome.run_id),
            )
            for outcome in history
        ]
        for history in histories
    ]


def line_rows(lines, histories, retry_url: str | None) -> list[str]:
    """Each line of an order page as its ``<tbody>``: the line, its item and
    the shown part of its history (``histories``, rendered by
    ``history_rows``).

    Rendered here rather than in the template, like the histories, and with
    ``escape`` on each value rather than ``format_html``: an order may have
    hundreds of lines. ``retry_url`` is the retry preview for those who may
    retry, else None.
    """
    rows = []
    for line, history in zip(lines, histories, strict=True):
        position = line.position
        rows.append(
            mark_safe(  # noqa: S308 (every value is escaped or already safe)
                f'<tbody class="line" id="line-{position}">\n      <tr>\n'
                f'        <th scope="row" class="num">{position}</th>\n'
                f"        <td><code>{escape(line.sku)}</code></td>\n"
                f"        <td>{escape(line.description)}</td>\n"
                f'        <td class="num">{line.quantity}</td>\n'
                f'        <td class="num">{_money(line.unit_price)}</td>\n'
                f'        <td class="num">{_money(line.amount)}</td>\n'
                f"        <td>{escape(_label(line, 'kind'))}</td>\n"
                f"        {_line_item_cells(line.sync_item, retry_url)}\n"
                f"      </tr>{_line_history(line, history)}\n    </tbody>"
            )
        )
    return rows


def _line_item_cells(item: SyncItem | None, retry_url: str | None) -> str:
    if item is None:
        return '<td colspan="4" class="muted">Not staged for HubSpot yet.</td>'
    reason = escape(item.reason)
    if item.reason_code:
        reason = f"<code>{escape(item.reason_code)}</code> {reason}"
    if item.next_step:
        reason += f'<br><span class="muted">Next: {escape(item.next_step)}</span>'
    return (
        f"<td>{badge(item.state, _label(item, 'state'))}</td>\n"
        f"        <td>{escape(item.hubspot_id or EMPTY)}</td>\n"
        f"        <td>{badge(item.association, _label(item, 'association'))}</td>\n"
        f'        <td class="prose">{reason} {_retry_button(item, retry_url)}</td>'
    )


def _money(value) -> str:
    """As ``floatformat:2`` shows an amount, without its per-call cost."""
    shown = str(Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP))
    return "0.00" if shown == "-0.00" else shown


def _label(instance, field: str) -> str:
    """``get_FOO_display()``, from a cached table of the field's choices."""
    return _choices(type(instance), field).get(getattr(instance, field), "")


@cache
def _choices(model, field: str) -> dict:
    return {
        value: str(label) for value, label in model._meta.get_field(field).flatchoices
    }


def _retry_button(item: SyncItem, retry_url: str | None) -> str:
    """As ``reconcile/_retry_button.html`` renders it, for items a retry can send."""
    if retry_url is None or item.state in (ItemState.VERIFIED, ItemState.EXCLUDED):
        return ""
    return format_html(
        '<form method="get" action="{}" class="inline">'
        '<input type="hidden" name="item" value="{}">'
        '<button type="submit">Retry…</button></form>',
        retry_url,
        item.pk,
    )


def _line_history(line, history: list[str]) -> str:
    """The line's latest outcome, with a link to its whole history; or, for
    the line unfolded (``?line=N``), its whole history."""
    if not history:
        return ""
    entries = mark_safe("".join(history))  # noqa: S308 (each is format_html's)
    count = line.outcome_count
    title = f"History of line {line.position} ({count} outcome{pluralize(count)})"
    if line.unfolded:
        body = format_html(
            "<details open>\n        <summary>{}</summary>\n"
            '        <ol class="history">{}</ol>\n'
            '        <p class="small"><a href="?#line-{}">Fold the history</a></p>\n'
            "      </details>",
            title,
            entries,
            line.position,
        )
    else:
        link = (
            format_html(
                '\n        <a class="small" href="?line={}#line-{}">{}</a>',
                line.position,
                line.position,
                title,
            )
            if count > 1
            else ""
        )
        body = format_html(
            '\n        <ol class="history latest" aria-label="Latest outcome of '
            'line {}">{}</ol>{}\n      ',
            line.position,
            entries,
            link,
        )
    return format_html(
        '\n      <tr class="history-row"><td colspan="11">{}</td></tr>', body
    )


def _call_link(pk: int | None) -> str:
    if pk is None:
        return ""
    url = reverse("reconcile:call-detail", args=[pk])
    return format_html(' · <a href="{}">call #{}</a>', url, pk)


def _run_link(pk: int | None) -> str:
    if pk is None:
        return ""
    url = reverse("reconcile:run-detail", args=[pk])
    return format_html(' · run <a href="{}">#{}</a>', url, pk)


def _when(moment: datetime) -> str:
    return date_format(localtime(moment), WHEN)


def outcome_summary(outcome: ItemOutcome) -> str:
    if outcome.api_call_id is None:
        return tally_decision(outcome)
    return summarise_detail(outcome.detail)


def latest_outcome_cell(outcome: ItemOutcome | None) -> str:
    if outcome is None:
        return EMPTY
    if outcome.api_call_id is None:
        return format_html(
            '<span class="decision">{}</span>', clipped(tally_decision(outcome))
        )
    return format_html(
        '{} <span class="detail">{}</span>',
        badge(outcome.outcome, outcome.get_outcome_display()),
        clipped(summarise_detail(outcome.detail)),
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


# A list counts its items up to this many and pages through that many; past
# it, a person sorts the other way, filters or exports (every row).
LIST_DEPTH = 50_000


def bounded_count(selection) -> int:
    """How many items the selection holds, counting no further than
    ``LIST_DEPTH`` + 1: counting millions of items takes a second or more."""
    return selection.order_by().values("pk")[: LIST_DEPTH + 1].count()


class ListData(TableQuerysetData):
    """A list's items for a table: counted up to ``LIST_DEPTH``, a page read by id.

    ``selection`` is the list's items in its order; ``shown(ids)`` gives the
    rows of those ids as the table shows them (joins and prefetches). A page
    reads its ids first, from the sort order's index alone, then only those
    rows: an OFFSET over the joins would read every skipped row's order and
    line. The rows are read by id alone, not through the list's filters
    again, so that no index of a filter tempts the database away from the
    primary key.

    ``capped`` is True when the list holds more than ``LIST_DEPTH`` items: its
    paginator then counts ``LIST_DEPTH`` and the page says so.
    """

    capped = False

    def __init__(self, selection, shown) -> None:
        super().__init__(selection)
        self.shown = shown

    def __len__(self) -> int:
        if getattr(self, "_length", None) is None:
            count = bounded_count(self.data)
            self.capped = count > LIST_DEPTH
            self._length = min(count, LIST_DEPTH)
        return self._length

    def __getitem__(self, key):
        if not isinstance(key, slice):
            return super().__getitem__(key)
        ids = list(self.data.values_list("pk", flat=True)[key])
        rows = {row.pk: row for row in self.shown(ids)}
        return [rows[pk] for pk in ids if pk in rows]


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
    items_total = tables.Column(verbose_name="Items", attrs=NUMBER)
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

    def render_items_total(self, value):
        return intcomma(value)

    def render_progress(self, record):
        done, total = record.batches_done, record.batches_total
        return format_html(
            '<progress max="{}" value="{}" aria-hidden="true"></progress> {}/{}',
            total or 1,
            done,
            intcomma(done),
            intcomma(total),
        )

    def render_duration(self, record):
        if record.duration is None and record.state == SyncRun.State.RUNNING:
            return "running"
        return format_duration(record.duration)


class SweepTable(DashboardTable):
    """Every reconciliation sweep: full ones and targeted re-checks."""

    id = tables.Column(verbose_name="Sweep")
    state = tables.Column()
    trigger = tables.Column()
    scope = tables.Column(verbose_name="Checks", orderable=False)
    progress = tables.Column(empty_values=(), orderable=False)
    calls = tables.Column(verbose_name="HubSpot calls", attrs=NUMBER)
    found = tables.Column(
        verbose_name="Found", accessor="counts", empty_values=(), orderable=False
    )
    started = tables.DateTimeColumn(format="j M Y H:i:s")
    finished = tables.DateTimeColumn(format="j M Y H:i:s")
    error = tables.Column(orderable=False, attrs={"td": {"class": "prose"}})

    class Meta(DashboardTable.Meta):
        model = Sweep
        fields = ()
        order_by = ("-created",)
        empty_text = (
            "No sweep yet. Sweeps run on a schedule; "
            "`python manage.py reconcile_hubspot` runs one now."
        )

    def render_id(self, value):
        return f"#{value}"

    def render_state(self, record, value):
        return badge(record.state, value)

    def render_scope(self, record):
        orders = record.scoped_orders
        if orders is None:
            return "everything"
        return f"{counted(len(orders), 'order')} (re-check)"

    def render_progress(self, record):
        return format_html(
            '<progress max="{}" value="{}" aria-hidden="true"></progress> {}/{} items',
            record.items_total or 1,
            record.items_checked,
            intcomma(record.items_checked),
            intcomma(record.items_total),
        )

    def render_calls(self, value):
        return intcomma(value)

    def render_found(self, record):
        counts = record.counts or {}
        if not counts:
            return EMPTY
        labels = _attention_labels()
        found = [
            f"{labels[slug]} {intcomma(n)}"
            for slug, n in counts.items()
            if slug in labels and n
        ]
        text = "; ".join(found) or "nothing out of step"
        # Counts are of everything at the end of the sweep; a targeted
        # re-check looked at its orders only, and must not seem to have found
        # the rest.
        return f"In all, after it: {text}" if record.scoped_orders else text

    def render_error(self, value):
        return clipped(value)


@cache
def _attention_labels() -> dict[str, str]:
    """Each category that needs attention: its slug and label."""
    return {c.slug: c.label for c in categories.CATEGORIES if c.attention}


class WebhookEventTable(DashboardTable):
    """HubSpot's webhook events as stored, newest first, with what Tally did."""

    received = tables.DateTimeColumn(format="j M Y H:i:s")
    subscription_type = tables.Column(verbose_name="Event")
    object_id = tables.Column(verbose_name="HubSpot ID")
    property_name = tables.Column(verbose_name="Property", orderable=False)
    property_value = tables.Column(verbose_name="New value", orderable=False)
    change_source = tables.Column(verbose_name="Source", orderable=False)
    occurred_at = tables.DateTimeColumn(verbose_name="In HubSpot", format="j M Y H:i:s")
    state = tables.Column()
    detail = tables.Column(
        verbose_name="What Tally did", orderable=False, attrs={"td": {"class": "prose"}}
    )

    class Meta(DashboardTable.Meta):
        model = WebhookEvent
        fields = ()
        order_by = ("-received",)
        empty_text = (
            "No webhook events yet. HubSpot sends them to /hubspot/webhooks/ once "
            "the app subscribes (docs/webhooks.md)."
        )

    def __init__(self, data, state: str = "", **kwargs) -> None:
        if state in WebhookEvent.State.values:
            # Filtered to one state, an empty page says nothing of the other
            # events: "none yet" would be wrong while there are some.
            kwargs.setdefault(
                "empty_text",
                format_html(
                    'No {} events. <a href="{}">Show all events</a>.',
                    WebhookEvent.State(state).label.lower(),
                    reverse("reconcile:webhook-list"),
                ),
            )
        super().__init__(data, **kwargs)

    def render_state(self, record, value):
        return badge(record.state, value)

    def render_object_id(self, record, value):
        # The ID comes from HubSpot's payload: encoded, whatever it holds stays
        # the search's value and cannot add parameters of its own.
        url = f"{reverse('reconcile:item-list')}?{urlencode({'q': value})}"
        return format_html('<a href="{}">{}</a>', url, value)

    def render_property_value(self, value):
        return clipped(value, 60)

    def render_detail(self, value):
        return clipped(value)


class BatchTable(DashboardTable):
    id = tables.Column(verbose_name="Batch")
    kind = tables.Column()
    state = tables.Column()
    item_count = tables.Column(
        verbose_name="Items", accessor="item_ids", orderable=False, attrs=NUMBER
    )
    call_count = tables.Column(verbose_name="Calls", attrs=NUMBER)
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
        return intcomma(len(value))

    def render_call_count(self, value):
        return intcomma(value)

    def render_error(self, value):
        return clipped(value)


class SelectColumn(tables.CheckBoxColumn):
    """A checkbox per row named ``item`` (the bulk actions' parameter)."""

    @property
    def header(self):
        return self.verbose_name


def select_column() -> SelectColumn:
    return SelectColumn(
        accessor="pk",
        verbose_name="Select",
        attrs={"td__input": {"aria-label": lambda record: f"Select {record.key}"}},
    )


class ItemRenderers:
    """The cells the item tables share (``ItemTable``, ``CategoryItemTable``)."""

    def render_state(self, record, value):
        return badge(record.state, value)

    def render_association(self, record, value):
        if record.object_type == ObjectType.DEAL:
            return EMPTY
        return badge(record.association, value)

    def render_reason(self, value):
        return clipped(value)

    def render_next_step(self, value):
        return clipped(value)

    def render_attempts(self, value):
        return intcomma(value)


class ItemTable(ItemRenderers, DashboardTable):
    item = select_column()
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
    attempts = tables.Column(attrs=NUMBER)
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

    def render_answered(self, value):
        return latest_outcome_cell(value[0] if value else None)


def _order_link(record: SyncItem) -> str:
    """The item's order number, linked to the order page (at the line)."""
    url = order_url(record)
    if url is None:
        return EMPTY
    if record.object_type == ObjectType.DEAL:
        order = record.order
    else:
        order = record.line_item.order
    return format_html('<a href="{}">{}</a>', url, order.number)


def differences_cell(outcome: ItemOutcome | None) -> str:
    """Each differing field: store value, HubSpot value, when HubSpot changed it."""
    detail = outcome.detail if outcome else {}
    fields = detail.get("mismatches") or detail.get("diffs") or {}
    if not isinstance(fields, dict) or not fields:
        return EMPTY
    rows = []
    for name in sorted(fields):
        values = fields[name] if isinstance(fields[name], dict) else {}
        moment = changed_at(values.get("changed_at"))
        rows.append(
            format_html(
                '<tr><th scope="row">{}</th><td class="store">{}</td>'
                '<td class="hubspot">{}</td><td class="when">{}</td></tr>',
                name,
                _shown_value(values.get("store")),
                _shown_value(values.get("hubspot")),
                _when(moment) if moment else EMPTY,
            )
        )
    return format_html(
        '<table class="diff"><thead><tr><th scope="col">Field</th>'
        '<th scope="col">Store</th><th scope="col">HubSpot</th>'
        '<th scope="col">HubSpot changed</th></tr></thead><tbody>{}</tbody></table>',
        mark_safe("".join(rows)),  # noqa: S308 (each row is format_html's)
    )


def _shown_value(value) -> str:
    if value is None:
        return EMPTY
    return clipped(value if isinstance(value, str) else json.dumps(value))


def last_attempt_cell(outcome: ItemOutcome | None) -> str:
    if outcome is None:
        return EMPTY
    return format_html(
        '<span class="when">{}</span> {}',
        _when(outcome.created),
        badge(outcome.outcome, outcome.get_outcome_display()),
    )


class CategoryItemTable(ItemRenderers, DashboardTable):
    """The items of one category, with the columns that matter for it.

    Sortable by the columns an index serves (or that a small list holds few
    of): a category may hold millions of items.
    """

    item = select_column()
    key = tables.Column()
    order = tables.Column(accessor="pk", orderable=False, verbose_name="Order")
    object_type = tables.Column(verbose_name="Type", attrs={"td": {"class": "nowrap"}})
    state = tables.Column(orderable=False)
    hubspot_id = tables.Column(verbose_name="HubSpot ID")
    association = tables.Column(orderable=False)
    differences = tables.Column(
        accessor="latest_mismatches",
        empty_values=(),
        orderable=False,
        verbose_name="Differences",
    )
    reason_code = tables.Column(
        verbose_name="Reason code", attrs={"td": {"class": "code"}}
    )
    reason = tables.Column(orderable=False, attrs={"td": {"class": "prose"}})
    next_step = tables.Column(orderable=False, attrs={"td": {"class": "prose"}})
    last_attempt = tables.Column(
        accessor="latest_outcomes",
        empty_values=(),
        orderable=False,
        verbose_name="Last attempt",
        attrs={"td": {"class": "nowrap"}},
    )
    attempts = tables.Column(attrs=NUMBER, orderable=False)
    state_changed = tables.DateTimeColumn(verbose_name="Since", format="Y-m-d H:i")

    class Meta(DashboardTable.Meta):
        model = SyncItem
        fields = ()
        attrs = {"class": "data items"}
        empty_text = "No items match."

    def render_order(self, record):
        return _order_link(record)

    def render_differences(self, value):
        return differences_cell(value[0] if value else None)

    def render_last_attempt(self, value):
        return last_attempt_cell(value[0] if value else None)


class OrphanTable(DashboardTable):
    object_type = tables.Column(verbose_name="Type")
    hubspot_id = tables.Column(verbose_name="HubSpot ID")
    store_key = tables.Column(verbose_name="Store key")
    first_seen = tables.DateTimeColumn(format="Y-m-d H:i")
    last_seen = tables.DateTimeColumn(format="Y-m-d H:i")

    class Meta(DashboardTable.Meta):
        model = Orphan
        fields = ()
        empty_text = (
            "No orphans: HubSpot holds no record with a store key unknown here."
        )

    def render_object_type(self, value):
        return dict(ObjectType.choices).get(value, value)


class OrderProblemTable(DashboardTable):
    order = tables.Column(order_by=("order__number", "pk"))
    code = tables.Column(verbose_name="Problem")
    store_value = tables.Column(verbose_name="Store value")
    hubspot_value = tables.Column(verbose_name="HubSpot value")
    next_step = tables.Column(
        empty_values=(), orderable=False, attrs={"td": {"class": "prose"}}
    )
    found = tables.DateTimeColumn(format="Y-m-d H:i")

    class Meta(DashboardTable.Meta):
        model = OrderProblem
        fields = ()
        empty_text = "No order problems: every checked order adds up in HubSpot."

    def render_order(self, value):
        url = reverse("reconcile:order-detail", args=[value.pk])
        return format_html('<a href="{}">{}</a>', url, value.number)

    def render_code(self, record, value):
        return format_html('<span class="code">{}</span> {}', record.code, value)

    def render_next_step(self, record):
        return record.next_step
