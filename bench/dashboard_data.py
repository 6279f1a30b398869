"""The dashboard benchmark's data: the real orders, grown to 100,000, and a history.

The bundled file is imported with ``import_orders`` (3,501 real invoices,
staged by Tally itself); its orders are then copied under new numbers (the
number plus 1,000,000 per copy, as in ``bench.data``), with their line items
and their ``SyncItem`` rows in the shape ``reconcile.mapping`` stages (the
copied properties with the new store keys, and their fingerprint). On top of
that: sync runs, their batches and calls with bodies, the outcomes of the
items, a few thousand items in each problem state, orphans, order problems,
category snapshots, sweeps and audit entries.

Rows are written with ``executemany`` on SQLite and ``COPY`` on PostgreSQL,
with primary keys chosen here, so that 100,000 orders and 1,000,000 outcomes
take minutes. Generation is deterministic (one seeded ``random.Random``).
"""

import io
import json
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bench.data import COPY_OFFSET, REAL_DATA

SEED = 5
CHUNK = 20_000
# Items per problem state; the rest of the items sent are verified.
PROBLEM_STATES = {
    "mismatch": 3_000,
    "failed": 3_000,
    "unreported_skip": 2_000,
    "not_found": 2_000,
    "duplicate": 500,
    "pending": 2_000,  # never sent: no HubSpot ID
    "transient": 500,
    "unknown": 200,
}
# Verified items that HubSpot once skipped silently, settled by a later run.
SKIPPED_THEN_VERIFIED = 3_000
RUNS = 30
API_CALLS = 3_000
ITEMS_PER_CALL = 100
SNAPSHOTS = 300
AUDIT_ENTRIES = 3_000
SWEEPS = 12
ORPHANS = 25
ORDER_PROBLEMS = 60
HISTORY_DAYS = 60
FAILURES = (
    # (HTTP status, category, code, property, message)
    (
        400,
        "VALIDATION_ERROR",
        "INVALID_OPTION",
        "dealstage",
        "closedwon is not a valid option",
    ),
    (400, "VALIDATION_ERROR", "NEGATIVE_VALUE", "price", "price must not be negative"),
    (
        400,
        "VALIDATION_ERROR",
        "INVALID_DATE",
        "closedate",
        "closedate is not at midnight UTC",
    ),
    (
        400,
        "VALIDATION_ERROR",
        "PROPERTY_DOESNT_EXIST",
        "tally_line_kind",
        "Property does not exist",
    ),
    (
        409,
        "CONFLICT",
        "DUPLICATE_UNIQUE_PROPERTY_VALUE",
        "tally_line_key",
        "A record already has that value",
    ),
)
AUDIT_ACTIONS = (
    ("retry", "item {n}"),
    ("retry", "failed items of run {n}"),
    ("retry", "category failed"),
    ("resync", "order 5{n:05d}"),
    ("resync", "orders placed 2010-12-01 to 2010-12-31"),
    ("resync", "store online-retail"),
    ("sweep", "all synced items"),
)


@dataclass
class Generated:
    """What was made, for the report and for picking the pages to measure."""

    seconds: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    largest_order_id: int = 0
    largest_order_lines: int = 0
    sample_order_number: str = ""
    sample_sku: str = ""
    sample_hubspot_id: str = ""
    biggest_run_id: int = 0
    sample_call_id: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class Writer:
    """Rows of one table, flushed in chunks with executemany or COPY.

    Columns the generator does not give (one added by a later migration, say)
    get their field's default.
    """

    def __init__(self, model, columns: list[str]) -> None:
        from django.db import connection

        self.connection = connection
        self.table = model._meta.db_table
        self.rows: list[tuple] = []
        self.written = 0
        fields = model._meta.concrete_fields
        missing = [f for f in fields if f.attname not in columns and not f.primary_key]
        self.columns = [*columns, *(f.column for f in missing)]
        self.extra = tuple(
            f.get_db_prep_save(f.get_default(), connection) for f in missing
        )
        by_attname = {f.attname: f.column for f in fields}
        self.columns[: len(columns)] = [by_attname[name] for name in columns]

    def add(self, row: tuple) -> None:
        self.rows.append(row + self.extra if self.extra else row)
        if len(self.rows) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        quote = self.connection.ops.quote_name
        names = ", ".join(quote(c) for c in self.columns)
        with self.connection.cursor() as cursor:
            if self.connection.vendor == "postgresql":
                sql = f"COPY {quote(self.table)} ({names}) FROM STDIN"
                with cursor.cursor.copy(sql) as copy:
                    for row in self.rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(self.columns))
                sql = f"INSERT INTO {quote(self.table)} ({names}) VALUES ({marks})"  # noqa: S608
                cursor.executemany(sql, self.rows)
        self.written += len(self.rows)
        self.rows = []


