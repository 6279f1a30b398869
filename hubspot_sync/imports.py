"""Large backfills through HubSpot's imports API, polled until they end.

A run with many never-sent items (``TALLY_IMPORT_THRESHOLD``, or a run made
with ``imports=True``) writes them as CSV files, one per object type and
``TALLY_IMPORT_FILE_ROWS`` rows, each upserting on the store key column.
Each file is an ``ImportJob`` with its own ``SyncBatch``, which leases the
items until the job's deadline. A job is posted (``start``), then polled
(``poll``) with backoff until HubSpot says DONE, FAILED or CANCELED, or the
deadline passes. Then every item gets its outcome (``_settle_done``,
``_settle_unfinished``): row errors become failed outcomes, the rest are read
back by store key, as the batch path settles what it cannot account for.

The engine (``engine.start_import``, ``engine.poll_import``) runs these steps
and moves the run on when a job is finished.
"""

import csv
import io
import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from hubspot_sync import reasons, upserts
from hubspot_sync.client import HubSpotClient, HubSpotError, ImportRowError
from hubspot_sync.ledger import Ledger
from hubspot_sync.models import (
    SENDABLE_STATES,
    ImportJob,
    ItemState,
    ObjectType,
    Outcome,
    SyncBatch,
    SyncItem,
    SyncRun,
)
from hubspot_sync.properties import STORE_KEY_PROPERTY

logger = logging.getLogger(__name__)

State = ImportJob.State
OBJECT_TYPE_IDS = {ObjectType.DEAL: "0-3", ObjectType.LINE_ITEM: "0-8"}
WAITING = (State.STARTED, State.PROCESSING, State.DEFERRED)
UNFINISHED = (State.FAILED, State.CANCELED, State.REVERTED, State.PAST_DEADLINE)
POLL_FACTOR = 1.5
READ_SIZE = 100  # HubSpot's cap on batch reads
ERROR_PAGE = 100  # errors asked for per page
LEASE_CHUNK = 5000  # ids per UPDATE, well under SQLite's variable limit

# What a step asks of the engine next.
POLL_AGAIN = "poll"
FINISHED = "finished"

# Waiting between polls; tests replace it to move a time machine instead.
sleep = time.sleep


def plan(run: SyncRun) -> list[ImportJob]:
    """Lease the run's never-sent items to import jobs, when imports are due.

    Items a failed import gave back have attempts, so they go by batch next.
    """
    new = SyncItem.objects.filter(
        state__in=SENDABLE_STATES, hubspot_id="", attempts=0
    ).filter(Q(lease_until__isnull=True) | Q(lease_until__lt=timezone.now()))
    count = new.count()
    if not count or (not run.imports and count < settings.TALLY_IMPORT_THRESHOLD):
        return []
    jobs = []
    with transaction.atomic():
        for object_type in (ObjectType.DEAL, ObjectType.LINE_ITEM):
            ids = list(
                new.filter(object_type=object_type)
                .order_by("key")
                .values_list("pk", flat=True)
            )
            size = settings.TALLY_IMPORT_FILE_ROWS
            for start in range(0, len(ids), size):
                jobs.append(_new_job(run.pk, object_type, ids[start : start + size]))
    return jobs


def _new_job(run_id: int, object_type: str, ids: list[int]) -> ImportJob:
    batch = SyncBatch.objects.create(
        run_id=run_id, kind=SyncBatch.Kind.IMPORT, item_ids=ids
    )
    # The lease lasts as long as the job may: polls, deadline, then settling.
    until = (
        timezone.now() + _deadline() + timedelta(seconds=settings.TALLY_LEASE_SECONDS)
    )
    for start in range(0, len(ids), LEASE_CHUNK):
        SyncItem.objects.filter(pk__in=ids[start : start + LEASE_CHUNK]).update(
            lease_batch=batch, lease_until=until
        )
    return ImportJob.objects.create(
        run_id=run_id, batch=batch, object_type=object_type, item_ids=ids
    )


def _deadline() -> timedelta:
    return timedelta(minutes=settings.TALLY_IMPORT_DEADLINE_MINUTES)


# Posting


