"""The sync engine: plans runs, sends batches, accounts for every input.

Work is split into steps that take ids (``start_run``, ``process_batch``) and
hand further steps to a ``dispatch(step_name, id)`` callable: django-q2 in the
workers, a local queue for ``run_inline``. Every input of every batch ends
with one stored outcome: listed in HubSpot's results (verified or mismatch),
listed in its errors (failed), or in neither (unreported skip).
"""

import logging
from collections import deque
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from hubspot_sync import associations, reasons, upserts
from hubspot_sync.client import HubSpotClient, HubSpotError
from hubspot_sync.ledger import Ledger
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
from hubspot_sync.setup import SetupError, ensure_properties

logger = logging.getLogger(__name__)

Dispatch = Callable[[str, int], None]
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
        ledger.record(
            items, Outcome.TRANSIENT, ItemState.TRANSIENT, reasons.INTERNAL_ERROR
        )
        ledger.flush()
        batch.state, batch.error = SyncBatch.State.FAILED, repr(exc)[:2000]
    finally:
        client.close()
    batch.finished = timezone.now()
    batch.save(update_fields=["state", "finished", "error"])
    _advance(batch.run_id, dispatch)


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
    SyncBatch.Kind.DEAL_UPSERT: upserts.send,
    SyncBatch.Kind.LINE_ITEM_UPSERT: upserts.send,
    SyncBatch.Kind.ASSOCIATION: associations.send,
}
STEPS = {"process_batch": process_batch}