class Values:
    """Python values as the backend takes them in executemany or COPY."""

    def __init__(self) -> None:
        from django.db import connection

        self.sqlite = connection.vendor == "sqlite"
        self._ops = connection.ops

    def when(self, moment: datetime):
        return self._ops.adapt_datetimefield_value(moment) if self.sqlite else moment

    def decimal(self, value):
        return str(value) if self.sqlite else value

    @staticmethod
    def json(value) -> str:
        return json.dumps(value, separators=(", ", ": "))


def _next_id(model) -> int:
    from django.db.models import Max

    return (model.objects.aggregate(m=Max("pk"))["m"] or 0) + 1


def generate(orders_wanted: int, outcomes_wanted: int, log) -> Generated:
    """Fill the (migrated, empty) database; ``log`` prints progress."""
    from django.core.management import call_command
    from django.db import connection, transaction

    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA cache_size=-262144")
    result = Generated()
    rng = random.Random(SEED)
    started = time.monotonic()
    call_command(
        "import_orders", str(REAL_DATA), format="online-retail", stdout=io.StringIO()
    )
    result.seconds["import_real_file"] = time.monotonic() - started
    log(f"imported the real file in {result.seconds['import_real_file']:.0f} s")

    step = time.monotonic()
    with transaction.atomic():
        _Generator(rng, result, orders_wanted, outcomes_wanted, log).run()
    result.seconds["generate"] = time.monotonic() - step

    step = time.monotonic()
    _finish(connection)
    result.seconds["analyse"] = time.monotonic() - step
    result.seconds["total"] = time.monotonic() - started
    return result


def _finish(connection) -> None:
    """Reset PostgreSQL's sequences and analyse (autovacuum would, soon after).

    SQLite is left unanalysed, as Tally leaves it (no ANALYZE or PRAGMA
    optimize runs in the app); its WAL is checkpointed.
    """
    from django.apps import apps
    from django.core.management.color import no_style

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            models = [
                *apps.get_app_config("reconcile").get_models(),
                *apps.get_app_config("hubspot_sync").get_models(),
            ]
            for sql in connection.ops.sequence_reset_sql(no_style(), models):
                cursor.execute(sql)
        else:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    if connection.vendor == "postgresql":
        connection.close()
        connection.ensure_connection()
        connection.connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")


