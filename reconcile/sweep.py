"""Reconciliation sweeps: compare the store with what HubSpot holds, cheaply.

A sweep runs in three passes and then counts the categories:

1. Scan (``TALLY_SWEEP_ORPHANS``): list every deal and line item HubSpot
   holds, 100 a page, and keep those carrying a store key. A key the store
   does not know is an orphan; a key on two or more records makes its item a
   duplicate. A list, not a search: search lags writes by seconds (a record
   just written would look missing) and stops at 10,000 results.
2. Items: read every synced item by HubSpot ID, 100 a call, and compare a
   digest of the normalised values; only items whose digests differ get a
   field-by-field diff and a second read, with property history (50 a call),
   to learn when and by whom each field last changed. IDs HubSpot does not
   find are told apart: archived (a read with ``archived=true``), merged
   (answered by the survivor, or found in a survivor's
   ``hs_merged_object_ids``) or deleted.
3. Orders: read each deal's line-item links (v4, 1,000 deals a call) and
   check them against the store and against HubSpot's own amounts.

Outcome rows are written only when an item's state or diff changes, so a
sweep over unchanged items adds none. Items leased to a sync batch are left
to that batch.
"""

import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from hubspot_sync import reasons
from hubspot_sync.client import HubSpotClient, HubSpotError, ObjectResult, redact
from hubspot_sync.models import (
    Association,
    ItemOutcome,
    ItemState,
    ObjectType,
    Outcome,
    SyncItem,
    SyncRun,
)
from hubspot_sync.properties import (
    FINGERPRINT_PROPERTY,
    STORE_KEY_PROPERTY,
    differences,
    normalise,
)
from reconcile import categories
from reconcile.models import CategorySnapshot, Order, OrderProblem, Orphan, Sweep

logger = logging.getLogger(__name__)

READ_SIZE = 100  # HubSpot's cap on batch reads
HISTORY_SIZE = 50  # its cap on batch reads with propertiesWithHistory
SEARCH_PAGE = 200  # its cap on a search page
ASSOCIATION_READ_SIZE = 1000  # v4 batch read cap
MERGED_IDS = "hs_merged_object_ids"
# How long a sweep task may run (its django-q timeout); a sweep running
# longer than this, or queued that long, has lost its worker.
TASK_TIMEOUT_SECONDS = 3600
# Items whose state says HubSpot should hold them as the store does: the
# sweep moves these. Pending, transient, unknown and failed items are read
# (their values count in the order checks) but left to the next sync.
CHECKED_STATES = (
    ItemState.VERIFIED,
    ItemState.MISMATCH,
    ItemState.NOT_FOUND,
    ItemState.UNREPORTED_SKIP,
    ItemState.DUPLICATE,
)
ORDER_STATES = (ItemState.VERIFIED, ItemState.MISMATCH, ItemState.DUPLICATE)
# Read beside the synced properties: what the order checks need.
EXTRA_PROPERTIES = {
    ObjectType.DEAL: ("amount", "deal_currency_code", MERGED_IDS),
    ObjectType.LINE_ITEM: ("amount", "hs_line_item_currency_code", MERGED_IDS),
}
# Kept with an orphan so that a person can recognise the record.
ORPHAN_PROPERTIES = {
    ObjectType.DEAL: ("dealname", "amount", "closedate", "deal_currency_code"),
    ObjectType.LINE_ITEM: ("name", "hs_sku", "quantity", "price", "amount"),
}
CURRENCY_PROPERTY = {
    ObjectType.DEAL: "deal_currency_code",
    ObjectType.LINE_ITEM: "hs_line_item_currency_code",
}

Progress = Callable[[Sweep], None]


ACTIVE_STATES = (Sweep.State.QUEUED, Sweep.State.RUNNING)
# Runs after which the orders they sent are re-checked at once.
RECHECKED_TRIGGERS = ("retry", "resync")


