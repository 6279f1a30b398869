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
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.utils import timezone

from hubspot_sync import associations, imports, reasons, signals, upserts
from hubspot_sync.client import HubSpotClient, HubSpotError
from hubspot_sync.ledger import Ledger
from hubspot_sync.models import (
    RETRYABLE_STATES,
    SENDABLE_STATES,
    Association,
    ImportJob,
    ItemOutcome,
    ItemState,
    ObjectType,
    Outcome,
    SyncBatch,
    SyncItem,
    SyncRun,
)
from hubspot_sync.setup import SetupError, ensure_properties_once

logger = logging.getLogger(__name__)

Dispatch = Callable[[str, int], None]
LINKABLE_STATES = (ItemState.VERIFIED, ItemState.MISMATCH)
FINISHED_BATCHES = (SyncBatch.State.DONE, SyncBatch.State.FAILED)
# recover_stalled waits at most this many leases between two hand-outs of a batch.
REDISPATCH_MAX_LEASES = 16


def create_run(
    trigger: str = "command",
    requested_by: str = "",
    retry: tuple[str, ...] = (),
    via_imports: bool = False,
) -> SyncRun:
    """Queue a run; items in the ``retry`` states are sent again by it.

    ``via_imports``: send never-sent items through HubSpot imports, however few.
    """
    unknown = set(retry) - set(RETRYABLE_STATES)
    if unknown:
        raise ValueError(f"cannot retry items in state {', '.join(sorted(unknown))}")
    if retry:
        SyncItem.objects.filter(state__in=retry).update(
            state=ItemState.PENDING, state_changed=timezone.now()
        )
    return SyncRun.objects.create(
        trigger=trigger, requested_by=requested_by, imports=via_imports
    )


def mark_pending(items, relink: bool = False) -> int:
    """Have the next run send these items again; returns how many changed.

    Excluded items stay excluded, and items already pending keep their
    "since when". Outcomes are history and stay as they are. ``relink`` also
    has the run link the line items to their deals again.
    """
    chosen = (
        SyncItem.objects.filter(pk__in=items.values("pk"))
        .exclude(state=ItemState.EXCLUDED)
        .order_by()
    )
    if relink:
        chosen.filter(object_type=ObjectType.LINE_ITEM).exclude(
            association=Association.NOT_APPLICABLE
        ).update(association=Association.PENDING)
    return chosen.exclude(state=ItemState.PENDING).update(
        state=ItemState.PENDING, state_changed=timezone.now()
    )


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
    client = HubSpotClient()
    try:
        with client.recording(run_id):
            ensure_properties_once(client)
    except (HubSpotError, SetupError) as exc:
        _fail_run(run_id, f"HubSpot setup failed: {exc}")
        return
    finally:
        client.close()
    _plan_objects(run_id, dispatch)


def _plan_objects(run_id: int, dispatch: Dispatch) -> None:
    # A large backfill goes through HubSpot imports first; the rest by batch.
    jobs = imports.plan(SyncRun.objects.get(pk=run_id))
    batches = []
    for object_type, kind in (
        (ObjectType.DEAL, SyncBatch.Kind.DEAL_UPSERT),
        (ObjectType.LINE_ITEM, SyncBatch.Kind.LINE_ITEM_UPSERT),
    ):
        items = SyncItem.objects.filter(
            object_type=object_type, state__in=SENDABLE_STATES
        )
        batches += _lease_batches(run_id, kind, items, settings.HUBSPOT_BATCH_SIZE)
    total_items = sum(len(batch.item_ids) for batch in batches)
    total_items += sum(len(job.item_ids) for job in jobs)
    SyncRun.objects.filter(pk=run_id).update(
        phase=SyncRun.Phase.OBJECTS,
        items_total=total_items,
        batches_total=len(batches) + len(jobs),
    )
    if not batches and not jobs:
        _plan_associations(run_id, dispatch)
        return
    for job in jobs:
        dispatch("start_import", job.pk)
    for batch in batches:
        dispatch("process_batch", batch.pk)


def _lease_batches(run_id: int, kind: str, items, size: int) -> list[SyncBatch]:
    """Cut the unleased items into batches, each holding a lease on its items.

    Items that another run's batch still holds are left to that batch.
    """
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            items.filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .order_by("key")
            .values_list("pk", flat=True)
        )
        batches = SyncBatch.objects.bulk_create(
            SyncBatch(run_id=run_id, kind=kind, item_ids=ids[start : start + size])
            for start in range(0, len(ids), size)
        )
        until = now + timedelta(seconds=settings.TALLY_LEASE_SECONDS)
        for batch in batches:
            SyncItem.objects.filter(pk__in=batch.item_ids).update(
                lease_batch=batch, lease_until=until
            )
    return batches


