"""Read a store's order export and write it into Tally as orders and lines.

A file is read and checked in full before anything is written: one bad row
refuses the whole file, so the database never holds half of one. Writing is
one transaction that also stages every created or changed order for sync.
docs/importing.md explains each decision about the data's quirks.
"""

import csv
import functools
import gzip
import logging
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from hubspot_sync.models import SyncItem
from reconcile import mapping
from reconcile.models import LineItem, Order, Store

logger = logging.getLogger(__name__)

MAX_PROBLEMS_SHOWN = 20
CHUNK = 500
GZIP_MAGIC = b"\x1f\x8b"
STORE_TIME_ZONE = ZoneInfo("Europe/London")

# The UCI "Online Retail" export, as in the Spark book's copy of it.
ONLINE_RETAIL = "online-retail"
COLUMNS = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
CREDIT_NOTE_PREFIX = "C"
SERVICE_CODES = {
    "POST": LineItem.Kind.POSTAGE,
    "DOT": LineItem.Kind.POSTAGE,
    "C2": LineItem.Kind.POSTAGE,
    "AMAZONFEE": LineItem.Kind.FEE,
    "BANK CHARGES": LineItem.Kind.FEE,
    "D": LineItem.Kind.DISCOUNT,
    "M": LineItem.Kind.MANUAL,
    "S": LineItem.Kind.SAMPLE,
}
VOUCHER_PREFIX = "GIFT_0001_"

