"""CSV reports: every row and column of a list, streamed in constant memory.

A report is an iterable of bytes: UTF-8 with a byte-order mark (so that
spreadsheets read it as UTF-8), a header row, then the rows, read from one
query in chunks and encoded a few hundred rows at a time. The web exports and
``manage.py export_report`` iterate the same object, so they write the same
bytes for the same selection.

Formula injection: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return gets a leading apostrophe, so that a spreadsheet shows it
as text instead of running it. Numbers stored as numbers (attempts) are
written as they are. The order problems' store and HubSpot values are text
that often holds an amount; there a plain number such as ``-15.30`` (an
optional minus, digits, an optional decimal part, nothing else) stays as it
is, because no spreadsheet reads that as a formula; anything else starting
with ``-`` is neutralised like any other text.
"""

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from django.db.models import Case, OuterRef, Subquery, TextField, Value, When
from django.db.models.functions import Cast, Coalesce, Concat
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from hubspot_sync.models import (
    Association,
    ItemOutcome,
    ItemState,
    ObjectType,
    Outcome,
)
from reconcile.filters import filtered_items, readable
from reconcile.models import OrderProblem, Orphan, Store

BOM = "\ufeff"
FORMULA_START = frozenset("=+-@\t\r")
PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
# Rows fetched from the database at a time, and encoded and sent at a time.
FETCH_ROWS = 2000
SEND_ROWS = 500
WHEN = "%Y-%m-%d %H:%M:%S"

ITEM_HEADER = (
    "Key",
    "Type",
    "Order",
    "Store",
    "SKU",
    "State",
    "HubSpot ID",
    "Association",
    "Differing fields",
    "Store values",
    "HubSpot values",
    "HubSpot changed (UTC)",
    "Reason code",
    "Reason",
    "Next step",
    "Attempts",
    "Last attempt (UTC)",
    "Last outcome",
    "State since (UTC)",
)
ORPHAN_HEADER = (
    "Type",
    "HubSpot ID",
    "Store key",
    "First seen (UTC)",
    "Last seen (UTC)",
    "HubSpot properties",
)
ORDER_PROBLEM_HEADER = (
    "Order",
    "Store",
    "Code",
    "Problem",
    "Store value",
    "HubSpot value",
    "Found (UTC)",
)

# The reports of ``manage.py export_report``: a name, and the item category
# it lists (None: every item) or the slug of orphans or order problems.
COMMAND_REPORTS = {
    "items": None,
    "mismatches": "mismatch",
    "unreported": "unreported",
    "failures": "failed",
    "orphans": "orphan",
    "order-problems": "order-problem",
}


def neutralise(text: str) -> str:
    """The text as a spreadsheet must show it: never as a formula."""
    if text and text[0] in FORMULA_START:
        return "'" + text
    return text


def neutralise_number(text: str) -> str:
    """Like ``neutralise``, but a plain number (``-15.30``) stays a number."""
    if PLAIN_NUMBER.fullmatch(text):
        return text
    return neutralise(text)


class Report:
    """A CSV file as an iterable of bytes; ``rows_written`` counts once it is done."""

    def __init__(self, name: str, header: Iterable[str], rows: Iterable[list]):
        self.name = name
        self.header = list(header)
        self.rows = rows
        self.rows_written = 0

    def __iter__(self) -> Iterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(self.header)
        yield (BOM + _drain(buffer)).encode()
        for count, row in enumerate(self.rows, start=1):
            writer.writerow(row)
            self.rows_written = count
            if count % SEND_ROWS == 0:
                yield _drain(buffer).encode()
        rest = _drain(buffer)
        if rest:
            yield rest.encode()

    @property
    def filename(self) -> str:
        return f"tally-{self.name}-{timezone.localdate():%Y-%m-%d}.csv"


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def response(report: Report) -> StreamingHttpResponse:
    """The report as a download, streamed as it is read."""
    answer = StreamingHttpResponse(report, content_type="text/csv; charset=utf-8")
    answer["Content-Disposition"] = f'attachment; filename="{report.filename}"'
    return answer


def for_category(slug: str, params) -> Report:
    """The report of one category's list; ``params`` filter item categories.

    KeyError for an unknown slug.
    """
    if slug == "orphan":
        return orphans()
    if slug == "order-problem":
        return order_problems()
    return items(params, slug)


def items(params, category: str | None = None) -> Report:
    """The items ``filtered_items(params, category)`` selects, by store key."""
    selection = filtered_items(params, category).qs
    if category:
        selection, _ = readable(selection)
    return Report(category or "items", ITEM_HEADER, _item_rows(selection))


def _item_rows(selection) -> Iterator[list]:
    stores = dict(Store.objects.values_list("pk", "name"))
    types, states = dict(ObjectType.choices), dict(ItemState.choices)
    associations, outcomes = dict(Association.choices), dict(Outcome.choices)
    rows = (
        _with_outcomes(selection)
        .order_by("key")
        .values_list(
            "key",
            "object_type",
            "order_number",
            "store_id",
            "line_item__sku",
            "state",
            "hubspot_id",
            "association",
            "mismatch",
            "reason_code",
            "reason",
            "next_step",
            "attempts",
            "last_attempt",
            "since",
        )
    )
    for (
        key,
        object_type,
        number,
        store_id,
        sku,
        state,
        hubspot_id,
        association,
        mismatch,
        reason_code,
        reason,
        next_step,
        attempts,
        last_attempt,
        since,
    ) in rows.iterator(chunk_size=FETCH_ROWS):
        if last_attempt:
            last_outcome = outcomes.get(last_attempt.rpartition(" ")[2], "")
        else:
            last_outcome = ""
        yield [
            neutralise(key),
            types.get(object_type, object_type),
            neutralise(number or ""),
            neutralise(stores.get(store_id, "")),
            neutralise(sku or ""),
            states.get(state, state),
            neutralise(hubspot_id),
            associations.get(association, association),
            *_differences(mismatch),
            neutralise(reason_code),
            neutralise(reason),
            neutralise(next_step),
            attempts,
            last_attempt[:19] if last_attempt else "",
            last_outcome,
            since[:19],
        ]