def start(job_id: int) -> str | None:
    """Post the job's file; returns POLL_AGAIN, FINISHED, or None (not ours)."""
    now = timezone.now()
    claimed = ImportJob.objects.filter(
        pk=job_id, state=State.QUEUED, started__isnull=True
    ).update(started=now)
    if not claimed:
        return None
    job = ImportJob.objects.select_related("batch").get(pk=job_id)
    SyncBatch.objects.filter(pk=job.batch_id).update(
        state=SyncBatch.State.RUNNING, started=now
    )
    items = _ordered_items(job)
    request, content = import_file(job, items)
    client = HubSpotClient()
    try:
        with client.recording(job.run_id, job.batch_id):
            status = client.start_import(request, [(_file_name(job), content)])
    except HubSpotError as exc:
        job.error = f"HubSpot refused the import file: {exc.message}"[:2000]
        return _end(job, State.FAILED, from_states=(State.QUEUED,))
    finally:
        client.close()
    posted = ImportJob.objects.filter(pk=job_id, state=State.QUEUED).update(
        hubspot_id=status.id,
        rows=len(items),
        state=_known_state(status.state),
        deadline=now + _deadline(),
        next_poll=timezone.now() + timedelta(seconds=_interval(0)),
    )
    if not posted:
        # Canceled from the jobs page while it was being posted.
        job.hubspot_id = status.id
        _cancel_at_hubspot(job)
        return None
    return POLL_AGAIN


def import_file(job: ImportJob, items: list[SyncItem]) -> tuple[dict, bytes]:
    """The importRequest and the CSV: the store key first, one row per item."""
    key = STORE_KEY_PROPERTY[job.object_type]
    names = sorted({name for item in items for name in item.properties} - {key})
    columns = [key, *names]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    for item in items:
        values = {**item.properties, key: item.key}
        writer.writerow(["" if values.get(c) is None else values[c] for c in columns])
    type_id = OBJECT_TYPE_IDS[job.object_type]
    mappings = [
        {"columnObjectTypeId": type_id, "columnName": name, "propertyName": name}
        for name in columns
    ]
    # The key column names the record to update, or to create when none has it.
    mappings[0]["columnType"] = "HUBSPOT_ALTERNATE_ID"
    request = {
        "name": f"Tally run {job.run_id}: {job.get_object_type_display()} (job {job.pk})",
        "importOperations": {type_id: "UPSERT"},
        "dateFormat": "YEAR_MONTH_DAY",
        "files": [
            {
                "fileName": _file_name(job),
                "fileFormat": "CSV",
                "fileImportPage": {"hasHeader": True, "columnMappings": mappings},
            }
        ],
    }
    return request, text.getvalue().encode()


def _file_name(job: ImportJob) -> str:
    return f"tally-job-{job.pk}-{job.object_type}.csv"


def _ordered_items(job: ImportJob) -> list[SyncItem]:
    """The job's items still leased to it, in the file's row order."""
    by_pk = {item.pk: item for item in SyncItem.objects.filter(lease_batch=job.batch)}
    return [by_pk[pk] for pk in job.item_ids if pk in by_pk]


# Polling


def poll(job_id: int, max_sleep: float | None = None) -> str | None:
    """Poll once when due (sleeping up to ``max_sleep`` seconds for it).

    Returns POLL_AGAIN while HubSpot is still working, FINISHED once every item
    has its outcome, or None when the job is not waiting for a poll.
    """
    job = ImportJob.objects.get(pk=job_id)
    if job.state not in WAITING or job.finished:
        return None
    wait = (job.next_poll - timezone.now()).total_seconds() if job.next_poll else 0
    if max_sleep is not None and wait > max_sleep:
        return POLL_AGAIN
    if wait > 0:
        sleep(wait)
    if job.deadline and timezone.now() >= job.deadline:
        return _past_deadline(job)
    client = HubSpotClient()
    try:
        with client.recording(job.run_id, job.batch_id):
            status = client.get_import(job.hubspot_id)
    except HubSpotError as exc:
        return _poll_failed(job, exc)
    finally:
        client.close()
    job.polls += 1
    job.last_poll = timezone.now()
    _count(job, status.counters)
    state = _known_state(status.state)
    if state in WAITING:
        job.state = state
        job.next_poll = job.last_poll + timedelta(seconds=_interval(job.polls))
        job.save(update_fields=[*_POLL_FIELDS, "state", "next_poll"])
        return POLL_AGAIN
    job.save(update_fields=_POLL_FIELDS)
    if state == State.DONE:
        return _end(job, State.DONE)
    job.error = job.error or f"HubSpot ended the import as {state}."
    return _end(job, state)


_POLL_FIELDS = [
    "polls",
    "last_poll",
    "rows",
    "objects_created",
    "objects_updated",
    "error_rows",
    "error",
]


def _interval(polls: int) -> float:
    first = settings.TALLY_IMPORT_POLL_SECONDS
    return min(settings.TALLY_IMPORT_POLL_MAX_SECONDS, first * POLL_FACTOR**polls)


def _known_state(state: str) -> str:
    if state in State.values and state not in (State.QUEUED, State.PAST_DEADLINE):
        return state
    # Not in D-IMP: keep polling, and let the deadline end it if it never moves.
    logger.warning("HubSpot answered an import state Tally does not know: %s", state)
    return State.PROCESSING