def process_batch(batch_id: int, dispatch: Dispatch) -> None:
    recovered = _claim(batch_id)
    if recovered is None:
        return  # done, or another worker has it
    batch = SyncBatch.objects.select_related("run").get(pk=batch_id)
    items = _renew_leases(batch)
    client = HubSpotClient()
    ledger = Ledger(batch)
    try:
        with client.recording(batch.run_id, batch.pk):
            if items:
                HANDLERS[batch.kind](client, ledger, items, recovered=recovered)
        ledger.flush()
        batch.state = SyncBatch.State.DONE
    except Exception as exc:
        logger.exception("Batch %s failed inside Tally", batch_id)
        ledger = Ledger(batch)
        ledger.record(
            _renew_leases(batch),
            Outcome.TRANSIENT,
            ItemState.TRANSIENT,
            reasons.INTERNAL_ERROR,
        )
        ledger.flush()
        batch.state, batch.error = SyncBatch.State.FAILED, repr(exc)[:2000]
    finally:
        client.close()
    SyncItem.objects.filter(lease_batch=batch).update(
        lease_batch=None, lease_until=None
    )
    batch.finished = timezone.now()
    batch.save(update_fields=["state", "finished", "error"])
    _advance(batch.run_id, dispatch)


def _claim(batch_id: int) -> bool | None:
    """Take the batch: False when fresh, True when taken over from a dead worker.

    None when it is done or a live worker has it.
    """
    now = timezone.now()
    fresh = SyncBatch.objects.filter(pk=batch_id, state=SyncBatch.State.QUEUED).update(
        state=SyncBatch.State.RUNNING, started=now, claims=F("claims") + 1
    )
    if fresh:
        return False
    stale = now - timedelta(seconds=settings.TALLY_LEASE_SECONDS)
    taken_over = SyncBatch.objects.filter(
        pk=batch_id, state=SyncBatch.State.RUNNING, started__lt=stale
    ).update(started=now, claims=F("claims") + 1)
    if taken_over:
        logger.warning("Batch %s: taking over from a worker that stopped", batch_id)
        return True
    return None


def _renew_leases(batch: SyncBatch) -> list[SyncItem]:
    """The batch's items that are still its own, with their leases renewed.

    An item whose lease ran out and went to another batch is that batch's now.
    """
    now = timezone.now()
    until = now + timedelta(seconds=settings.TALLY_LEASE_SECONDS)
    SyncItem.objects.filter(pk__in=batch.item_ids).filter(
        Q(lease_batch=batch) | Q(lease_batch__isnull=True) | Q(lease_until__lt=now)
    ).update(lease_batch=batch, lease_until=until)
    return list(SyncItem.objects.filter(lease_batch=batch).order_by("pk"))


def _advance(run_id: int, dispatch: Dispatch) -> None:
    """Count a finished batch; the last one of a phase starts the next phase."""
    with transaction.atomic():
        run = SyncRun.objects.select_for_update().get(pk=run_id)
        # Counted, not incremented, so that a batch finished twice (after a
        # worker died) or a lost step cannot leave the run short.
        run.batches_done = run.batches.filter(state__in=FINISHED_BATCHES).count()
        run.save(update_fields=["batches_done"])
        if run.batches_done < run.batches_total or run.state != SyncRun.State.RUNNING:
            return
        phase = run.phase
    if phase == SyncRun.Phase.OBJECTS:
        _plan_associations(run_id, dispatch)
    else:
        _finish_run(run_id)