def _with_outcomes(selection):
    """Items with their order and store, latest outcome and latest mismatch.

    Correlated subqueries on the outcomes' item index: the cost grows with
    the rows exported, not with every outcome stored. Times come as text
    ("YYYY-MM-DD HH:MM:SS…" in UTC on SQLite and PostgreSQL alike) and the
    latest outcome's time and kind as one "time outcome" text, so that no row
    pays for a datetime object or a second subquery.
    """
    latest = ItemOutcome.objects.filter(item=OuterRef("pk")).order_by("-pk")
    last = latest.annotate(
        text=Concat(_text("created"), Value(" "), "outcome", output_field=TextField())
    )
    mismatch = latest.filter(outcome=Outcome.MISMATCH).annotate(text=_text("detail"))
    return selection.annotate(
        order_number=Coalesce("order__number", "line_item__order__number"),
        store_id=Coalesce("order__store_id", "line_item__order__store_id"),
        last_attempt=Subquery(last.values("text")[:1], output_field=TextField()),
        mismatch=Case(
            When(state=ItemState.MISMATCH, then=Subquery(mismatch.values("text")[:1])),
            output_field=TextField(),
        ),
        since=_text("state_changed"),
    )


def _text(field: str) -> Cast:
    return Cast(field, output_field=TextField())


def _differences(detail: str | None) -> list[str]:
    """Differing fields, store values, HubSpot values and when HubSpot changed them.

    From a mismatch outcome's detail (JSON text): its ``mismatches`` (the sync
    and the sweeps) or ``diffs``, {field: {"store", "hubspot", and from sweeps
    "changed_at", "source"}}.
    """
    if not detail:
        return ["", "", "", ""]
    parsed = json.loads(detail)
    fields = {}
    if isinstance(parsed, dict):
        fields = parsed.get("mismatches") or parsed.get("diffs") or {}
    if not isinstance(fields, dict) or not fields:
        return ["", "", "", ""]
    names = sorted(fields)
    values = [fields[name] if isinstance(fields[name], dict) else {} for name in names]
    changes = [_change(name, value) for name, value in zip(names, values, strict=True)]
    return [
        neutralise("; ".join(names)),
        neutralise(_pairs(names, values, "store")),
        neutralise(_pairs(names, values, "hubspot")),
        neutralise("; ".join(change for change in changes if change)),
    ]


def _pairs(names: list[str], values: list[dict], side: str) -> str:
    return "; ".join(
        f"{name}: {_plain(value.get(side))}"
        for name, value in zip(names, values, strict=True)
    )


def _plain(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _change(name: str, value: dict) -> str:
    moment = changed_at(value.get("changed_at"))
    if moment is None:
        return ""
    source = value.get("source")
    text = f"{name}: {moment:{WHEN}}"
    return f"{text} ({source})" if source else text


def changed_at(value) -> datetime | None:
    """When HubSpot changed a field: ISO 8601 or epoch milliseconds, as HubSpot says."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float) or str(value).isdigit():
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    moment = parse_datetime(str(value).replace("Z", "+00:00"))
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).strftime(WHEN)


def orphans() -> Report:
    """Every orphan, by store key."""
    types = dict(ObjectType.choices)
    rows = Orphan.objects.order_by("store_key", "hubspot_id", "pk").values_list(
        "object_type",
        "hubspot_id",
        "store_key",
        "first_seen",
        "last_seen",
        "properties",
    )
    return Report(
        "orphan",
        ORPHAN_HEADER,
        (
            [
                neutralise(types.get(object_type, object_type)),
                neutralise(hubspot_id),
                neutralise(store_key),
                _when(first_seen),
                _when(last_seen),
                neutralise(_properties(properties)),
            ]
            for object_type, hubspot_id, store_key, first_seen, last_seen, properties in (
                rows.iterator(chunk_size=FETCH_ROWS)
            )
        ),
    )


def _properties(properties) -> str:
    if not properties:
        return ""
    return json.dumps(properties, ensure_ascii=False, sort_keys=True)


def order_problems() -> Report:
    """Every order problem, by order number."""
    labels = dict(OrderProblem.Code.choices)
    rows = OrderProblem.objects.order_by("order__number", "code", "pk").values_list(
        "order__number",
        "order__store__name",
        "code",
        "store_value",
        "hubspot_value",
        "found",
    )
    return Report(
        "order-problem",
        ORDER_PROBLEM_HEADER,
        (
            [
                neutralise(number),
                neutralise(store),
                neutralise(code),
                labels.get(code, ""),
                neutralise_number(store_value),
                neutralise_number(hubspot_value),
                _when(found),
            ]
            for number, store, code, store_value, hubspot_value, found in (
                rows.iterator(chunk_size=FETCH_ROWS)
            )
        ),
    )