INVOICE_RE = re.compile(r"([A-Z]?)(\d{1,31})")
WHOLE_RE = re.compile(r"-?\d+")
PRICE_RE = re.compile(r"-?(\d+)(?:\.(\d+))?")
CUSTOMER_RE = re.compile(r"(\d{1,32})(?:\.0+)?")
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
# HubSpot refuses a year-1 close date; nothing a shop sells is outside these.
FIRST_DATE, LAST_DATE = date(1970, 1, 1), date(2100, 12, 31)
MAX_INTEGER = 2**31 - 1
PRICE_DIGITS = 11  # before the point: LineItem.unit_price is 14 digits, 3 decimals
# Longer than any column allows, far shorter than csv's field limit.
LONG_FIELD = 1000
LONG_RUN_RE = re.compile(r'[^,"\r\n]{1001,}')  # over LONG_FIELD
UNDECODED_RE = re.compile("[\udc80-\udcff]")
NUL_RE = re.compile("\x00")


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a file is refused; ``line`` is None for the file as a whole."""

    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = [] if self.line is None else [f"line {self.line}"]
        if self.column:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class ImportRefused(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__(self.describe())

    def describe(self) -> str:
        shown = [str(problem) for problem in self.problems[:MAX_PROBLEMS_SHOWN]]
        hidden = len(self.problems) - len(shown)
        if hidden:
            shown.append(f"and {hidden} more")
        return "\n".join(shown)


@dataclass(slots=True)
class Row:
    line: int
    invoice: str
    sku: str
    description: str
    quantity: int
    placed_at: datetime
    unit_price: Decimal
    customer_id: str
    country: str
    kind: str


@dataclass
class Invoice:
    number: str
    kind: str
    customer_id: str
    country: str
    placed_at: datetime
    rows: list[Row]


@dataclass(frozen=True)
class FileFormat:
    name: str
    parse: Callable[[BinaryIO], Iterator[Row | Problem]]
    store_slug: str
    store_name: str


@dataclass
class ImportResult:
    store: Store
    rows: int = 0
    orders_created: int = 0
    orders_updated: int = 0
    orders_unchanged: int = 0
    lines_created: int = 0
    lines_updated: int = 0
    lines_deleted: int = 0
    lines_unchanged: int = 0
    credit_notes: int = 0
    stock_adjustments: int = 0
    staged: mapping.StageResult = field(default_factory=mapping.StageResult)


# Parsing: bytes in, validated rows or problems out.


# A problem found while decoding a line, and the pattern of the text that
# caused it, to find its column once the line is split into fields.
Undecoded = tuple[Problem, re.Pattern]


def parse_online_retail(stream: BinaryIO) -> Iterator[Row | Problem]:
    """Yield one Row per good data row and a Problem for everything wrong."""
    decoding: list[Undecoded] = []
    reader = csv.reader(_decode(stream, decoding))
    try:
        yield from _parse_records(reader, decoding)
    except csv.Error as exc:
        yield _unreadable(reader.line_num, exc, decoding)
    except (OSError, EOFError, zlib.error) as exc:
        yield Problem(None, None, f"not a readable text or gzip file: {exc}")


def _decode(stream: BinaryIO, problems: list[Undecoded]) -> Iterator[str]:
    for number, data in enumerate(stream, start=1):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            bad = data[exc.start : exc.start + 1]
            message = f"byte {exc.start + 1} ({bad!r}) is not UTF-8 text"
            problems.append((Problem(number, None, message), UNDECODED_RE))
            # Bad bytes become lone surrogates, which UTF-8 text never holds.
            text = data.decode("utf-8", errors="surrogateescape")
        if "\x00" in text:
            problems.append((Problem(number, None, "contains a NUL byte"), NUL_RE))
        if len(text) > LONG_FIELD:
            text = _shorten(text)
        yield text.removeprefix("\ufeff") if number == 1 else text


def _shorten(text: str) -> str:
    # csv refuses a field over 128 KiB without saying which one. Cutting long
    # runs between commas and quotes keeps every field where it was and still
    # longer than its column allows, so the row's checks name the column.
    return LONG_RUN_RE.sub(lambda match: match[0][: LONG_FIELD + 1], text)


def _unreadable(line: int, exc: csv.Error, decoding: list[Undecoded]) -> Problem:
    reason = str(exc)
    if decoding:
        reason = decoding[0][0].message
    elif reason.startswith("new-line character seen in unquoted field"):
        reason = (
            "a carriage return (CR) without a line feed: "
            "old Mac line ends, or not a text file"
        )
    elif reason.startswith("field larger than field limit"):
        reason = f"a field is longer than {csv.field_size_limit():,} characters"
    if line <= 1:
        return _not_csv(reason)
    return Problem(line, None, f"not readable as CSV ({reason})")


def _not_csv(reason: str) -> Problem:
    return Problem(1, None, f"not a CSV file in the {ONLINE_RETAIL} format ({reason})")


def _parse_records(reader: Any, decoding: list[Undecoded]) -> Iterator[Row | Problem]:
    header = next(reader, None)
    if header is None:
        yield Problem(None, None, "the file is empty (expected a header row)")
        return
    if decoding:
        yield _not_csv(decoding[0][0].message)
        return
    columns, header_problems = _read_header(header)
    if header_problems:
        yield from header_problems
        return

    last_line, found = 1, False
    for fields in reader:
        line, last_line = last_line + 1, reader.line_num
        yield from _in_columns(decoding, fields, columns, line == last_line)
        decoding.clear()
        if fields:
            found = True
            yield from _parse_row(line, fields, columns)
    if not found:
        yield Problem(None, None, "the file has a header row but no orders")


def _in_columns(
    decoding: list[Undecoded],
    fields: list[str],
    columns: dict[str, int],
    one_line: bool,
) -> Iterator[Problem]:
    """Name the column of each decoding problem when the fields tell it."""
    for problem, pattern in decoding:
        hits = [
            name
            for name, index in columns.items()
            if index < len(fields) and pattern.search(fields[index])
        ]
        # On one line the first hit holds the first bad byte, which the
        # message names; across lines only a single hit is certain.
        if len(hits) == 1 or (hits and one_line):
            problem = replace(problem, column=hits[0])
        yield problem


def _read_header(header: list[str]) -> tuple[dict[str, int], list[Problem]]:
    names = [name.strip() for name in header]
    problems = []
    missing = [column for column in COLUMNS if column not in names]
    if missing:
        problems.append(Problem(1, None, f"missing columns: {', '.join(missing)}"))
    unknown = [name for name in names if name not in COLUMNS]
    if unknown:
        listed = ", ".join(_show(name) for name in unknown)
        problems.append(Problem(1, None, f"unexpected columns: {listed}"))
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        problems.append(Problem(1, None, f"repeated columns: {', '.join(repeated)}"))
    return {name: index for index, name in enumerate(names)}, problems


def _parse_row(
    line: int, fields: list[str], columns: dict[str, int]
) -> Iterator[Row | Problem]:
    if len(fields) != len(columns):
        yield Problem(
            line, None, f"expected {len(columns)} fields, found {len(fields)}"
        )
        return

    values, problems = {}, []
    for column, (name, parse) in FIELD_PARSERS.items():
        try:
            values[name] = parse(fields[columns[column]].strip())
        except ValueError as exc:
            problems.append(Problem(line, column, str(exc)))
    if problems:
        yield from problems
        return
    yield Row(line=line, kind=line_kind(values["sku"]), **values)


def _show(raw: str) -> str:
    return repr(raw if len(raw) <= 40 else raw[:40] + "…")


def _invoice_number(raw: str) -> str:
    if not raw:
        raise ValueError("is empty")
    match = INVOICE_RE.fullmatch(raw)
    if not match:
        raise ValueError(f"{_show(raw)} is not an invoice number (digits, C prefix)")
    if match[1] not in ("", CREDIT_NOTE_PREFIX):
        raise ValueError(f"{_show(raw)} has an unknown invoice prefix {match[1]!r}")
    return raw


def _sku(raw: str) -> str:
    if not raw:
        raise ValueError("is empty")
    return _limited(raw.upper(), 64)


def _description(raw: str) -> str:
    return _limited(raw, 300)


def _country(raw: str) -> str:
    return _limited(raw, 64)


def _limited(value: str, length: int) -> str:
    if len(value) > length:
        raise ValueError(f"{_show(value)} is longer than {length} characters")
    return value


def _quantity(raw: str) -> int:
    if not WHOLE_RE.fullmatch(raw):
        raise ValueError(f"{_show(raw)} is not a whole number")
    value = int(raw)
    if value == 0:
        raise ValueError(f"{_show(raw)} is zero; a line needs a quantity")
    if abs(value) > MAX_INTEGER:
        raise ValueError(f"{_show(raw)} is too large")
    return value


@functools.lru_cache(maxsize=4096)
def _placed_at(raw: str) -> datetime:
    # UK local time. zoneinfo's fold=0 reads the autumn hour that happens
    # twice as the first (BST) one, and a spring hour that never happened
    # with the offset from before the change (GMT).
    try:
        naive = datetime.strptime(raw, DATE_FORMAT)
    except ValueError:
        message = f"{_show(raw)} is not a date and time like 2010-12-01 08:26:00"
        raise ValueError(message) from None
    if not FIRST_DATE <= naive.date() <= LAST_DATE:
        raise ValueError(f"{_show(raw)} is not between {FIRST_DATE} and {LAST_DATE}")
    return naive.replace(tzinfo=STORE_TIME_ZONE)


def _unit_price(raw: str) -> Decimal:
    match = PRICE_RE.fullmatch(raw)
    if not match:
        raise ValueError(f"{_show(raw)} is not a price like 2.55")
    if len(match[1].lstrip("0")) > PRICE_DIGITS:
        message = (
            f"{_show(raw)} is too large "
            f"(at most {PRICE_DIGITS} digits before the decimal point)"
        )
        raise ValueError(message)
    if match[2] and len(match[2]) > 3:
        raise ValueError(f"{_show(raw)} has more than 3 decimal places")
    return Decimal(raw)


def _customer_id(raw: str) -> str:
    # The export writes customer numbers as floats: 17850.0.
    if not raw:
        return ""
    match = CUSTOMER_RE.fullmatch(raw)
    if not match:
        raise ValueError(f"{_show(raw)} is not a whole customer number")
    return match[1]


FIELD_PARSERS: dict[str, tuple[str, Callable[[str], object]]] = {
    "InvoiceNo": ("invoice", _invoice_number),
    "StockCode": ("sku", _sku),
    "Description": ("description", _description),
    "Quantity": ("quantity", _quantity),
    "InvoiceDate": ("placed_at", _placed_at),
    "UnitPrice": ("unit_price", _unit_price),
    "CustomerID": ("customer_id", _customer_id),
    "Country": ("country", _country),
}


def line_kind(sku: str) -> str:
    """Return the LineItem kind for a stripped, upper-case SKU."""
    if sku in SERVICE_CODES:
        return SERVICE_CODES[sku]
    if sku.startswith(VOUCHER_PREFIX):
        return LineItem.Kind.VOUCHER
    return LineItem.Kind.PRODUCT


# Grouping: rows into invoices, with the checks that need a whole invoice.


def group_invoices(rows: Iterable[Row]) -> tuple[list[Invoice], list[Problem]]:
    by_number: dict[str, list[Row]] = {}
    for row in rows:
        by_number.setdefault(row.invoice, []).append(row)

    invoices, problems = [], []
    for number, invoice_rows in by_number.items():
        problem = _sign_problem(number, invoice_rows)
        if problem:
            problems.append(problem)
        else:
            invoices.append(_invoice(number, invoice_rows))
    return invoices, problems


def _sign_problem(number: str, rows: list[Row]) -> Problem | None:
    negative = rows[0].quantity < 0
    for row in rows:
        if (row.quantity < 0) != negative:
            message = f"invoice {number} mixes positive and negative quantities"
            return Problem(row.line, "Quantity", message)
    if number.startswith(CREDIT_NOTE_PREFIX) and not negative:
        message = f"credit note {number} has positive quantities"
        return Problem(rows[0].line, "Quantity", message)
    return None


def _invoice(number: str, rows: list[Row]) -> Invoice:
    if number.startswith(CREDIT_NOTE_PREFIX):
        kind = Order.Kind.CREDIT_NOTE
    elif rows[0].quantity < 0:
        kind = Order.Kind.STOCK_ADJUSTMENT
    else:
        kind = Order.Kind.SALE
    first = rows[0]
    placed_at = min(row.placed_at for row in rows)
    return Invoice(number, kind, first.customer_id, first.country, placed_at, rows)


FORMATS: dict[str, FileFormat] = {
    ONLINE_RETAIL: FileFormat(
        name=ONLINE_RETAIL,
        parse=parse_online_retail,
        store_slug="online-retail",
        store_name="Online Retail (UK gift-ware)",
    ),
}


def read_invoices(path: Path, file_format: FileFormat) -> list[Invoice]:
    """Return the file's invoices, or raise ImportRefused with every problem."""
    rows, problems = [], []
    with _open(path) as stream:
        for item in file_format.parse(stream):
            (problems if isinstance(item, Problem) else rows).append(item)
    invoices, invoice_problems = group_invoices(rows)
    problems += invoice_problems
    if problems:
        problems.sort(key=lambda problem: problem.line or 0)
        raise ImportRefused(problems)
    return invoices