def _count(job: ImportJob, counters: dict[str, int]) -> None:
    # Counter names are not documented (api-facts §6); these are the ones seen.
    job.rows = counters.get("TOTAL_ROWS", job.rows)
    job.objects_created = counters.get("CREATED_OBJECTS", job.objects_created)
    job.objects_updated = counters.get("UPDATED_OBJECTS", job.objects_updated)
    job.error_rows = counters.get("ERRORS", job.error_rows)


def _poll_failed(job: ImportJob, exc: HubSpotError) -> str:
    job.polls += 1
    job.last_poll = timezone.now()
    if exc.permanent:
        job.error = f"HubSpot refused to report on the import: {exc.message}"[:2000]
        job.save(update_fields=_POLL_FIELDS)
        return _end(job, State.FAILED)
    # Not final: the next poll may get through, and the deadline bounds it.
    job.error = f"Last poll failed: {exc.message}"[:2000]
    job.next_poll = job.last_poll + timedelta(seconds=_interval(job.polls))
    job.save(update_fields=[*_POLL_FIELDS, "next_poll"])
    return POLL_AGAIN


def _past_deadline(job: ImportJob) -> str | None:
    minutes = settings.TALLY_IMPORT_DEADLINE_MINUTES
    job.error = (
        f"HubSpot's import was still {job.state} after {minutes} minutes; "
        "Tally stopped waiting and asked HubSpot to cancel it."
    )
    _cancel_at_hubspot(job)
    return _end(job, State.PAST_DEADLINE)


def _cancel_at_hubspot(job: ImportJob) -> bool:
    """Ask HubSpot to cancel; False when it would not (it may have ended)."""
    if not job.hubspot_id:
        return True
    client = HubSpotClient()
    try:
        with client.recording(job.run_id, job.batch_id):
            client.cancel_import(job.hubspot_id)
    except HubSpotError as exc:
        logger.warning("Import job %s: cancel refused: %s", job.pk, exc.message)
        return False
    finally:
        client.close()
    return True


def cancel(job_id: int, requested_by: str) -> str | None:
    """Cancel a job that has not ended (the jobs page); FINISHED when it did.

    None when it had ended already, or HubSpot would not cancel it (the next
    poll then reads how it ended).
    """
    job = ImportJob.objects.get(pk=job_id)
    if job.finished or job.state not in (State.QUEUED, *WAITING):
        return None
    if job.state != State.QUEUED and not _cancel_at_hubspot(job):
        return None
    job.canceled_by = requested_by[:150]
    job.error = f"Canceled by {requested_by or 'an operator'}."
    job.save(update_fields=["canceled_by", "error"])
    return _end(job, State.CANCELED, from_states=(State.QUEUED, *WAITING))


# Settling


def _end(job: ImportJob, state: str, from_states=WAITING) -> str | None:
    """Move the job to its final state once, then give every item its outcome."""
    won = ImportJob.objects.filter(
        pk=job.pk, state__in=from_states, finished__isnull=True
    ).update(state=state, error=job.error, next_poll=None)
    if not won:
        return None  # another poll or a cancel ended it first
    job.state = state
    batch = SyncBatch.objects.select_related("run").get(pk=job.batch_id)
    client = HubSpotClient()
    try:
        with client.recording(job.run_id, batch.pk):
            if state == State.DONE:
                _settle_done(client, job, batch)
                batch.state = SyncBatch.State.DONE
            else:
                # The run page shows the batch: an import that did not finish
                # must not read "Done" there.
                _settle_unfinished(job, batch)
                batch.state = SyncBatch.State.FAILED
                batch.error = (
                    f"The HubSpot import ended {state.lower()}; its items go by "
                    f"batch on the next sync. {job.error}"
                ).strip()[:2000]
    except Exception as exc:
        logger.exception("Import job %s failed inside Tally", job.pk)
        _settle_unfinished(job, batch, reasons.INTERNAL_ERROR)
        batch.state, batch.error = SyncBatch.State.FAILED, repr(exc)[:2000]
    finally:
        client.close()
    SyncItem.objects.filter(lease_batch=batch).update(
        lease_batch=None, lease_until=None
    )
    batch.finished = job.finished = timezone.now()
    batch.save(update_fields=["state", "finished", "error"])
    job.save(update_fields=["finished", "error"])
    return FINISHED


def _settle_done(client: HubSpotClient, job: ImportJob, batch: SyncBatch) -> None:
    items = _ordered_items(job)
    failed = _record_row_errors(client, job, batch, items)
    rest = [item for item in items if item.pk not in failed]
    for start in range(0, len(rest), READ_SIZE):
        ledger = Ledger(batch)
        _verify(client, ledger, job, rest[start : start + READ_SIZE])
        ledger.flush()


