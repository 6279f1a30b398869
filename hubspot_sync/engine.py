"""The sync engine: plans runs, sends batches, accounts for every input.

Work is split into steps that take ids (``start_run``, ``process_batch``) and
hand further steps to a ``dispatch(step_name, id)`` callable: django-q2 in the
workers, a local queue for ``run_inline``. Every input of every batch ends
with one stored outcome: listed in HubSpot's results (verified or mismatch),
listed in its errors (failed), or in neither (unreported skip).
"""

import json
import logging
from collections import deque
from collections.abc import Callable

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from hubspot_sync import reasons
from hubspot_sync.client import BatchAnswer, HubSpotClient, HubSpotError
from hubspot_sync.models import (
    SENDABLE_STATES,
    Association,
    ItemOutcome,
    ItemState,
    ObjectType,
    Outcome,
    SyncBatch,
    SyncItem,
    SyncRun,
)
from hubspot_sync.properties import STORE_KEY_PROPERTY, differences
from hubspot_sync.setup import SetupError, ensure_properties

logger = logging.getLogger(__name__)

Dispatch = Callable[[str, int], None]
LINE_ITEM_TO_DEAL = 20  # HUBSPOT_DEFINED association type id
LINKABLE_STATES = (ItemState.VERIFIED, ItemState.MISMATCH)


def create_run(trigger: str = "command", requested_by: str = "") -> SyncRun:
    return SyncRun.objects.create(trigger=trigger, requested_by=requested_by)


def run_inline(
    run_id: int, progress: Callable[[SyncRun], None] | None = None
) -> SyncRun:
    """Run every step of a run in this process, in order."""
    queue: deque[tuple[str, int]] = deque()
    start_run(run_id, lambda step, arg: queue.append((step, arg)))
    while queue:
        step, arg = queue.popleft()
        STEPS[step](arg, lambda step, arg: queue.append((step, arg)))
        if progress:
            progress(SyncRun.objects.get(pk=run_id))
    return SyncRun.objects.get(pk=run_id)


def start_run(run_id: int, dispatch: Dispatch) -> None:
    claimed = SyncRun.objects.filter(pk=run_id, state=SyncRun.State.QUEUED).update(
        state=SyncRun.State.RUNNING, started=timezone.now()
    )
    if not claimed:
        return  # already started by an earlier delivery of this task
    other = (
        SyncRun.objects.filter(state=SyncRun.State.RUNNING).exclude(pk=run_id).first()
    )
    if other:
        _fail_run(run_id, f"Run {other.pk} is still running; start again when it ends.")
        return
    client = HubSpotClient()
    try:
        with client.recording(run_id):
            ensure_properties(client)
    except (HubSpotError, SetupError) as exc:
        _fail_run(run_id, f"HubSpot setup failed: {exc}")
        return
    finally:
        client.close()
    _plan_objects(run_id, dispatch)


def _plan_objects(run_id: int, dispatch: Dispatch) -> None:
    batches = []
    for object_type, kind in (
        (ObjectType.DEAL, SyncBatch.Kind.DEAL_UPSERT),
        (ObjectType.LINE_ITEM, SyncBatch.Kind.LINE_ITEM_UPSERT),
    ):
        ids = list(
            SyncItem.objects.filter(object_type=object_type, state__in=SENDABLE_STATES)
            .order_by("key")
            .values_list("pk", flat=True)
        )
        batches += _make_batches(run_id, kind, ids, settings.HUBSPOT_BATCH_SIZE)
    total_items = sum(len(batch.item_ids) for batch in batches)
    SyncRun.objects.filter(pk=run_id).update(
        phase=SyncRun.Phase.OBJECTS, items_total=total_items, batches_total=len(batches)
    )
    if not batches:
        _plan_associations(run_id, dispatch)
        return
    for batch in batches:
        dispatch("process_batch", batch.pk)


def _make_batches(run_id: int, kind: str, ids: list[int], size: int) -> list[SyncBatch]:
    batches = [
        SyncBatch(run_id=run_id, kind=kind, item_ids=ids[start : start + size])
        for start in range(0, len(ids), size)
    ]
    return SyncBatch.objects.bulk_create(batches)