def _open(path: Path) -> BinaryIO:
    # By content, not by name: a .csv.gz that is plain text still imports.
    with path.open("rb") as probe:
        compressed = probe.read(2) == GZIP_MAGIC
    return gzip.open(path, "rb") if compressed else path.open("rb")


# Writing: one transaction, bulk queries, only what changed.

LINE_FIELDS = ("sku", "description", "quantity", "unit_price", "kind", "source_row")
ORDER_FIELDS = ("kind", "customer_id", "country", "placed_at", "currency")


def import_file(
    path: Path, file_format: FileFormat, store_slug: str, store_name: str
) -> ImportResult:
    """Import the file into the store; raise ImportRefused if it has problems."""
    invoices = read_invoices(path, file_format)
    with transaction.atomic():
        store = _store(store_slug, store_name)
        return OrderWriter(store).write(invoices)


def _store(slug: str, name: str) -> Store:
    defaults = {"name": name, "currency": settings.TALLY_STORE_CURRENCY}
    return Store.objects.get_or_create(slug=slug, defaults=defaults)[0]


class OrderWriter:
    """Make a store's orders match a file's invoices, then stage what changed.

    Orders not in the file are left alone. Relies on bulk_create setting
    primary keys, as it does on SQLite 3.35+ and PostgreSQL.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.result = ImportResult(store=store)
        self.orders: dict[str, Order] = {}
        self.created: list[Order] = []
        self.changed: dict[str, Order] = {}
        self.relinked: list[int] = []
        self.now = timezone.now()

    def write(self, invoices: list[Invoice]) -> ImportResult:
        self._count(invoices)
        self._write_orders(invoices)
        self._write_lines(invoices)
        self._save_changed_orders()
        self._restage_returned()
        self._stage()
        if self.relinked:
            logger.warning(
                "Store %s: reused %d sync items left by deleted orders or lines",
                self.store.slug,
                len(self.relinked),
            )
        return self.result

    def _count(self, invoices: list[Invoice]) -> None:
        kinds = [invoice.kind for invoice in invoices]
        self.result.credit_notes = kinds.count(Order.Kind.CREDIT_NOTE)
        self.result.stock_adjustments = kinds.count(Order.Kind.STOCK_ADJUSTMENT)
        self.result.rows = sum(len(invoice.rows) for invoice in invoices)

    def _write_orders(self, invoices: list[Invoice]) -> None:
        self.orders = self._load_orders([invoice.number for invoice in invoices])
        for invoice in invoices:
            values = _order_values(self.store, invoice)
            order = self.orders.get(invoice.number)
            if order is None:
                order = Order(store=self.store, number=invoice.number, **values)
                self._relink(order)
                self.created.append(order)
                self.orders[order.number] = order
            elif _apply(order, values):
                self.changed[order.number] = order

        Order.objects.bulk_create(self.created, batch_size=CHUNK)
        self.result.orders_created = len(self.created)

    def _load_orders(self, numbers: list[str]) -> dict[str, Order]:
        orders = {}
        for chunk in _chunks(numbers):
            for order in Order.objects.filter(store=self.store, number__in=chunk):
                order.store = self.store
                orders[order.number] = order
        return orders

    def _write_lines(self, invoices: list[Invoice]) -> None:
        created_ids = {order.pk for order in self.created}
        old_ids = [
            order.pk for order in self.orders.values() if order.pk not in created_ids
        ]
        existing = _load_lines(old_ids)
        new, changed, gone = [], [], []
        for invoice in invoices:
            order = self.orders[invoice.number]
            lines = existing.get(order.pk, {})
            added, updated, deleted = self._plan_lines(order, invoice.rows, lines)
            new += added
            changed += updated
            gone += deleted
            if (added or updated or deleted) and order.pk not in created_ids:
                self.changed[order.number] = order

        LineItem.objects.bulk_create(new, batch_size=CHUNK)
        _save(changed, LINE_FIELDS, self.now)
        for chunk in _chunks([line.pk for line in gone]):
            LineItem.objects.filter(pk__in=chunk).delete()
        mapping.mark_removed([line.sync_item_id for line in gone if line.sync_item_id])
        self._count_lines(len(new), len(changed), len(gone))

    def _plan_lines(
        self, order: Order, rows: list[Row], existing: dict[int, LineItem]
    ) -> tuple[list[LineItem], list[LineItem], list[LineItem]]:
        new, changed = [], []
        for position, row in enumerate(rows, start=1):
            values = _line_values(row)
            line = existing.get(position)
            if line is None:
                line = LineItem(order=order, position=position, **values)
                self._relink(line)
                new.append(line)
            elif _apply(line, values):
                changed.append(line)
        gone = [line for position, line in existing.items() if position > len(rows)]
        return new, changed, gone

    def _count_lines(self, created: int, updated: int, deleted: int) -> None:
        self.result.lines_created = created
        self.result.lines_updated = updated
        self.result.lines_deleted = deleted
        self.result.lines_unchanged = self.result.rows - created - updated

    def _relink(self, record: Order | LineItem) -> None:
        # A SyncItem outlives its order or line (a deleted store, a shorter
        # invoice). Reuse it, or staging would trip over its unique key.
        if self._orphans:
            record.sync_item_id = self._orphans.get(record.store_key)
            if record.sync_item_id is not None:
                self.relinked.append(record.sync_item_id)

    @functools.cached_property
    def _orphans(self) -> dict[str, int]:
        items = SyncItem.objects.filter(
            key__startswith=f"{self.store.slug}:",
            order__isnull=True,
            line_item__isnull=True,
        )
        return dict(items.values_list("key", "pk"))

    def _restage_returned(self) -> None:
        # A line back in the store may equal what its item last held, and
        # staging leaves an unchanged item in its state. No fingerprint
        # matches an empty one, so staging takes it back in full instead.
        removed = SyncItem.objects.filter(reason_code=mapping.REMOVED_FROM_STORE)
        for chunk in _chunks(self.relinked):
            removed.filter(pk__in=chunk).update(fingerprint="")

    def _save_changed_orders(self) -> None:
        changed = list(self.changed.values())
        _save(changed, ORDER_FIELDS, self.now)
        self.result.orders_updated = len(changed)
        self.result.orders_unchanged = (
            len(self.orders) - len(self.created) - len(changed)
        )

    def _stage(self) -> None:
        touched = [order.pk for order in self.created + list(self.changed.values())]
        for chunk in _chunks(touched):
            self.result.staged.add(mapping.stage(Order.objects.filter(pk__in=chunk)))


def _order_values(store: Store, invoice: Invoice) -> dict[str, object]:
    return {
        "kind": invoice.kind,
        "customer_id": invoice.customer_id,
        "country": invoice.country,
        "placed_at": invoice.placed_at,
        "currency": store.currency,
    }


def _line_values(row: Row) -> dict[str, object]:
    return {
        "sku": row.sku,
        "description": row.description,
        "quantity": row.quantity,
        "unit_price": row.unit_price,
        "kind": row.kind,
        "source_row": row.line,
    }


def _apply(record: Order | LineItem, values: dict[str, object]) -> bool:
    """Set the values that differ; return whether any did."""
    changed = False
    for name, value in values.items():
        if getattr(record, name) != value:
            setattr(record, name, value)
            changed = True
    return changed


def _save(records: list, fields: tuple[str, ...], now: datetime) -> None:
    # bulk_update skips auto_now, so ``updated`` is set here.
    for record in records:
        record.updated = now
    if records:
        type(records[0]).objects.bulk_update(records, [*fields, "updated"], CHUNK)


def _load_lines(order_ids: list[int]) -> dict[int, dict[int, LineItem]]:
    lines: dict[int, dict[int, LineItem]] = {}
    for chunk in _chunks(order_ids):
        for line in LineItem.objects.filter(order_id__in=chunk):
            lines.setdefault(line.order_id, {})[line.position] = line
    return lines


def _chunks(values: list) -> Iterator[list]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]