def _record_row_errors(client, job: ImportJob, batch, items) -> set[int]:
    """Fetch every page of the import's errors; each becomes its item's outcome."""
    by_key = {item.key: item for item in items}
    failed: set[int] = set()
    after = None
    pages = 0
    # At most one page per row and one more: a paging that never ends stops.
    while pages <= len(items) + 1:
        try:
            page = client.import_errors(job.hubspot_id, after, ERROR_PAGE)
        except HubSpotError as exc:
            # Their items are read back below and end up as unreported skips.
            job.error = f"Could not read the import's errors: {exc.message}"[:2000]
            return failed
        pages += 1
        ledger = Ledger(batch)
        for error in page.errors:
            item = _item_of(error, by_key, items)
            if item is None or item.pk in failed:
                logger.warning(
                    "Import job %s: error on line %s names no item of its file",
                    job.pk,
                    error.line,
                )
                continue
            failed.add(item.pk)
            _record_row_error(ledger, job, item, error, page.call)
        ledger.flush()
        if page.after is None:
            break
        after = page.after
    return failed


def _item_of(error: ImportRowError, by_key: dict, items: list) -> SyncItem | None:
    """The row's item: by the store key in its first column, else by line."""
    if error.row and error.row[0] in by_key:
        return by_key[error.row[0]]
    # Line 1 is the header; the first item is on line 2.
    index = (error.line or 0) - 2
    return items[index] if 0 <= index < len(items) else None


def _record_row_error(ledger, job, item, error: ImportRowError, call) -> None:
    reason = reasons.for_error(
        "", error.error_type, error.message or error.error_type, error.property_name
    )
    detail = {
        "import_job": job.pk,
        "import_id": job.hubspot_id,
        "line": error.line,
        "code": error.error_type,
        "invalid_value": error.invalid_value,
        "property": error.property_name,
        "message": error.message,
    }
    ledger.record([item], Outcome.FAILED, ItemState.FAILED, reason, detail, call)


def _verify(client, ledger: Ledger, job: ImportJob, items: list[SyncItem]) -> None:
    """Read the imported items by store key: verified, mismatch or not there."""
    detail = {"settled_by": "import_read", "import_job": job.pk}
    found, missing, call = upserts._read_by_key(client, ledger, items)
    if call is None:
        reason = reasons.unknown("the import ended DONE, but reading it back failed")
        ledger.record(items, Outcome.UNKNOWN, ItemState.UNKNOWN, reason, detail)
        return
    for item, result in found:
        upserts._compare(ledger, item, result, call, detail)
    ledger.record(
        missing,
        Outcome.UNREPORTED_SKIP,
        ItemState.UNREPORTED_SKIP,
        _unreported(job),
        detail,
        call,
    )


def _unreported(job: ImportJob) -> reasons.Reason:
    return reasons.Reason(
        "IMPORT_UNREPORTED",
        f"HubSpot's import {job.hubspot_id} ended DONE and listed no error for "
        "this row, but a read by store key does not find the record.",
        "Nothing to do: the next sync sends it again through the batch API. If "
        "it keeps happening, check the import in HubSpot.",
    )


def _settle_unfinished(job: ImportJob, batch: SyncBatch, reason=None) -> None:
    """FAILED, CANCELED, REVERTED or past deadline: each item sendable again.

    Rows of a canceled or abandoned import may have landed: unknown, which the
    next sync settles by upserting on the key.
    """
    state = (
        ItemState.TRANSIENT
        if job.state in (State.FAILED, State.REVERTED)
        else ItemState.UNKNOWN
    )
    reason = reason or reasons.Reason(
        f"IMPORT_{job.state}",
        f"HubSpot import {job.hubspot_id or '(not started)'} ended "
        f"{job.get_state_display().lower()}: {job.error}",
        "Nothing to do: the next sync sends it through the batch API.",
    )
    detail = {"import_job": job.pk, "import_id": job.hubspot_id, "state": job.state}
    items = _ordered_items(job)
    for start in range(0, len(items), LEASE_CHUNK):
        ledger = Ledger(batch)
        ledger.record(items[start : start + LEASE_CHUNK], state, state, reason, detail)
        ledger.flush()


def due_jobs(stale_before) -> tuple[list[int], list[int]]:
    """Jobs whose step got lost: (never posted, poll overdue) before ``stale_before``."""
    unposted = ImportJob.objects.filter(
        state=State.QUEUED, started__isnull=True, created__lt=stale_before
    )
    overdue = ImportJob.objects.filter(
        state__in=WAITING, finished__isnull=True, next_poll__lt=stale_before
    )
    return (
        list(unposted.values_list("pk", flat=True)),
        list(overdue.values_list("pk", flat=True)),
    )