def _plan_associations(run_id: int, dispatch: Dispatch) -> None:
    deal_id = SyncItem.objects.filter(key=OuterRef("parent_key")).values("hubspot_id")
    items = (
        SyncItem.objects.filter(
            object_type=ObjectType.LINE_ITEM, state__in=LINKABLE_STATES
        )
        .exclude(hubspot_id="")
        .annotate(deal_id=Subquery(deal_id[:1]))
        # Unlinked, or linked to a deal record that is no longer the order's
        # (re-created after a deletion or merge in HubSpot).
        .filter(
            Q(association__in=(Association.PENDING, Association.FAILED))
            | (Q(association=Association.LINKED) & ~Q(associated_to=F("deal_id")))
        )
    )
    with transaction.atomic():
        run = SyncRun.objects.select_for_update().get(pk=run_id)
        if run.phase != SyncRun.Phase.OBJECTS and run.phase != SyncRun.Phase.PLANNING:
            return  # another worker planned this phase already
        batches = _lease_batches(
            run_id,
            SyncBatch.Kind.ASSOCIATION,
            items,
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


def recover_stalled(dispatch: Dispatch) -> int:
    """Hand out again batches whose worker died; move runs whose steps got lost.

    Returns how many batches were handed out. Safe to run at any time: a batch
    a live worker holds is not taken from it (see ``_claim``).
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.TALLY_LEASE_SECONDS)
    batches = _due_again(
        SyncBatch.objects.filter(
            Q(state=SyncBatch.State.QUEUED, created__lt=stale)
            | Q(state=SyncBatch.State.RUNNING, started__lt=stale)
        )
        # An import's batch runs as long as its import: its job is polled.
        .exclude(kind=SyncBatch.Kind.IMPORT),
        now,
    )
    SyncBatch.objects.filter(pk__in=batches).update(
        redispatched=now, redispatches=F("redispatches") + 1
    )
    for batch_id in batches:
        dispatch("process_batch", batch_id)
    unposted, overdue = imports.due_jobs(stale)
    for job_id in unposted:
        dispatch("start_import", job_id)
    for job_id in overdue:
        dispatch("poll_import", job_id)
    for run in SyncRun.objects.filter(state=SyncRun.State.RUNNING, started__lt=stale):
        if run.phase == SyncRun.Phase.PLANNING:
            _fail_run(run.pk, "Planning stopped before it ended (a worker died).")
        elif not run.batches.exclude(state__in=FINISHED_BATCHES).exists():
            _advance(run.pk, dispatch)
    return len(batches)


def _due_again(stalled, now) -> list[int]:
    """The stalled batches to hand out again now.

    The first time as soon as the lease has run out; after that only once
    twice as long as the time before has passed since the last time (a
    lease, two, four ..., at most REDISPATCH_MAX_LEASES): a batch still
    queued may only be waiting its turn behind a long queue.
    """
    lease = timedelta(seconds=settings.TALLY_LEASE_SECONDS)
    due = []
    rows = stalled.values_list("pk", "redispatches", "redispatched", "started")
    for pk, times, last, started in rows:
        # Never handed out again, or taken by a worker since (whose lease has
        # run out too, or the batch would not be here): at once.
        if last is None or (started and started > last):
            due.append(pk)
        elif now - last >= lease * min(2 ** (times - 1), REDISPATCH_MAX_LEASES):
            due.append(pk)
    return due


def start_import(job_id: int, dispatch: Dispatch) -> None:
    _after_import(job_id, imports.start(job_id), dispatch)


def poll_import(
    job_id: int, dispatch: Dispatch, max_sleep: float | None = None
) -> None:
    _after_import(job_id, imports.poll(job_id, max_sleep), dispatch)


def cancel_import(job_id: int, requested_by: str, dispatch: Dispatch) -> bool:
    """Cancel a job that has not ended; False when it had ended already."""
    ended = imports.cancel(job_id, requested_by)
    _after_import(job_id, ended, dispatch)
    return ended == imports.FINISHED


def _after_import(job_id: int, step: str | None, dispatch: Dispatch) -> None:
    if step == imports.POLL_AGAIN:
        dispatch("poll_import", job_id)
    elif step == imports.FINISHED:
        run_id = ImportJob.objects.values_list("run_id", flat=True).get(pk=job_id)
        if run_id is not None:
            _advance(run_id, dispatch)


def _finish_run(run_id: int) -> None:
    counts = (
        ItemOutcome.objects.filter(run_id=run_id)
        .values("outcome")
        .annotate(n=Count("id"))
        .order_by()
    )
    finished = (
        SyncRun.objects.filter(pk=run_id)
        .exclude(state=SyncRun.State.DONE)
        .update(
            state=SyncRun.State.DONE,
            phase=SyncRun.Phase.FINISHED,
            finished=timezone.now(),
            summary={row["outcome"]: row["n"] for row in counts},
        )
    )
    if finished:
        trigger = SyncRun.objects.values_list("trigger", flat=True).get(pk=run_id)
        signals.run_finished.send(sender=SyncRun, run_id=run_id, trigger=trigger)


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
STEPS = {
    "process_batch": process_batch,
    "start_import": start_import,
    "poll_import": poll_import,
}