class SweepInProgress(Exception):
    """Another sweep is queued or running: a second would read everything twice."""

    def __init__(self, sweep: Sweep) -> None:
        self.sweep = sweep
        super().__init__(
            f"Sweep {sweep.pk} is already {sweep.get_state_display().lower()}; "
            "it checks the same items. Wait for it to end."
        )


def create_sweep(
    trigger: str = "command", requested_by: str = "", orders: list[int] | None = None
) -> Sweep:
    """A queued sweep: of everything, or a targeted re-check of some orders.

    A full sweep raises SweepInProgress while another full one is queued or
    running; a targeted re-check reads only its orders' records and may run
    beside anything.
    """
    if orders is not None:
        scope = {"orders": sorted(set(orders))}
        return Sweep.objects.create(
            trigger=trigger, requested_by=requested_by, scope=scope
        )
    with transaction.atomic():
        active = (
            Sweep.objects.select_for_update()
            .filter(state__in=ACTIVE_STATES, scope={})
            .first()
        )
        if active is not None:
            raise SweepInProgress(active)
        return Sweep.objects.create(trigger=trigger, requested_by=requested_by)


def recheck_after_run(sender, run_id: int, trigger: str, **kwargs) -> Sweep | None:
    """After a retry or resync, re-check the orders it sent (hubspot_sync's signal).

    So that an order problem or a mismatch a person just fixed leaves the
    dashboard now, not at the next full sweep; it costs a few reads.
    """
    if trigger not in RECHECKED_TRIGGERS:
        return None
    orders = set(
        Order.objects.filter(sync_item__last_run_id=run_id).values_list("pk", flat=True)
    ) | set(
        Order.objects.filter(lines__sync_item__last_run_id=run_id).values_list(
            "pk", flat=True
        )
    )
    if not orders:
        return None
    sweep = create_sweep(
        trigger="after-run", requested_by=f"run {run_id}", orders=orders
    )
    from reconcile.tasks import enqueue_sweep

    transaction.on_commit(lambda: enqueue_sweep(sweep.pk))
    return sweep


def run_sweep_inline(sweep_id: int, progress: Progress | None = None) -> Sweep:
    """Run the sweep in this process; return it as it ended."""
    run_sweep(sweep_id, progress)
    return Sweep.objects.get(pk=sweep_id)


def run_sweep(sweep_id: int, progress: Progress | None = None) -> bool:
    """Claim and run a queued sweep; False when it was not queued (taken already)."""
    claimed = Sweep.objects.filter(pk=sweep_id, state=Sweep.State.QUEUED).update(
        state=Sweep.State.RUNNING, started=timezone.now()
    )
    if not claimed:
        return False
    client = HubSpotClient()
    try:
        Sweeper(Sweep.objects.get(pk=sweep_id), client, progress).run()
    except Exception as exc:
        if isinstance(exc, HubSpotError):
            # HubSpot down or refusing: the message says it all.
            logger.warning("Sweep %s failed: %s", sweep_id, _describe(exc))
        else:
            logger.exception("Sweep %s failed", sweep_id)
        Sweep.objects.filter(pk=sweep_id).update(
            state=Sweep.State.FAILED,
            finished=timezone.now(),
            calls=client.attempts,
            error=_describe(exc),
        )
    finally:
        client.close()
    return True


def start_scheduled() -> Sweep | None:
    """A new sweep when the last one is TALLY_SWEEP_MINUTES old; None if not due.

    Never while another sweep, or a sync run, is queued or running. A sweep
    that outlived its task's timeout lost its worker: it is marked failed first.
    """
    now = timezone.now()
    stale = now - timedelta(seconds=TASK_TIMEOUT_SECONDS + 60)
    with transaction.atomic():
        Sweep.objects.filter(
            Q(state=Sweep.State.RUNNING, started__lt=stale)
            | Q(state=Sweep.State.QUEUED, created__lt=stale)
        ).update(
            state=Sweep.State.FAILED,
            finished=now,
            error="The sweep stopped before it ended (its worker died or timed out).",
        )
        if Sweep.objects.filter(state__in=ACTIVE_STATES).exists():
            return None
        # A sync in progress changes what the sweep would read; the next
        # scheduled check after it ends starts the sweep.
        syncing = (SyncRun.State.QUEUED, SyncRun.State.RUNNING)
        if SyncRun.objects.filter(state__in=syncing).exists():
            return None
        last = Sweep.objects.order_by("-created").first()
        due = now - timedelta(minutes=settings.TALLY_SWEEP_MINUTES)
        if last is not None and last.created > due:
            return None
        return create_sweep(trigger="schedule")


