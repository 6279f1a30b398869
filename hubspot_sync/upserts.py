"""Deals and line items written by batch upsert on their store keys.

Every input ends with an outcome. HubSpot's answer is matched input by input;
a whole-batch refusal is isolated by splitting and resending, so one bad
value does not sink its neighbours; and whatever HubSpot names nowhere is
read back at once by store key, so that a write that landed but was not
echoed is verified instead of left as a silent skip.
"""

import logging

from hubspot_sync import reasons
from hubspot_sync.client import BatchAnswer, HubSpotClient, HubSpotError
from hubspot_sync.ledger import Ledger
from hubspot_sync.models import Association, ItemState, ObjectType, Outcome, SyncItem
from hubspot_sync.properties import STORE_KEY_PROPERTY, differences

logger = logging.getLogger(__name__)

# Statuses for which HubSpot refuses a whole batch because of what is in it
# (VALIDATION_ERROR, CONFLICT): halving the batch finds the culprits.
ISOLATABLE_STATUSES = (400, 409)


def send(client: HubSpotClient, ledger: Ledger, items, recovered=False) -> None:
    """Upsert the items; ``recovered``: a dead worker may have sent them already.

    Then they are first read by store key, and only those HubSpot does not
    hold as the store has them are sent.
    """
    if recovered:
        items = _settle_before_resend(client, ledger, items)
        if not items:
            return
    object_type = items[0].object_type
    try:
        answer = client.batch_upsert(object_type, _inputs(items))
    except HubSpotError as exc:
        if exc.status in ISOLATABLE_STATUSES and len(items) > 1:
            middle = len(items) // 2
            send(client, ledger, items[:middle])
            send(client, ledger, items[middle:])
        elif _may_have_landed(exc):
            _settle_unknown(client, ledger, items, exc)
        else:
            ledger.record_call_failure(items, exc)
        return
    leftover = _account(ledger, items, answer)
    if leftover:
        _settle_by_read(client, ledger, leftover)


def _settle_before_resend(client, ledger: Ledger, items) -> list[SyncItem]:
    found, missing, call = _read_by_key(client, ledger, items)
    if call is None:
        return items  # could not read: the upsert is safe to send anyway
    resend = list(missing)
    for item, result in found:
        if differences(item.properties, result.properties):
            resend.append(item)
        else:
            _compare(ledger, item, result, call, {"settled_by": "read"})
    return resend


def _may_have_landed(exc: HubSpotError) -> bool:
    """A timeout, reset or 5xx after sending: HubSpot may have applied it."""
    return not exc.permanent and exc.status != 429 and exc.category != "DAILY_LIMIT"


def _settle_unknown(client, ledger: Ledger, items, exc: HubSpotError) -> None:
    """Read by store key what may have landed; never guess.

    Found: verified or mismatch. Not found: the write did not land, and the
    next run sends it again. Unreadable too: unknown until a later read.
    """
    ledger.record(
        items,
        Outcome.UNKNOWN,
        ItemState.UNKNOWN,
        reasons.unknown(exc.message),
        {"http_status": exc.status, "message": exc.message},
        exc.call,
    )
    found, missing, call = _read_by_key(client, ledger, items)
    not_landed = list(missing)
    for item, result in found:
        if differences(item.properties, result.properties):
            # HubSpot still holds what was there before: this write did not
            # land, which is for the next sync to resend, not for a person.
            not_landed.append(item)
        else:
            _compare(ledger, item, result, call, {"settled_by": "read"})
    ledger.record(
        not_landed,
        Outcome.TRANSIENT,
        ItemState.TRANSIENT,
        reasons.transient(exc.message),
        {"settled_by": "read"},
        call,
    )


def _inputs(items: list[SyncItem]) -> list[dict]:
    key_property = STORE_KEY_PROPERTY[items[0].object_type]
    return [
        {
            "id": item.key,
            "idProperty": key_property,
            "objectWriteTraceId": str(item.pk),
            "properties": item.properties,
        }
        for item in items
    ]