class Ledger:
    """The outcomes of one batch, written together in one transaction.

    Rows are written with parameterised ``executemany`` rather than the ORM's
    bulk methods: for 100 items those cost more than the HubSpot call itself
    (bulk_update builds a CASE per column; bulk_create prepares every field).
    """

    ITEM_COLUMNS = (
        "state",
        "state_changed",
        "attempts",
        "last_run_id",
        "hubspot_id",
        "association",
        "associated_to",
        "reason_code",
        "reason",
        "next_step",
    )
    OUTCOME_COLUMNS = (
        "item_id",
        "run_id",
        "batch_id",
        "api_call_id",
        "outcome",
        "detail",
        "created",
    )

    def __init__(self, batch: SyncBatch) -> None:
        self.batch = batch
        self.items: dict[int, SyncItem] = {}
        self.outcomes: list[tuple] = []

    def note(self, items, outcome: str, detail: dict, call) -> None:
        detail_text = json.dumps(detail)
        call_id = call.pk if call is not None else None
        for item in items:
            self.items[item.pk] = item
            self.outcomes.append((item.pk, call_id, outcome, detail_text))

    def flush(self) -> None:
        adapt = connection.ops.adapt_datetimefield_value
        now = adapt(timezone.now())
        item_rows = []
        for item in self.items.values():
            values = [getattr(item, column) for column in self.ITEM_COLUMNS]
            values[1] = adapt(item.state_changed)
            item_rows.append([*values, now, item.pk])
        run_id, batch_id = self.batch.run_id, self.batch.pk
        outcome_rows = [
            (item_id, run_id, batch_id, call_id, outcome, detail, now)
            for item_id, call_id, outcome, detail in self.outcomes
        ]
        with transaction.atomic(), connection.cursor() as cursor:
            if item_rows:
                cursor.executemany(_update_sql(SyncItem, self.ITEM_COLUMNS), item_rows)
            if outcome_rows:
                cursor.executemany(
                    _insert_sql(ItemOutcome, self.OUTCOME_COLUMNS), outcome_rows
                )
        self.items, self.outcomes = {}, []


def _update_sql(model, columns) -> str:
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(c)} = %s" for c in (*columns, "updated"))
    table = quote(model._meta.db_table)
    return f"UPDATE {table} SET {assignments} WHERE id = %s"  # noqa: S608


def _insert_sql(model, columns) -> str:
    quote = connection.ops.quote_name
    names = ", ".join(quote(c) for c in columns)
    marks = ", ".join(["%s"] * len(columns))
    table = quote(model._meta.db_table)
    return f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608


def process_batch(batch_id: int, dispatch: Dispatch) -> None:
    claimed = SyncBatch.objects.filter(
        pk=batch_id, state=SyncBatch.State.QUEUED
    ).update(state=SyncBatch.State.RUNNING, started=timezone.now())
    if not claimed:
        return
    batch = SyncBatch.objects.select_related("run").get(pk=batch_id)
    items = list(SyncItem.objects.filter(pk__in=batch.item_ids).order_by("pk"))
    client = HubSpotClient()
    ledger = Ledger(batch)
    try:
        with client.recording(batch.run_id, batch.pk):
            HANDLERS[batch.kind](client, ledger, items)
        ledger.flush()
        batch.state = SyncBatch.State.DONE
    except Exception as exc:
        logger.exception("Batch %s failed inside Tally", batch_id)
        ledger = Ledger(batch)
        items = list(SyncItem.objects.filter(pk__in=batch.item_ids))
        _record(
            ledger,
            items,
            Outcome.TRANSIENT,
            ItemState.TRANSIENT,
            reasons.INTERNAL_ERROR,
        )
        ledger.flush()
        batch.state, batch.error = SyncBatch.State.FAILED, repr(exc)[:2000]
    finally:
        client.close()
    batch.finished = timezone.now()
    batch.save(update_fields=["state", "finished", "error"])
    _advance(batch.run_id, dispatch)


def _send_upserts(
    client: HubSpotClient, ledger: "Ledger", items: list[SyncItem]
) -> None:
    object_type = items[0].object_type
    key_property = STORE_KEY_PROPERTY[object_type]
    inputs = [
        {
            "id": item.key,
            "idProperty": key_property,
            "objectWriteTraceId": str(item.pk),
            "properties": item.properties,
        }
        for item in items
    ]
    try:
        answer = client.batch_upsert(object_type, inputs)
    except HubSpotError as exc:
        _record_call_failure(ledger, items, exc)
        return
    _account_upserts(ledger, items, answer, key_property)


