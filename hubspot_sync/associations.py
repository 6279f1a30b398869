"""Line items linked to their deals (v4 batch associations, type 20).

A link HubSpot does not confirm is checked with a read at once; a missing one
is created a second time, and only then flagged.
"""

import logging

from django.conf import settings

from hubspot_sync import reasons
from hubspot_sync.client import BatchAnswer, HubSpotClient, HubSpotError
from hubspot_sync.ledger import Ledger
from hubspot_sync.models import Association, ItemState, ObjectType, Outcome, SyncItem

logger = logging.getLogger(__name__)

LINE_ITEM_TO_DEAL = 20  # HUBSPOT_DEFINED association type id


def send(client: HubSpotClient, ledger: Ledger, items, recovered=False) -> None:
    # Linking again what a dead worker may have linked is harmless: HubSpot
    # keeps one association per pair and type.
    deal_ids = dict(
        SyncItem.objects.filter(key__in={item.parent_key for item in items})
        .exclude(hubspot_id="")
        .values_list("key", "hubspot_id")
    )
    orphans = [item for item in items if item.parent_key not in deal_ids]
    ledger.record_association(
        orphans, Outcome.FAILED, Association.FAILED, reasons.DEAL_NOT_SYNCED, {}, None
    )
    targets = {
        item.hubspot_id: (item, deal_ids[item.parent_key])
        for item in items
        if item.parent_key in deal_ids
    }
    unconfirmed = _create(client, ledger, targets)
    if unconfirmed:
        missing = _check_by_read(client, ledger, unconfirmed)
        if missing:
            still = _create(client, ledger, missing, repair=True)
            ledger.record_association(
                [item for item, _ in still.values()],
                Outcome.UNREPORTED_SKIP,
                Association.FAILED,
                reasons.ASSOCIATION_UNREPORTED,
                {"repair": True},
                None,
            )


def _create(client, ledger: Ledger, targets: dict, repair: bool = False) -> dict:
    """Create the links; return those HubSpot named nowhere."""
    if not targets:
        return {}
    pairs = [(line_id, deal_id) for line_id, (_, deal_id) in targets.items()]
    try:
        answer = client.batch_associate(
            ObjectType.LINE_ITEM, ObjectType.DEAL, LINE_ITEM_TO_DEAL, pairs
        )
    except HubSpotError as exc:
        reason = reasons.for_error(exc.category, "", exc.message)
        if not exc.permanent:
            reason = reasons.transient(exc.message)
        detail = {"http_status": exc.status, **exc.as_error_item().as_detail()}
        items = [item for item, _ in targets.values()]
        ledger.record_association(
            items, Outcome.FAILED, Association.FAILED, reason, detail, exc.call
        )
        return {}
    return _account(ledger, targets, answer, repair)


def _account(ledger: Ledger, targets: dict, answer: BatchAnswer, repair: bool):
    remaining = dict(targets)
    linked = []
    for result in answer.results:
        target = remaining.get(result.from_id)
        if target and target[1] == result.to_id:
            del remaining[result.from_id]
            linked.append(target)
    _record_linked(ledger, linked, answer.call, {"repair": True} if repair else {})
    for error in answer.errors:
        if error.category == "OBJECT_NOT_FOUND":
            _record_gone(ledger, remaining, set(error.ids), answer.call)
            continue
        ids = error.ids + error.context.get("fromObjectId", [])
        failed = [remaining.pop(i)[0] for i in ids if i in remaining]
        ledger.record_association(
            failed,
            Outcome.FAILED,
            Association.FAILED,
            reasons.ASSOCIATION_FAILED,
            error.as_detail(),
            answer.call,
        )
    if remaining:
        logger.warning(
            "Batch %s: %d links unconfirmed by HubSpot", ledger.batch.pk, len(remaining)
        )
    return remaining


def _record_gone(ledger: Ledger, remaining: dict, ids: set[str], call) -> None:
    """A line item or deal id HubSpot no longer has: deleted or merged away."""
    lines = [remaining.pop(i)[0] for i in list(remaining) if i in ids]
    deal_ids = {deal_id for _, deal_id in remaining.values()} & ids
    orphans = [i for i, (_, deal_id) in remaining.items() if deal_id in deal_ids]
    lines_of_gone_deals = [remaining.pop(i)[0] for i in orphans]
    deals = list(SyncItem.objects.filter(object_type="deals", hubspot_id__in=deal_ids))
    for gone in (lines, deals):
        mark_not_found(ledger, gone, call)
    ledger.record_association(
        lines_of_gone_deals,
        Outcome.FAILED,
        Association.FAILED,
        reasons.DEAL_NOT_SYNCED,
        {"deal_not_found": True},
        call,
    )


def mark_not_found(ledger: Ledger, items: list[SyncItem], call) -> None:
    """Flag records HubSpot no longer has; re-create them or wait, per setting.

    A gone line item's link is pending either way, never "linked": the link
    went with the record, and the link phase makes it again for the record
    that replaces it.
    """
    for item in items:
        if item.object_type == ObjectType.LINE_ITEM:
            item.association = Association.PENDING
    if settings.TALLY_ON_NOT_FOUND == "recreate":
        for item in items:
            item.hubspot_id = ""
        state, reason = ItemState.PENDING, reasons.NOT_FOUND_RECREATE
    else:
        state, reason = ItemState.NOT_FOUND, reasons.NOT_FOUND_WAIT
    ledger.record(items, Outcome.NOT_FOUND, state, reason, {"gone": True}, call)


def _check_by_read(client, ledger: Ledger, targets: dict) -> dict:
    """Read the unconfirmed links; record those that exist, return the rest."""
    try:
        links = client.batch_read_associations(
            ObjectType.LINE_ITEM, ObjectType.DEAL, list(targets)
        )
    except HubSpotError as exc:
        logger.warning("Batch %s: association read failed: %s", ledger.batch.pk, exc)
        return targets
    found = [
        target
        for line_id, target in targets.items()
        if target[1] in links.get(line_id, set())
    ]
    _record_linked(ledger, found, None, {"settled_by": "read"})
    return {
        line_id: target
        for line_id, target in targets.items()
        if target[1] not in links.get(line_id, set())
    }


def _record_linked(ledger: Ledger, targets, call, detail: dict) -> None:
    for item, deal_id in targets:
        item.associated_to = deal_id
    ledger.record_association(
        [item for item, _ in targets],
        Outcome.ASSOCIATED,
        Association.LINKED,
        None,
        detail,
        call,
    )