def _describe(exc: Exception) -> str:
    text = (
        exc.message if isinstance(exc, HubSpotError) else f"{type(exc).__name__}: {exc}"
    )
    return redact(text)[:2000]


def digest(names, values: dict) -> str:
    """A fingerprint of the normalised values of ``names``: equal means in sync."""
    pairs = [(name, normalise(name, values.get(name))) for name in sorted(names)]
    return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()


@dataclass
class Change:
    """One item's new state and the outcome to record with it."""

    item: SyncItem
    state: str
    outcome: str
    reason: reasons.Reason | None
    detail: dict
    call_id: int | None


class Sweeper:
    def __init__(self, sweep: Sweep, client: HubSpotClient, progress=None) -> None:
        self.sweep = sweep
        self.orders = sweep.scoped_orders
        self.client = client
        self.progress = progress
        self.now = timezone.now()
        # Store key -> HubSpot record ids, for keys on two or more records;
        # None when the scan is off (duplicates then stay as they were).
        self.duplicates: dict[str, list[str]] | None = None
        # HubSpot id -> (amount, currency) as HubSpot holds them, for the orders.
        self.values: dict[str, tuple[str | None, str | None]] = {}

    def run(self) -> None:
        total = self._items().count()
        Sweep.objects.filter(pk=self.sweep.pk).update(items_total=total)
        # Orphans and duplicates need every record: full sweeps only.
        if settings.TALLY_SWEEP_ORPHANS and self.orders is None:
            self.scan()
        for object_type in (ObjectType.DEAL, ObjectType.LINE_ITEM):
            self.check_items(object_type)
        self.check_orders()
        self.finish()

    def _unleased(self, items):
        return items.filter(Q(lease_until__isnull=True) | Q(lease_until__lt=self.now))

    def _items(self):
        synced = SyncItem.objects.exclude(hubspot_id="").exclude(
            state=ItemState.EXCLUDED
        )
        if self.orders is not None:
            synced = synced.filter(
                Q(order__in=self.orders) | Q(line_item__order__in=self.orders)
            )
        return self._unleased(synced)

    def _report(self, checked: int = 0) -> None:
        Sweep.objects.filter(pk=self.sweep.pk).update(
            items_checked=self.sweep.items_checked + checked,
            calls=self.client.attempts,
        )
        self.sweep.refresh_from_db()
        if self.progress:
            self.progress(self.sweep)

    # 1. Orphans and duplicates

    def scan(self) -> None:
        self.duplicates = {}
        for object_type in (ObjectType.DEAL, ObjectType.LINE_ITEM):
            holders = self._scan_keys(object_type)
            for key, ids in holders.items():
                if len(ids) > 1:
                    self.duplicates[key] = sorted(ids, key=int)
        self._mark_duplicates()
        self._report()

    def _scan_keys(self, object_type: str) -> dict[str, list[str]]:
        """Known store key -> ids of the records holding it; orphans are stored."""
        key_name = STORE_KEY_PROPERTY[object_type]
        names = [key_name, FINGERPRINT_PROPERTY, *ORPHAN_PROPERTIES[object_type]]
        holders: dict[str, list[str]] = defaultdict(list)
        after = None
        while True:
            page = self.client.list_page(object_type, names, after)
            keyed = [r for r in page.results if r.properties.get(key_name)]
            self._note_holders(object_type, keyed, holders)
            self._report()
            if page.after is None or not page.results:
                return holders
            after = page.after

    def _note_holders(self, object_type, results: list[ObjectResult], holders):
        key_name = STORE_KEY_PROPERTY[object_type]
        keys = {r.properties.get(key_name) or "" for r in results}
        known = set(
            SyncItem.objects.filter(object_type=object_type, key__in=keys).values_list(
                "key", flat=True
            )
        )
        for result in results:
            key = result.properties.get(key_name) or ""
            if key in known:
                holders[key].append(result.id)
            else:
                self._keep_orphan(object_type, key, result)

    def _keep_orphan(self, object_type: str, key: str, result: ObjectResult) -> None:
        properties = {
            name: value
            for name, value in result.properties.items()
            if name in ORPHAN_PROPERTIES[object_type] and value is not None
        }
        Orphan.objects.update_or_create(
            object_type=object_type,
            hubspot_id=result.id,
            defaults={"store_key": key, "properties": properties, "sweep": self.sweep},
        )

    def _mark_duplicates(self) -> None:
        items = self._unleased(
            SyncItem.objects.filter(
                key__in=list(self.duplicates), state__in=CHECKED_STATES
            )
        )
        last = _last_details(items, Outcome.DUPLICATE)
        changes = []
        for item in items:
            ids = self.duplicates[item.key]
            if (
                item.state == ItemState.DUPLICATE
                and last.get(item.pk, {}).get("record_ids") == ids
            ):
                continue
            detail = {
                "source": "sweep",
                "hubspot_id": item.hubspot_id,
                "record_ids": ids,
            }
            reason = reasons.duplicate_records(ids)
            changes.append(
                Change(
                    item, ItemState.DUPLICATE, Outcome.DUPLICATE, reason, detail, None
                )
            )
        self._apply(changes)

    # 2. Items

    def check_items(self, object_type: str) -> None:
        ids = list(
            self._items()
            .filter(object_type=object_type)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for start in range(0, len(ids), READ_SIZE):
            chunk_ids = ids[start : start + READ_SIZE]
            # Leased again since the list was made: a sync has them now.
            items = list(
                self._unleased(SyncItem.objects.filter(pk__in=chunk_ids)).order_by("pk")
            )
            if items:
                self._check_chunk(object_type, items)
            self._report(len(chunk_ids))

    def _check_chunk(self, object_type: str, items: list[SyncItem]) -> None:
        names = set(EXTRA_PROPERTIES[object_type])
        for item in items:
            names.update(item.properties)
        answer = self.client.batch_read(
            object_type, [item.hubspot_id for item in items], sorted(names)
        )
        by_id = {result.id: result for result in answer.results}
        survivors = {
            old: result
            for result in answer.results
            for old in (result.properties.get(MERGED_IDS) or "").split(";")
            if old
        }
        currency = CURRENCY_PROPERTY[object_type]
        differing, missing, changes = [], [], []
        for item in items:
            result = by_id.get(item.hubspot_id)
            if result is not None:
                self.values[result.id] = (
                    result.properties.get("amount"),
                    result.properties.get(currency),
                )
                change = self._compare(item, result, answer.call.pk)
                if change == "differs":
                    differing.append((item, result))
                elif change is not None:
                    changes.append(change)
            elif item.hubspot_id in survivors:
                changes.append(
                    self._gone(
                        item,
                        reasons.record_merged(survivors[item.hubspot_id].id),
                        {"merged_into": survivors[item.hubspot_id].id},
                        answer.call.pk,
                    )
                )
            else:
                missing.append(item)
        changes += self._mismatches(object_type, differing, answer.call.pk)
        changes += self._settle_missing(object_type, missing)
        self._apply([c for c in changes if c is not None])

    def _compare(self, item: SyncItem, result: ObjectResult, call_id: int):
        """None (nothing to record), "differs", or the change to in sync."""
        if self.duplicates is not None and item.key in self.duplicates:
            return None  # the scan's finding stands
        if item.state not in CHECKED_STATES or (
            item.state == ItemState.DUPLICATE and self.duplicates is None
        ):
            return None
        if digest(item.properties, item.properties) != digest(
            item.properties, result.properties
        ):
            return "differs"
        if item.state == ItemState.VERIFIED:
            return None
        detail = {"source": "sweep", "hubspot_id": result.id}
        return Change(item, ItemState.VERIFIED, Outcome.VERIFIED, None, detail, call_id)

    def _mismatches(self, object_type: str, differing, call_id: int) -> list[Change]:
        if not differing:
            return []
        diffs = {
            item.pk: differences(item.properties, result.properties)
            for item, result in differing
        }
        history = self._history(object_type, differing, diffs)
        last = _last_details([item for item, _ in differing], Outcome.MISMATCH)
        changes = []
        for item, result in differing:
            fields = {}
            for name, values in diffs[item.pk].items():
                latest = (history.get(result.id, {}).get(name) or [{}])[0]
                fields[name] = {
                    **values,
                    "changed_at": latest.get("timestamp"),
                    "source": latest.get("sourceType"),
                    "source_id": latest.get("sourceId"),
                    "user_id": latest.get("updatedByUserId"),
                }
            if item.state == ItemState.MISMATCH and _same_values(
                last.get(item.pk, {}).get("mismatches"), fields
            ):
                continue
            detail = {"source": "sweep", "hubspot_id": result.id, "mismatches": fields}
            changes.append(
                Change(
                    item,
                    ItemState.MISMATCH,
                    Outcome.MISMATCH,
                    reasons.MISMATCH,
                    detail,
                    call_id,
                )
            )
        return changes

    def _history(self, object_type: str, differing, diffs) -> dict[str, dict]:
        """HubSpot id -> property -> versions, newest first, for the differing fields.

        A failed history read costs the diff its dates and sources, not the sweep.
        """
        found: dict[str, dict] = {}
        for start in range(0, len(differing), HISTORY_SIZE):
            chunk = differing[start : start + HISTORY_SIZE]
            names = sorted({name for item, _ in chunk for name in diffs[item.pk]})
            try:
                answer = self.client.batch_read(
                    object_type, [r.id for _, r in chunk], names, history=names
                )
            except HubSpotError as exc:
                logger.warning("Sweep %s: history read failed: %s", self.sweep.pk, exc)
                continue
            found.update({result.id: result.history for result in answer.results})
        return found

    def _settle_missing(self, object_type: str, items: list[SyncItem]) -> list[Change]:
        """Archived, merged or deleted: what became of records HubSpot did not find."""
        items = [item for item in items if item.state in CHECKED_STATES]
        if not items:
            return []
        ids = [item.hubspot_id for item in items]
        archived = self.client.batch_read(
            object_type, ids, ["hs_object_id"], archived=True
        )
        in_bin = {result.id for result in archived.results}
        rest = [i for i in ids if i not in in_bin]
        merged, merged_call = self._merged_into(object_type, rest)
        changes = []
        for item in items:
            if item.hubspot_id in in_bin:
                change = self._gone(
                    item, reasons.RECORD_ARCHIVED, {"archived": True}, archived.call.pk
                )
            elif item.hubspot_id in merged:
                survivor = merged[item.hubspot_id]
                change = self._gone(
                    item,
                    reasons.record_merged(survivor),
                    {"merged_into": survivor},
                    merged_call,
                )
            else:
                change = self._gone(
                    item, reasons.RECORD_DELETED, {"deleted": True}, archived.call.pk
                )
            changes.append(change)
        return changes

    def _merged_into(self, object_type: str, ids: list[str]):
        """Old id -> survivor, by searching hs_merged_object_ids (if reads do not
        follow merges, as HubSpot's batch read may not: api-facts §2.3)."""
        if not ids:
            return {}, None
        body = {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": MERGED_IDS, "operator": "IN", "values": ids}
                    ]
                }
            ],
            "properties": [MERGED_IDS],
            "limit": SEARCH_PAGE,
        }
        page = self.client.search(object_type, body)
        wanted = set(ids)
        merged = {
            old: result.id
            for result in page.results
            for old in (result.properties.get(MERGED_IDS) or "").split(";")
            if old in wanted
        }
        return merged, page.call.pk

    def _gone(self, item, reason, detail: dict, call_id) -> Change | None:
        if item.state not in CHECKED_STATES:
            return None  # the next sync sends it anyway
        if item.state == ItemState.NOT_FOUND and item.reason == reason.text:
            return None
        detail = {"source": "sweep", "hubspot_id": item.hubspot_id, **detail}
        return Change(
            item, ItemState.NOT_FOUND, Outcome.NOT_FOUND, reason, detail, call_id
        )

    def _apply(self, changes: list[Change]) -> None:
        """Write each change, unless a sync took the item meanwhile (state or lease)."""
        now = timezone.now()
        outcomes = []
        with transaction.atomic():
            for change in changes:
                item, reason = change.item, change.reason
                fields = {
                    "state": change.state,
                    "reason_code": reason.code if reason else "",
                    "reason": reason.text if reason else "",
                    "next_step": reason.next_step if reason else "",
                    "updated": now,
                }
                if item.state != change.state:
                    fields["state_changed"] = now
                if (
                    change.state == ItemState.NOT_FOUND
                    and item.object_type == ObjectType.LINE_ITEM
                ):
                    # The link went with the record: "linked" would be false.
                    # Pending, the next sync links it again once the record
                    # is back (restored, or re-created by a retry).
                    fields["association"] = Association.PENDING
                written = self._unleased(
                    SyncItem.objects.filter(pk=item.pk, state=item.state)
                ).update(**fields)
                if written:
                    outcomes.append(
                        ItemOutcome(
                            item_id=item.pk,
                            api_call_id=change.call_id,
                            outcome=change.outcome,
                            detail=change.detail,
                        )
                    )
            ItemOutcome.objects.bulk_create(outcomes)

    # 3. Orders

    def check_orders(self) -> None:
        deals = self._unleased(
            SyncItem.objects.filter(object_type=ObjectType.DEAL, state__in=ORDER_STATES)
        ).exclude(hubspot_id="")
        if self.orders is not None:
            deals = deals.filter(order__in=self.orders)
        ids = list(deals.order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(ids), ASSOCIATION_READ_SIZE):
            chunk = list(
                SyncItem.objects.filter(
                    pk__in=ids[start : start + ASSOCIATION_READ_SIZE]
                )
            )
            links = self.client.batch_read_associations(
                ObjectType.DEAL, ObjectType.LINE_ITEM, [d.hubspot_id for d in chunk]
            )
            self._check_order_chunk(chunk, links)
            self._report()

    def _check_order_chunk(self, deals: list[SyncItem], links) -> None:
        orders = {
            order.sync_item_id: order
            for order in Order.objects.filter(sync_item__in=deals)
        }
        lines = defaultdict(list)
        for line in SyncItem.objects.filter(
            object_type=ObjectType.LINE_ITEM, parent_key__in=[d.key for d in deals]
        ).exclude(state=ItemState.EXCLUDED):
            lines[line.parent_key].append(line)
        problems = []
        for deal in deals:
            order = orders.get(deal.pk)
            if order is not None:
                linked = links.get(deal.hubspot_id, set())
                problems += self._order_problems(order, deal, lines[deal.key], linked)
        with transaction.atomic():
            OrderProblem.objects.filter(order__in=list(orders.values())).delete()
            OrderProblem.objects.bulk_create(problems)

    def _order_problems(self, order, deal, lines, linked: set[str]):
        def problem(code, store_value, hubspot_value, **detail):
            return OrderProblem(
                order=order,
                code=code,
                store_value=str(store_value)[:200],
                hubspot_value=str(hubspot_value)[:200],
                detail={"deal_id": deal.hubspot_id, **detail},
                sweep=self.sweep,
            )

        found = []
        for line in sorted(lines, key=lambda line: line.key):
            if line.hubspot_id and line.state != ItemState.NOT_FOUND:
                if line.hubspot_id not in linked:
                    found.append(
                        problem(
                            OrderProblem.Code.LINE_NOT_ASSOCIATED,
                            line.key,
                            f"line item {line.hubspot_id} not on deal {deal.hubspot_id}",
                            line_key=line.key,
                            line_id=line.hubspot_id,
                        )
                    )
        if len(lines) != len(linked):
            found.append(
                problem(
                    OrderProblem.Code.LINE_COUNT,
                    len(lines),
                    len(linked),
                    line_ids=sorted(linked, key=int),
                )
            )
        deal_values = self.values.get(deal.hubspot_id)
        line_values = [self.values.get(line_id) for line_id in linked]
        if deal_values is None or None in line_values:
            return found  # a record the sweep did not read: no sums to compare
        found += self._amount_problems(problem, order, deal, deal_values, line_values)
        return found

    def _amount_problems(self, problem, order, deal, deal_values, line_values):
        found = []
        deal_amount = _decimal(deal_values[0])
        line_sum = sum((_decimal(amount) or 0 for amount, _ in line_values), Decimal(0))
        if deal.properties.get("tally_order_kind") == Order.Kind.CREDIT_NOTE:
            # A credit note's deal is negative, its lines positive (reconcile/mapping.py).
            line_sum = -line_sum
        if deal_amount != line_sum:
            found.append(
                problem(
                    OrderProblem.Code.AMOUNT_SUM,
                    deal.properties.get("amount", ""),
                    f"deal {_text(deal_amount)}, lines {_text(line_sum)}",
                    deal_amount=_text(deal_amount),
                    line_sum=_text(line_sum),
                )
            )
        line_currencies = sorted({currency or "" for _, currency in line_values})
        if line_currencies and line_currencies != [deal_values[1] or ""]:
            found.append(
                problem(
                    OrderProblem.Code.CURRENCY,
                    order.currency,
                    f"deal {deal_values[1] or '-'}, "
                    f"lines {', '.join(c or '-' for c in line_currencies)}",
                    deal_currency=deal_values[1],
                    line_currencies=line_currencies,
                )
            )
        return found

    # The end

    def finish(self) -> None:
        if self.duplicates is not None:
            # Seen by no part of this completed scan: gone from HubSpot, or adopted.
            Orphan.objects.exclude(sweep=self.sweep).delete()
        # Orders this sweep did not check (their deal is gone or not synced)
        # lose old problems; those a sync holds keep them until the next sweep.
        stale = OrderProblem.objects.exclude(sweep=self.sweep).exclude(
            order__sync_item__lease_until__gt=self.now
        )
        if self.orders is not None:
            stale = stale.filter(order__in=self.orders)
        stale.delete()
        counts = categories.counts()
        if self.orders is None:
            # The trend follows full sweeps; a targeted re-check is not one.
            CategorySnapshot.objects.create(counts=counts)
        Sweep.objects.filter(pk=self.sweep.pk).update(
            state=Sweep.State.DONE,
            finished=timezone.now(),
            counts=counts,
            calls=self.client.attempts,
        )


def _last_details(items, outcome: str) -> dict[int, dict]:
    """The detail of each item's latest outcome of this kind."""
    rows = (
        ItemOutcome.objects.filter(
            item__in=[item.pk for item in items], outcome=outcome
        )
        .order_by("item_id", "-pk")
        .values_list("item_id", "detail")
    )
    latest: dict[int, dict] = {}
    for item_id, detail in rows:
        latest.setdefault(item_id, detail or {})
    return latest


def _same_values(previous: dict | None, fields: dict) -> bool:
    """Whether a diff holds the same fields and values as an earlier one."""
    if not previous or set(previous) != set(fields):
        return False
    return all(
        (previous[name].get("store"), previous[name].get("hubspot"))
        == (fields[name]["store"], fields[name]["hubspot"])
        for name in fields
    )


def _decimal(text) -> Decimal | None:
    try:
        return Decimal(str(text)) if text not in (None, "") else None
    except InvalidOperation:
        return None


def _text(number: Decimal | None) -> str:
    if number is None:
        return ""
    return format(number.normalize(), "f") if number else "0"