def _account_upserts(ledger, items, answer: BatchAnswer, key_property: str) -> None:
    by_key = {item.key: item for item in items}
    by_trace = {str(item.pk): item for item in items}
    seen: set[int] = set()
    for result in answer.results:
        item = by_key.get(result.properties.get(key_property) or "") or by_trace.get(
            result.trace_id
        )
        if item is None or item.pk in seen:
            logger.warning(
                "Batch %s: unmatched HubSpot result id %s", ledger.batch.pk, result.id
            )
            continue
        seen.add(item.pk)
        item.hubspot_id = result.id
        diffs = differences(item.properties, result.properties)
        detail = {"new": result.new, "hubspot_id": result.id}
        if diffs:
            _record(
                ledger,
                [item],
                Outcome.MISMATCH,
                ItemState.MISMATCH,
                reasons.MISMATCH,
                {**detail, "mismatches": diffs},
                answer.call,
            )
        else:
            _record(
                ledger,
                [item],
                Outcome.VERIFIED,
                ItemState.VERIFIED,
                None,
                detail,
                answer.call,
            )
    for error in answer.errors:
        matched = [
            item
            for item in (
                by_trace.get(t) or by_key.get(t) for t in error.trace_ids + error.ids
            )
            if item is not None and item.pk not in seen
        ]
        seen.update(item.pk for item in matched)
        _record_error(ledger, matched, error.as_detail(), answer.call)
    leftover = [item for item in items if item.pk not in seen]
    if leftover:
        logger.warning(
            "Batch %s: %d inputs unreported by HubSpot", ledger.batch.pk, len(leftover)
        )
        _record(
            ledger,
            leftover,
            Outcome.UNREPORTED_SKIP,
            ItemState.UNREPORTED_SKIP,
            reasons.UNREPORTED_SKIP,
            {"http_status": answer.http_status},
            answer.call,
        )


def _send_associations(
    client: HubSpotClient, ledger: "Ledger", items: list[SyncItem]
) -> None:
    deal_ids = dict(
        SyncItem.objects.filter(key__in={item.parent_key for item in items})
        .exclude(hubspot_id="")
        .values_list("key", "hubspot_id")
    )
    orphans = [item for item in items if item.parent_key not in deal_ids]
    linkable = [item for item in items if item.parent_key in deal_ids]
    if orphans:
        _record_association(
            ledger,
            orphans,
            Outcome.FAILED,
            Association.FAILED,
            reasons.DEAL_NOT_SYNCED,
            {},
        )
    if not linkable:
        return
    pairs = [(item.hubspot_id, deal_ids[item.parent_key]) for item in linkable]
    try:
        answer = client.batch_associate(
            ObjectType.LINE_ITEM, ObjectType.DEAL, LINE_ITEM_TO_DEAL, pairs
        )
    except HubSpotError as exc:
        reason = _reason_for_call_failure(exc)
        _record_association(
            ledger,
            linkable,
            Outcome.FAILED,
            Association.FAILED,
            reason,
            _call_failure_detail(exc),
            exc.call,
        )
        return
    _account_associations(ledger, linkable, deal_ids, answer)


def _account_associations(ledger, items, deal_ids, answer: BatchAnswer) -> None:
    linked = {(r.from_id, r.to_id) for r in answer.results}
    done = [i for i in items if (i.hubspot_id, deal_ids[i.parent_key]) in linked]
    for item in done:
        item.associated_to = deal_ids[item.parent_key]
    _record_association(
        ledger, done, Outcome.ASSOCIATED, Association.LINKED, None, {}, answer.call
    )
    remaining = {item.hubspot_id: item for item in items if item not in done}
    for error in answer.errors:
        ids = error.ids + error.context.get("fromObjectId", [])
        failed = [remaining.pop(i) for i in ids if i in remaining]
        reason = reasons.for_error(error.category, error.code, error.message)
        _record_association(
            ledger,
            failed,
            Outcome.FAILED,
            Association.FAILED,
            reason,
            error.as_detail(),
            answer.call,
        )
    if remaining:
        _record_association(
            ledger,
            list(remaining.values()),
            Outcome.UNREPORTED_SKIP,
            Association.FAILED,
            reasons.ASSOCIATION_UNREPORTED,
            {"http_status": answer.http_status},
            answer.call,
        )


def _record_call_failure(ledger, items, exc: HubSpotError) -> None:
    detail = _call_failure_detail(exc)
    reason = _reason_for_call_failure(exc)
    if exc.permanent:
        _record(
            ledger, items, Outcome.FAILED, ItemState.FAILED, reason, detail, exc.call
        )
    elif exc.applied_unknown:
        _record(
            ledger, items, Outcome.UNKNOWN, ItemState.UNKNOWN, reason, detail, exc.call
        )
    else:
        _record(
            ledger,
            items,
            Outcome.TRANSIENT,
            ItemState.TRANSIENT,
            reason,
            detail,
            exc.call,
        )