class _Generator:
    def __init__(self, rng, result, orders_wanted, outcomes_wanted, log) -> None:
        self.rng = rng
        self.result = result
        self.orders_wanted = orders_wanted
        self.outcomes_wanted = outcomes_wanted
        self.log = log
        self.v = Values()
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.start = self.now - timedelta(days=HISTORY_DAYS)
        # (deal item id, number of lines, order id) per order, items contiguous.
        self.order_items: list[tuple[int, int, int]] = []
        self.problem: dict[int, str] = {}
        self.excluded: set[int] = set()
        self.runs: list[tuple[int, datetime]] = []
        self.calls: list[tuple[int, int, int, datetime]] = []  # id, run, batch, when

    def moment(self) -> datetime:
        return self.start + timedelta(seconds=self.rng.randrange(HISTORY_DAYS * 86400))

    def run(self) -> None:
        self._runs()
        self._items()
        self._calls()
        self._outcomes()
        self._extras()

    # Runs -------------------------------------------------------------------

    def _runs(self) -> None:
        from hubspot_sync.models import SyncRun

        writer = Writer(
            SyncRun,
            [
                "id", "state", "phase", "trigger", "requested_by", "created",
                "started", "finished", "items_total", "batches_total",
                "batches_done", "summary", "error",
            ],
        )  # fmt: skip
        first = _next_id(SyncRun)
        for n in range(RUNS):
            created = self.start + timedelta(days=HISTORY_DAYS * n / RUNS)
            running = n == RUNS - 1
            batches = API_CALLS // 2 if n == 0 else API_CALLS // (2 * (RUNS - 1))
            summary = {"created": 40_000, "verified": 39_000, "failed": 120}
            writer.add(
                (
                    first + n,
                    "running" if running else "done",
                    "objects" if running else "finished",
                    "schedule" if n % 3 else "command",
                    "" if n % 3 else "bench-operator",
                    self.v.when(created),
                    self.v.when(created + timedelta(seconds=2)),
                    None if running else self.v.when(created + timedelta(minutes=40)),
                    ITEMS_PER_CALL * batches,
                    batches,
                    batches // 2 if running else batches,
                    self.v.json({} if running else summary),
                    "",
                )
            )
            self.runs.append((first + n, created))
        writer.flush()
        self.result.biggest_run_id = first
        self.result.counts["sync_runs"] = RUNS

    # Orders, line items and their SyncItems ---------------------------------

    def _real(self):
        from hubspot_sync.models import SyncItem
        from reconcile.models import LineItem, Order

        orders = list(
            Order.objects.order_by("pk").values_list(
                "pk", "store_id", "number", "kind", "customer_id", "country",
                "placed_at", "currency", "sync_item_id",
            )
        )  # fmt: skip
        lines: dict[int, list[tuple]] = {}
        for row in LineItem.objects.order_by("order_id", "position").values_list(
            "order_id", "position", "sku", "description", "quantity",
            "unit_price", "kind", "source_row", "sync_item_id",
        ):  # fmt: skip
            lines.setdefault(row[0], []).append(row)
        items = {
            row[0]: row
            for row in SyncItem.objects.values_list(
                "pk", "properties", "state", "reason_code", "reason", "next_step"
            )
        }
        return orders, lines, items

    def _items(self) -> None:
        from hubspot_sync.models import SyncItem
        from reconcile.models import LineItem, Order

        real_orders, real_lines, real_items = self._real()
        self.store_slug_by_id = dict(
            Order.objects.values_list("store_id", "store__slug").distinct()
        )
        plan = []  # (real order row, copy number); copy 0 is the real order
        copy = 0
        while len(plan) < self.orders_wanted:
            for order in real_orders:
                plan.append((order, copy))
                if len(plan) >= self.orders_wanted:
                    break
            copy += 1
        sent_total = sum(
            1 + len(real_lines.get(order[0], []))
            for order, _ in plan
            if real_items[order[8]][2] != "excluded"
        )
        positions = self.rng.sample(
            range(sent_total), sum(PROBLEM_STATES.values()) + SKIPPED_THEN_VERIFIED
        )
        states = [s for s, n in PROBLEM_STATES.items() for _ in range(n)]
        states += ["verified-after-skip"] * SKIPPED_THEN_VERIFIED
        self._problem_at = dict(zip(positions, states, strict=True))

        order_w = Writer(
            Order,
            [
                "id", "store_id", "number", "kind", "customer_id", "country",
                "placed_at", "currency", "sync_item_id", "created", "updated",
            ],
        )  # fmt: skip
        line_w = Writer(
            LineItem,
            [
                "id", "order_id", "position", "sku", "description", "quantity",
                "unit_price", "kind", "source_row", "sync_item_id", "created",
                "updated",
            ],
        )  # fmt: skip
        item_columns = [
            "id", "object_type", "key", "parent_key", "properties", "fingerprint",
            "hubspot_id", "state", "state_changed", "association", "associated_to",
            "reason_code", "reason", "next_step", "attempts", "last_run_id",
            "lease_batch_id", "lease_until", "created", "updated",
        ]  # fmt: skip
        item_w = Writer(SyncItem, item_columns)
        self.item_update_columns = item_columns[6:16]
        self.real_updates: list[tuple] = []

        next_order, next_line = _next_id(Order), _next_id(LineItem)
        next_item = _next_id(SyncItem)
        now = self.v.when(self.now)
        self.sent_position = 0
        largest = (0, 0)
        started = time.monotonic()
        for done, (order, copy) in enumerate(plan, 1):
            (pk, store_id, number, kind, customer, country, placed, currency,
             deal_item) = order  # fmt: skip
            lines = real_lines.get(pk, [])
            deal_src = real_items[deal_item]
            excluded = deal_src[2] == "excluded"
            if copy == 0:
                order_id, deal_id = pk, deal_item
                new_number = number
            else:
                order_id, deal_id = next_order, next_item
                next_order += 1
                next_item += 1
                new_number = _copy_number(number, copy)
            slug = self.store_slug_by_id[store_id]
            order_key = f"{slug}:{new_number}"
            deal_hubspot = self._item(
                item_w, copy, deal_id, "deals", order_key, "", deal_src,
                {"tally_order_key": order_key, "dealname": _deal_name(deal_src[1], new_number)},
                excluded, "",
            )  # fmt: skip
            first_item = deal_id
            if copy:
                order_w.add(
                    (order_id, store_id, new_number, kind, customer, country,
                     self.v.when(placed), currency, deal_id, now, now)
                )  # fmt: skip
            for line in lines:
                (_, position, sku, description, quantity, price, line_kind,
                 source_row, line_item) = line  # fmt: skip
                if copy == 0:
                    item_id = line_item
                else:
                    item_id = next_item
                    next_item += 1
                    line_w.add(
                        (next_line, order_id, position, sku, description, quantity,
                         self.v.decimal(price), line_kind, source_row, item_id, now, now)
                    )  # fmt: skip
                    next_line += 1
                line_key = f"{order_key}:{position}"
                self._item(
                    item_w, copy, item_id, "line_items", line_key, order_key,
                    real_items[line_item], {"tally_line_key": line_key}, excluded,
                    deal_hubspot,
                )  # fmt: skip
            if copy:
                # Copies' items are contiguous; the real ones are not, and
                # get outcomes only as problem items.
                self.order_items.append((first_item, len(lines), order_id))
            if copy and len(lines) > largest[1]:
                largest = (order_id, len(lines))
                self.result.sample_order_number = new_number
                self.result.sample_sku = lines[0][2]
            if done % 10_000 == 0:
                self.log(
                    f"  {done:,} orders, {next_item - 1:,} items "
                    f"({time.monotonic() - started:.0f} s)"
                )
        for writer in (order_w, line_w, item_w):
            writer.flush()
        self._update_real_items()
        self.result.largest_order_id, self.result.largest_order_lines = largest
        self.result.counts.update(
            orders=Order.objects.count(),
            line_items=LineItem.objects.count(),
            sync_items=SyncItem.objects.count(),
            items_by_problem_state=dict(PROBLEM_STATES),
        )
        self.log(
            f"wrote {self.result.counts['orders']:,} orders, "
            f"{self.result.counts['line_items']:,} line items, "
            f"{self.result.counts['sync_items']:,} items "
            f"in {time.monotonic() - started:.0f} s"
        )

    def _item(
        self, writer, copy, item_id, object_type, key, parent_key, source,
        replace, excluded, deal_hubspot,
    ) -> str:  # fmt: skip
        """Write (or, for a real item, queue the update of) one SyncItem.

        Returns its HubSpot ID.
        """
        from hubspot_sync.properties import FINGERPRINT_PROPERTY
        from reconcile.mapping import fingerprint

        _, properties, real_state, reason_code, reason, next_step = source
        state, association, hubspot_id, attempts = "verified", "n/a", "", 1
        run_id = self.runs[-2][0]
        associated_to = ""
        if excluded:
            state, attempts, run_id = "excluded", 0, None
        else:
            wanted = self.problem_state(item_id)
            hubspot_id = str(10_000_000_000 + item_id)
            if wanted == "pending":
                state, hubspot_id, attempts, run_id = "pending", "", 0, None
            elif wanted:
                state = wanted
                attempts = 2
                reason_code, reason, next_step = _reason(wanted, self.rng)
            else:
                reason_code = reason = next_step = ""
            if object_type == "line_items":
                linked = state in ("verified", "mismatch") and deal_hubspot
                association = "linked" if linked else "pending"
                associated_to = deal_hubspot if linked else ""
        changed = self.v.when(self.moment())
        if copy == 0:
            self.real_updates.append(
                (hubspot_id, state, changed, association, associated_to,
                 reason_code, reason, next_step, attempts, run_id, item_id)
            )  # fmt: skip
            return hubspot_id
        props = {**properties, **replace}
        props.pop(FINGERPRINT_PROPERTY, None)
        digest = fingerprint(props)
        props[FINGERPRINT_PROPERTY] = digest
        now = self.v.when(self.now)
        writer.add(
            (item_id, object_type, key, parent_key, self.v.json(props), digest,
             hubspot_id, state, changed, association, associated_to, reason_code,
             reason, next_step, attempts, run_id, None, None, now, now)
        )  # fmt: skip
        return hubspot_id

    def problem_state(self, item_id: int) -> str:
        """The problem state drawn for the next sent item, '' for verified."""
        wanted = self.problem_at_position(self.sent_position)
        self.sent_position += 1
        if wanted:
            self.problem[item_id] = wanted
        return "" if wanted == "verified-after-skip" else wanted

    def problem_at_position(self, position: int) -> str:
        return self._problem_at.get(position, "")

    def _update_real_items(self) -> None:
        from hubspot_sync.models import SyncItem

        table = SyncItem._meta.db_table
        sets = ", ".join(f"{c} = %s" for c in self.item_update_columns)
        with self.v_cursor() as cursor:
            cursor.executemany(
                f"UPDATE {table} SET {sets} WHERE id = %s",  # noqa: S608
                self.real_updates,
            )

    def v_cursor(self):
        from django.db import connection

        return connection.cursor()

    # Calls --------------------------------------------------------------------

    def _calls(self) -> None:
        from hubspot_sync.models import ApiCall, SyncBatch

        batch_w = Writer(
            SyncBatch,
            ["id", "run_id", "kind", "state", "item_ids", "created", "started",
             "finished", "claims", "error"],
        )  # fmt: skip
        call_w = Writer(
            ApiCall,
            ["id", "run_id", "batch_id", "created", "method", "endpoint", "attempt",
             "status", "duration_ms", "correlation_id", "rate_limit", "request_body",
             "response_body", "error"],
        )  # fmt: skip
        first_batch, first_call = _next_id(SyncBatch), _next_id(ApiCall)
        per_run = [API_CALLS // 2] + [API_CALLS // (2 * (RUNS - 1))] * (RUNS - 1)
        per_run[-1] += API_CALLS - sum(per_run)
        n = 0
        template = {
            "name": "WHITE HANGING HEART T-LIGHT HOLDER",
            "hs_sku": "85123A",
            "quantity": "6",
            "price": "2.55",
            "hs_line_item_currency_code": "GBP",
            "tally_line_kind": "product",
        }
        for (run_id, created), calls in zip(self.runs, per_run, strict=True):
            for k in range(calls):
                when = created + timedelta(seconds=1 + k * 0.6)
                first_item = 1 + n * ITEMS_PER_CALL
                ids = list(range(first_item, first_item + ITEMS_PER_CALL))
                batch_id, call_id = first_batch + n, first_call + n
                batch_w.add(
                    (batch_id, run_id, "line_item_upsert", "done", self.v.json(ids),
                     self.v.when(when), self.v.when(when),
                     self.v.when(when + timedelta(seconds=1)), 1, "")
                )  # fmt: skip
                keys = [f"online-retail:{1536365 + i}:1" for i in ids]
                request = {
                    "inputs": [
                        {
                            "idProperty": "tally_line_key",
                            "id": key,
                            "properties": {**template, "tally_line_key": key},
                        }
                        for key in keys
                    ]
                }
                response = {
                    "status": "COMPLETE",
                    "results": [
                        {
                            "id": str(10_000_000_000 + i),
                            "new": k % 2 == 0,
                            "properties": {**template, "tally_line_key": key},
                            "createdAt": when.isoformat(),
                            "updatedAt": when.isoformat(),
                        }
                        for i, key in zip(ids, keys, strict=True)
                    ],
                    "startedAt": when.isoformat(),
                    "completedAt": when.isoformat(),
                }
                limit = {"max": 190, "remaining": 150 - k % 150, "interval_ms": 10000}
                call_w.add(
                    (call_id, run_id, batch_id, self.v.when(when), "POST",
                     "/crm/v3/objects/line_items/batch/upsert", 1, 200,
                     300 + k % 400, f"corr-{call_id}", self.v.json(limit),
                     json.dumps(request), json.dumps(response), "")
                )  # fmt: skip
                self.calls.append((call_id, run_id, batch_id, when))
                n += 1
        batch_w.flush()
        call_w.flush()
        self.result.sample_call_id = first_call + 10
        self.result.counts.update(sync_batches=n, api_calls=n)

    # Outcomes -----------------------------------------------------------------

    def _outcomes(self) -> None:
        from hubspot_sync.models import ItemOutcome

        writer = Writer(
            ItemOutcome,
            ["item_id", "run_id", "batch_id", "api_call_id", "outcome", "detail",
             "created"],
        )  # fmt: skip
        self.outcome_w = writer
        self.outcome_n = 0
        started = time.monotonic()
        # Every problem item's history first, then whole orders (the largest
        # copy first, so its page shows a full history), until the total.
        for item_id, wanted in self.problem.items():
            self._history(item_id, wanted)
        orders = list(self.order_items)
        self.rng.shuffle(orders)
        largest = next(
            o for o in orders if o[2] == self.result.largest_order_id
        )  # fmt: skip
        orders.remove(largest)
        orders.insert(0, largest)
        for first_item, lines, _ in orders:
            if self.outcome_n >= self.outcomes_wanted:
                break
            for item_id in range(first_item, first_item + lines + 1):
                if item_id not in self.problem:
                    self._history(item_id, "")
        writer.flush()
        self.result.counts["item_outcomes"] = writer.written
        self.log(
            f"wrote {writer.written:,} outcomes in {time.monotonic() - started:.0f} s"
        )
        # A HubSpot ID for the search: an item with a history.
        self.result.sample_hubspot_id = str(10_000_000_000 + largest[0] + 1)

    def _emit(self, item_id: int, outcome: str, detail: dict, created_call) -> None:
        if self.outcome_n >= self.outcomes_wanted:
            return
        call_id, run_id, batch_id, when = created_call
        self.outcome_w.add(
            (item_id, run_id, batch_id, call_id, outcome, self.v.json(detail),
             self.v.when(when))
        )  # fmt: skip
        self.outcome_n += 1

    def _history(self, item_id: int, wanted: str) -> None:
        hubspot_id = str(10_000_000_000 + item_id)
        slot = (item_id // ITEMS_PER_CALL) % len(self.calls)
        first = self.calls[slot]
        later = self.calls[(slot + len(self.calls) // 2) % len(self.calls)]
        if wanted == "pending":
            return
        if wanted in ("transient", "unknown") and self.rng.random() < 0.5:
            detail = {"http_status": 503, "message": "Service Unavailable"}
            self._emit(item_id, wanted, detail, first)
            return
        self._emit(item_id, "created", {"new": True, "hubspot_id": hubspot_id}, first)
        if wanted == "verified-after-skip":
            self._emit(item_id, "unreported_skip", {}, first)
            self._emit(item_id, "verified", {"hubspot_id": hubspot_id}, later)
        elif wanted == "":
            self._emit(item_id, "verified", {"hubspot_id": hubspot_id}, later)
        elif wanted == "mismatch":
            fields = {
                "price": {"store": "2.55", "hubspot": "2.5"},
                "quantity": {"store": "6", "hubspot": "12"},
            }
            detail = {"hubspot_id": hubspot_id, "mismatches": fields}
            if item_id % 2:  # found by a sweep, with HubSpot's property history
                for values in fields.values():
                    values.update(
                        changed_at=later[3].isoformat(),
                        source="CRM_UI",
                        source_id="userId:4120",
                        user_id=4120,
                    )
                detail["source"] = "sweep"
            self._emit(item_id, "mismatch", detail, later)
        elif wanted == "failed":
            status, category, code, prop, message = self.rng.choice(FAILURES)
            detail = {
                "http_status": status,
                "category": category,
                "code": code,
                "property": prop,
                "message": message,
            }
            self._emit(item_id, "failed", detail, later)
        elif wanted == "not_found":
            self._emit(item_id, "not_found", {"hubspot_id": hubspot_id}, later)
        else:
            self._emit(item_id, wanted, {"hubspot_id": hubspot_id}, later)

    # Orphans, problems, snapshots, sweeps, audit ------------------------------

    def _extras(self) -> None:
        from django.contrib.auth import get_user_model

        from reconcile import categories, roles
        from reconcile.models import (
            AuditEntry,
            CategorySnapshot,
            OrderProblem,
            Orphan,
            Sweep,
        )

        users = []
        for name, role in (
            ("bench-operator", roles.OPERATOR),
            ("bench-viewer", roles.VIEWER),
            ("bench-admin", roles.ADMIN),
        ):
            user = get_user_model().objects.create_user(name)
            roles.assign(user, role)
            users.append(user)

        sweep_w = Writer(
            Sweep,
            ["id", "state", "trigger", "requested_by", "created", "started",
             "finished", "items_total", "items_checked", "calls", "counts", "error"],
        )  # fmt: skip
        first_sweep = _next_id(Sweep)
        counts = {c.slug: 0 for c in categories.CATEGORIES}
        counts.update(
            {
                "in-sync": self.result.counts["sync_items"],
                "mismatch": PROBLEM_STATES["mismatch"],
                "failed": PROBLEM_STATES["failed"],
            }
        )
        for n in range(SWEEPS):
            created = self.start + timedelta(days=HISTORY_DAYS * n / SWEEPS)
            total = self.result.counts["sync_items"]
            sweep_w.add(
                (first_sweep + n, "done", "schedule", "", self.v.when(created),
                 self.v.when(created), self.v.when(created + timedelta(minutes=30)),
                 total, total, total // 100, self.v.json(counts), "")
            )  # fmt: skip
        sweep_w.flush()

        orphan_w = Writer(
            Orphan,
            ["object_type", "hubspot_id", "store_key", "properties", "first_seen",
             "last_seen", "sweep_id"],
        )  # fmt: skip
        for n in range(ORPHANS):
            key = f"online-retail:9{n:06d}"
            orphan_w.add(
                ("deals", str(90_000_000_000 + n), key,
                 self.v.json({"tally_order_key": key, "dealname": f"Order 9{n:06d}"}),
                 self.v.when(self.moment()), self.v.when(self.now), first_sweep)
            )  # fmt: skip
        orphan_w.flush()

        problem_w = Writer(
            OrderProblem,
            ["order_id", "code", "store_value", "hubspot_value", "detail", "found",
             "sweep_id"],
        )  # fmt: skip
        codes = [c.value for c in OrderProblem.Code]
        for n in range(ORDER_PROBLEMS):
            order_id = self.rng.choice(self.order_items)[2]
            problem_w.add(
                (order_id, codes[n % len(codes)], "104.50", "100.00",
                 self.v.json({"lines": 12}), self.v.when(self.moment()),
                 first_sweep + SWEEPS - 1)
            )  # fmt: skip
        problem_w.flush()

        snapshot_w = Writer(CategorySnapshot, ["taken", "counts"])
        for n in range(SNAPSHOTS):
            taken = self.start + timedelta(hours=HISTORY_DAYS * 24 * n / SNAPSHOTS)
            row = {
                slug: max(0, value + self.rng.randrange(-50, 50)) if value else 0
                for slug, value in counts.items()
            }
            snapshot_w.add((self.v.when(taken), self.v.json(row)))
        snapshot_w.flush()

        audit_w = Writer(
            AuditEntry,
            ["at", "user_id", "username", "action", "target", "parameters",
             "preview", "status", "result", "run_id", "sweep_id"],
        )  # fmt: skip
        for n in range(AUDIT_ENTRIES):
            user = users[n % 3]
            action, target = AUDIT_ACTIONS[n % len(AUDIT_ACTIONS)]
            status = "refused" if n % 50 == 0 else "done"
            audit_w.add(
                (self.v.when(self.moment()), user.pk, user.username, action,
                 target.format(n=n), self.v.json({"state": ["failed"]}),
                 self.v.json(_preview(action, target.format(n=n), n)),
                 status, "queued run" if status == "done" else "not allowed",
                 self.runs[n % RUNS][0], None)
            )  # fmt: skip
        audit_w.flush()
        self.result.counts.update(
            sweeps=SWEEPS,
            orphans=ORPHANS,
            order_problems=ORDER_PROBLEMS,
            category_snapshots=SNAPSHOTS,
            audit_entries=AUDIT_ENTRIES,
        )


def _preview(action: str, target: str, n: int) -> dict:
    """An action's preview in the shape of ``reconcile.actions.Preview``."""
    lines = 20 + n % 200
    to_send = {"deals": 1 + n % 5, "line_items": lines}
    return {
        "action": action,
        "target": target,
        "by_state": {"failed": to_send, "verified": {"deals": 2, "line_items": 40}},
        "selected": {"deals": to_send["deals"] + 2, "line_items": lines + 40},
        "to_send": to_send,
        "skipped": {"verified": 42},
        "also_waiting": {"deals": 0, "line_items": 0},
        "calls": {
            "setup": 0,
            "deal_upserts": 1,
            "line_item_upserts": -(-lines // 100),
            "associations": 1,
            "total": 2 + -(-lines // 100),
        },
        "budget": {
            "limit": 250_000,
            "used": 1_200 + n,
            "remaining": 248_800 - n,
            "source": "counted",
        },
        "problem": "",
    }


def _copy_number(number: str, copy: int) -> str:
    prefix = number[0] if number[0].isalpha() else ""
    return f"{prefix}{int(number.removeprefix(prefix)) + copy * COPY_OFFSET}"


def _deal_name(properties: dict, number: str) -> str:
    if properties.get("dealname", "").startswith("Credit note"):
        return f"Credit note {number}"
    return f"Order {number}"


def _reason(state: str, rng: random.Random) -> tuple[str, str, str]:
    from hubspot_sync import reasons

    if state == "failed":
        _, category, code, prop, message = rng.choice(FAILURES)
        reason = reasons.for_error(category, code, message, prop)
        return reason.code, reason.text, reason.next_step
    return {
        "mismatch": (
            "MISMATCH",
            "HubSpot's price and quantity differ from the store's.",
            "Retry to send the store's values again.",
        ),
        "unreported_skip": (
            "UNREPORTED_SKIP",
            "HubSpot named it neither in its results nor in its errors.",
            reasons.RETRY_NEXT_RUN,
        ),
        "not_found": (
            "OBJECT_NOT_FOUND",
            "The record no longer exists in HubSpot.",
            "Check whether it was deleted or merged in HubSpot, then retry.",
        ),
        "duplicate": (
            "DUPLICATE_UNIQUE_PROPERTY_VALUE",
            "Two HubSpot records carry this store key.",
            "Merge or delete the duplicate in HubSpot, then retry.",
        ),
        "transient": (
            "TRANSIENT",
            "HubSpot answered 503 Service Unavailable.",
            reasons.RETRY_NEXT_RUN,
        ),
        "unknown": (
            "UNKNOWN",
            "The connection was reset after the request was sent.",
            reasons.RETRY_NEXT_RUN,
        ),
    }[state]