def _account(ledger: Ledger, items, answer: BatchAnswer) -> list[SyncItem]:
    """Record what HubSpot reported; return the inputs it named nowhere."""
    key_property = STORE_KEY_PROPERTY[items[0].object_type]
    by_key = {item.key: item for item in items}
    by_trace = {str(item.pk): item for item in items}
    seen: set[int] = set()
    for result in answer.results:
        key = result.properties.get(key_property) or ""
        item = by_key.get(key) or by_trace.get(result.trace_id)
        if item is None or item.pk in seen:
            logger.warning(
                "Batch %s: unmatched result id %s", ledger.batch.pk, result.id
            )
            continue
        seen.add(item.pk)
        _compare(ledger, item, result, answer.call, {"new": result.new})
    for error in answer.errors:
        named = (by_trace.get(t) or by_key.get(t) for t in error.trace_ids + error.ids)
        matched = [item for item in named if item is not None and item.pk not in seen]
        seen.update(item.pk for item in matched)
        ledger.record_error(matched, error, answer.call)
    leftover = [item for item in items if item.pk not in seen]
    if leftover:
        logger.debug(
            "Batch %s: HubSpot named %d inputs nowhere", ledger.batch.pk, len(leftover)
        )
        ledger.record(
            leftover,
            Outcome.UNREPORTED_SKIP,
            ItemState.UNREPORTED_SKIP,
            reasons.UNREPORTED_SKIP,
            {"http_status": answer.http_status},
            answer.call,
        )
    return leftover


def _compare(ledger: Ledger, item: SyncItem, result, call, detail: dict) -> None:
    detail = {**detail, "hubspot_id": result.id}
    if item.hubspot_id and item.hubspot_id != result.id:
        # The record Tally knew is gone (deleted or merged away in HubSpot) and
        # the upsert made or found another: its links must be made again.
        detail["previous_hubspot_id"] = item.hubspot_id
        _relink(item)
    item.hubspot_id = result.id
    diffs = differences(item.properties, result.properties)
    if diffs:
        ledger.record(
            [item],
            Outcome.MISMATCH,
            ItemState.MISMATCH,
            reasons.MISMATCH,
            {**detail, "mismatches": diffs},
            call,
        )
    else:
        ledger.record([item], Outcome.VERIFIED, ItemState.VERIFIED, None, detail, call)


def _relink(item: SyncItem) -> None:
    # A deal's lines are relinked by the association phase, which links every
    # line whose link does not point at its deal's current record.
    if item.object_type == ObjectType.LINE_ITEM:
        item.association = Association.PENDING


def _settle_by_read(client: HubSpotClient, ledger: Ledger, items) -> None:
    """Read unreported inputs by store key: written but not echoed, or not there."""
    found, missing, call = _read_by_key(client, ledger, items)
    for item, result in found:
        _compare(ledger, item, result, call, {"settled_by": "read"})
    ledger.record(
        missing,
        Outcome.NOT_FOUND,
        ItemState.UNREPORTED_SKIP,
        reasons.WRITE_NOT_FOUND,
        {"settled_by": "read"},
        call,
    )


def _read_by_key(client: HubSpotClient, ledger: Ledger, items):
    """Return (found items with their record, missing items, the call).

    When the read itself fails, nothing is known: both lists are empty.
    """
    object_type = items[0].object_type
    key_property = STORE_KEY_PROPERTY[object_type]
    try:
        answer = client.batch_read(
            object_type,
            [item.key for item in items],
            sorted(items[0].properties),
            id_property=key_property,
        )
    except HubSpotError as exc:
        logger.warning("Batch %s: read-back failed: %s", ledger.batch.pk, exc.message)
        return [], [], None
    by_key = {item.key: item for item in items}
    found = []
    for result in answer.results:
        item = by_key.pop(result.properties.get(key_property) or "", None)
        if item is not None:
            found.append((item, result))
    return found, list(by_key.values()), answer.call