def _call_failure_detail(exc: HubSpotError) -> dict:
    detail = {
        "http_status": exc.status,
        "category": exc.category,
        "message": exc.message,
    }
    code = next((e.get("code") for e in exc.errors if e.get("code")), "")
    if code:
        detail["code"] = code
    return detail


def _reason_for_call_failure(exc: HubSpotError) -> reasons.Reason:
    if exc.permanent or exc.category == "DAILY_LIMIT":
        code = next((e.get("code") for e in exc.errors if e.get("code")), "")
        return reasons.for_error(exc.category, code, exc.message)
    return reasons.transient(exc.message)


def _record_error(ledger, items, detail: dict, call) -> None:
    reason = reasons.for_error(detail["category"], detail["code"], detail["message"])
    _record(ledger, items, Outcome.FAILED, ItemState.FAILED, reason, detail, call)


def _record(ledger, items, outcome, state, reason, detail=None, call=None) -> None:
    """Move each item to its new state and note one outcome for it."""
    now = timezone.now()
    for item in items:
        if item.state != state:
            item.state_changed = now
        item.state = state
        item.attempts += 1
        item.last_run_id = ledger.batch.run_id
        item.reason_code = reason.code if reason else ""
        item.reason = reason.text if reason else ""
        item.next_step = reason.next_step if reason else ""
    ledger.note(items, outcome, detail or {}, call)


def _record_association(ledger, items, outcome, association, reason, detail, call=None):
    for item in items:
        item.association = association
        if reason:
            item.reason_code = reason.code
            item.reason = reason.text
            item.next_step = reason.next_step
        elif item.reason_code in _ASSOCIATION_CODES:
            item.reason_code = item.reason = item.next_step = ""
    ledger.note(items, outcome, {"association": True, **detail}, call)


_ASSOCIATION_CODES = {
    reasons.DEAL_NOT_SYNCED.code,
    reasons.ASSOCIATION_UNREPORTED.code,
}


def _advance(run_id: int, dispatch: Dispatch) -> None:
    """Count a finished batch; the last one of a phase starts the next phase."""
    with transaction.atomic():
        run = SyncRun.objects.select_for_update().get(pk=run_id)
        run.batches_done += 1
        run.save(update_fields=["batches_done"])
        if run.batches_done < run.batches_total:
            return
        phase = run.phase
    if phase == SyncRun.Phase.OBJECTS:
        _plan_associations(run_id, dispatch)
    else:
        _finish_run(run_id)


def _plan_associations(run_id: int, dispatch: Dispatch) -> None:
    ids = list(
        SyncItem.objects.filter(
            object_type=ObjectType.LINE_ITEM,
            state__in=LINKABLE_STATES,
            association__in=(Association.PENDING, Association.FAILED),
        )
        .exclude(hubspot_id="")
        .order_by("key")
        .values_list("pk", flat=True)
    )
    with transaction.atomic():
        run = SyncRun.objects.select_for_update().get(pk=run_id)
        if run.phase != SyncRun.Phase.OBJECTS and run.phase != SyncRun.Phase.PLANNING:
            return  # another worker planned this phase already
        batches = _make_batches(
            run_id,
            SyncBatch.Kind.ASSOCIATION,
            ids,
            settings.HUBSPOT_ASSOCIATION_BATCH_SIZE,
        )
        run.phase = SyncRun.Phase.ASSOCIATIONS
        run.batches_total += len(batches)
        run.save(update_fields=["phase", "batches_total"])
    if not batches:
        _finish_run(run_id)
        return
    for batch in batches:
        dispatch("process_batch", batch.pk)


def _finish_run(run_id: int) -> None:
    counts = (
        ItemOutcome.objects.filter(run_id=run_id)
        .values("outcome")
        .annotate(n=Count("id"))
        .order_by()
    )
    SyncRun.objects.filter(pk=run_id).update(
        state=SyncRun.State.DONE,
        phase=SyncRun.Phase.FINISHED,
        finished=timezone.now(),
        summary={row["outcome"]: row["n"] for row in counts},
    )


def _fail_run(run_id: int, error: str) -> None:
    logger.warning("Run %s could not finish: %s", run_id, error)
    SyncRun.objects.filter(pk=run_id).update(
        state=SyncRun.State.FAILED, finished=timezone.now(), error=error
    )


HANDLERS = {
    SyncBatch.Kind.DEAL_UPSERT: _send_upserts,
    SyncBatch.Kind.LINE_ITEM_UPSERT: _send_upserts,
    SyncBatch.Kind.ASSOCIATION: _send_associations,
}
STEPS = {"process_batch": process_batch}
