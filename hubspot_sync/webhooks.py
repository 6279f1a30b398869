"""HubSpot's webhooks: the receiver (POST /hubspot/webhooks/) and the task that acts on them.

The receiver checks the v3 signature (api-facts §7, docs/webhooks.md), stores
each event once and queues ``process_events``; it never calls HubSpot, so it
answers well inside HubSpot's 5-second timeout. The task finds the items the
events name, re-points an item whose record was merged away, and sends
``records_changed`` so that reconcile re-checks their orders in one targeted
sweep. Events about records Tally does not hold are kept and marked ignored.

The signature is computed here and, separately, in the sandbox
(hubspot_sync.sandbox.webhooks): the two implementations check each other in
the end-to-end tests, and this one is also checked against HubSpot's
published test vector.
"""

import base64
import hashlib
import hmac
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.encoding import escape_uri_path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from django_q.tasks import async_task

from hubspot_sync import reasons
from hubspot_sync.client import map_text, redact
from hubspot_sync.models import (
    Association,
    ItemOutcome,
    ItemState,
    ObjectType,
    Outcome,
    SyncItem,
    WebhookEvent,
)
from hubspot_sync.properties import FINGERPRINT_PROPERTY, STORE_KEY_PROPERTY
from hubspot_sync.signals import records_changed

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
# "Reject the request if the timestamp is older than 5 minutes"
MAX_AGE_MS = 5 * 60 * 1000
MAX_EVENTS = 99  # "will be under 100 notifications"
MAX_OCCURRED_AT = 253_402_300_800_000  # year 10000, in ms
# api-facts §7, step 2: encodings decoded in the URI before signing.
DECODINGS = (
    ("%3A", ":"),
    ("%2F", "/"),
    ("%3F", "?"),
    ("%40", "@"),
    ("%21", "!"),
    ("%24", "$"),
    ("%27", "'"),
    ("%28", "("),
    ("%29", ")"),
    ("%2A", "*"),
    ("%2C", ","),
    ("%3B", ";"),
)
# Failed events: the first retry after this many minutes, then twice as long
# each time (TALLY_WEBHOOK_MAX_TRIES in all); events received this long ago and
# never taken are queued again; at most this many a round.
RETRY_MINUTES = 1
STRANDED_MINUTES = 5
RETRY_LIMIT = 5000
# Legacy subscription prefixes and generic objectTypeIds (api-facts §7).
LEGACY_TYPES = {"deal": ObjectType.DEAL, "line_item": ObjectType.LINE_ITEM}
TYPE_IDS = {"0-3": ObjectType.DEAL, "0-8": ObjectType.LINE_ITEM}
ASSOCIATION_ENDS = {"DEAL": ObjectType.DEAL, "LINE_ITEM": ObjectType.LINE_ITEM}
CHECKED_ACTIONS = (
    "propertyChange",
    "deletion",
    "merge",
    "restore",
    "associationChange",
)
# Properties whose change in HubSpot matters to Tally beside the synced ones:
# the order checks read amounts and currencies.
WATCHED_PROPERTIES = {
    "amount",
    "deal_currency_code",
    "hs_line_item_currency_code",
    FINGERPRINT_PROPERTY,
    *STORE_KEY_PROPERTY.values(),
}
# Changes made through the API by an integration: Tally's own writes come
# back this way (sourceId is the app's ID; unverified, see docs/webhooks.md).
INTEGRATION_SOURCES = ("INTEGRATION", "API")


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(reason)


# 1. The signature


def signature_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str):
    """base64(HMAC-SHA256(secret, method + uri + body + timestamp)), api-facts §7."""
    message = method.encode() + uri.encode() + body + timestamp.encode()
    return base64.b64encode(
        hmac.new(secret.encode(), message, hashlib.sha256).digest()
    ).decode()


def decode_uri(uri: str) -> str:
    """The URI with HubSpot's listed percent-encodings decoded, and no others."""
    for encoded, character in DECODINGS:
        uri = uri.replace(encoded, character)
    return uri


def public_uri(request: HttpRequest) -> str:
    """The full URI HubSpot called, as signed: TALLY_PUBLIC_URL's origin if set.

    Behind a proxy the request's own scheme and host are the proxy's; set
    TALLY_PUBLIC_URL to what HubSpot was given (docs/webhooks.md).
    """
    origin = settings.TALLY_PUBLIC_URL or f"{request.scheme}://{request.get_host()}"
    path = escape_uri_path(request.path)
    query = request.META.get("QUERY_STRING", "")
    return decode_uri(origin + path + (f"?{query}" if query else ""))


def verify(request: HttpRequest, now_ms: int | None = None) -> None:
    """Refused(401) unless the request carries a fresh, valid v3 signature."""
    secret = settings.HUBSPOT_CLIENT_SECRET
    if not secret:
        raise Refused(401, "HUBSPOT_CLIENT_SECRET is not set")
    signature = request.headers.get(SIGNATURE_HEADER, "")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    if not signature or not timestamp:
        raise Refused(401, "signature or timestamp header missing")
    # isdigit() alone accepts "²" and other digits int() refuses.
    if not (timestamp.isascii() and timestamp.isdigit()):
        raise Refused(401, "timestamp is not in milliseconds")
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    if abs(now_ms - int(timestamp)) > MAX_AGE_MS:
        raise Refused(401, "timestamp more than 5 minutes away")
    expected = signature_v3(
        secret, request.method or "", public_uri(request), request.body, timestamp
    )
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise Refused(401, "signature does not match")


# 2. The receiver


def _read_body(request: HttpRequest) -> None:
    """Read the body once, within DATA_UPLOAD_MAX_MEMORY_SIZE, or Refused(400).

    Django's own refusal is an HTML page and a logged traceback for each
    oversized request from anyone; under 100 events is far below the limit.
    """
    try:
        request.body  # noqa: B018  (reads and caches it)
    except RequestDataTooBig:
        raise Refused(400, "the body is larger than HubSpot's batches") from None


@csrf_exempt
@require_POST
def receive(request: HttpRequest) -> HttpResponse:
    try:
        _read_body(request)
        verify(request)
        events = parse(request.body)
    except Refused as refusal:
        logger.warning(
            "Webhook request refused (%s): %s", refusal.status, refusal.reason
        )
        return JsonResponse({"error": refusal.reason}, status=refusal.status)
    new = store(events)
    if new:
        transaction.on_commit(lambda: enqueue(new))
    logger.info(
        "Webhook batch: %d events, %d new, %d already stored",
        len(events),
        len(new),
        len(events) - len(new),
    )
    return JsonResponse({"received": len(events), "new": len(new)})


def parse(body: bytes) -> list[dict[str, Any]]:
    """The events of a batch; Refused(400) unless a JSON array of under 100 events."""
    try:
        events = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        # RecursionError: thousands of nested brackets, signed or not.
        raise Refused(400, "the body is not JSON") from None
    if not isinstance(events, list):
        raise Refused(400, "the body is not a JSON array")
    if len(events) > MAX_EVENTS:
        raise Refused(400, f"{len(events)} events; HubSpot sends under 100")
    for position, event in enumerate(events):
        if not isinstance(event, dict):
            raise Refused(400, f"event {position} is not an object")
        occurred = event.get("occurredAt")
        if not isinstance(event.get("subscriptionType"), str) or not (
            _is_int(occurred) and 0 <= occurred < MAX_OCCURRED_AT
        ):
            raise Refused(400, f"event {position} lacks subscriptionType or occurredAt")
    return events


def dedupe_key(event: dict[str, Any]) -> str:
    """The event without attemptNumber, hashed: a retry of one event has the same key.

    HubSpot says eventId alone "is not guaranteed to be unique" (api-facts §7).
    """
    same = {k: v for k, v in event.items() if k != "attemptNumber"}
    canonical = json.dumps(same, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def store(events: list[dict[str, Any]]) -> list[int]:
    """Store each event not stored yet; the ids of the new rows.

    A few statements whatever the batch's size: the stored keys are read at
    once and the new events written in one insert. Only when another request
    stored some of the same events in between does it go event by event.
    """
    keyed: dict[str, dict[str, Any]] = {}
    for event in events:
        keyed.setdefault(dedupe_key(event), event)
    held = _held(list(keyed))
    rows = [
        WebhookEvent(dedupe_key=key, **_fields(event))
        for key, event in keyed.items()
        if key not in held
    ]
    if not rows:
        return []
    try:
        with transaction.atomic():
            WebhookEvent.objects.bulk_create(rows)
    except IntegrityError:  # some were stored beside us just now
        return _store_each(rows)
    if any(row.pk is None for row in rows):  # a database that returns no ids
        keys = [row.dedupe_key for row in rows]
        return list(
            WebhookEvent.objects.filter(dedupe_key__in=keys)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    return [row.pk for row in rows]


def _held(keys: list[str]) -> set[str]:
    """Which of these events are stored already."""
    stored = WebhookEvent.objects.filter(dedupe_key__in=keys)
    return set(stored.values_list("dedupe_key", flat=True))


def _store_each(rows: list[WebhookEvent]) -> list[int]:
    new = []
    for row in rows:
        row.pk = None
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except IntegrityError:
            continue
        new.append(row.pk)
    return new


def _fields(event: dict[str, Any]) -> dict[str, Any]:
    # The dedupe key is of the event as sent; what is kept never holds the
    # token, nor text a database cannot store.
    event = _storable(redact(event))
    object_type, _ = classify(event)
    value = event.get("propertyValue")
    return {
        "event_id": _int_or_none(event.get("eventId")),
        "subscription_id": _int_or_none(event.get("subscriptionId")),
        "portal_id": _int_or_none(event.get("portalId")),
        "subscription_type": event["subscriptionType"][:64],
        "object_type": object_type or "",
        "object_id": _text(event.get("objectId"))[:32],
        "property_name": _text(event.get("propertyName"))[:200],
        "property_value": "" if value is None else _text(value),
        "change_source": _text(event.get("changeSource"))[:64],
        "occurred_at": datetime.fromtimestamp(event["occurredAt"] / 1000, tz=UTC),
        "attempt_number": min(
            max(_int_or_none(event.get("attemptNumber")) or 0, 0), 32767
        ),
        "payload": event,
    }


def enqueue(event_ids: list[int]) -> None:
    async_task(
        "hubspot_sync.webhooks.process_events",
        event_ids,
        task_name=f"webhooks-{event_ids[0]}-{event_ids[-1]}",
    )


# 3. Processing


def classify(event: dict[str, Any]) -> tuple[str | None, str]:
    """(Tally's object type or None, the action) of an event."""
    kind, _, action = event.get("subscriptionType", "").partition(".")
    if kind == "object":
        return TYPE_IDS.get(str(event.get("objectTypeId", ""))), action
    return LEGACY_TYPES.get(kind), action


def process_events(event_ids: list[int]) -> dict[str, int]:
    """Act on stored events (the django-q task); events already handled are skipped.

    On an error nothing of the batch is kept but the events' failed state and
    the error, so that a person sees them (the next sweep still checks).
    """
    try:
        return _process(event_ids)
    except Exception as exc:
        logger.exception("Webhook events %s failed", event_ids)
        _failed(event_ids, f"{type(exc).__name__}: {exc}")
        raise


def _failed(event_ids: list[int], error: str) -> None:
    """Mark the events failed, each with its next try or none if used up."""
    now = timezone.now()
    most = settings.TALLY_WEBHOOK_MAX_TRIES
    events = WebhookEvent.objects.filter(
        pk__in=event_ids, state=WebhookEvent.State.RECEIVED
    )
    for tries in set(events.values_list("tries", flat=True)):
        tried = tries + 1
        if tried < most:
            wait = RETRY_MINUTES * 2 ** (tried - 1)
            next_try = now + timedelta(minutes=wait)
            after = f"try {tried} of {most}; next try in about {wait} min"
        else:
            next_try = None
            after = (
                f"try {tried} of {most}, the last; the next full sweep "
                "still checks these records"
            )
        events.filter(tries=tries).update(
            state=WebhookEvent.State.FAILED,
            processed_at=now,
            tries=tried,
            next_try=next_try,
            detail=f"{error[:1800]} ({after})",
        )


def retry(now: datetime | None = None) -> int:
    """Queue again the failed events due another try and the stranded ones.

    Stranded: received long ago but never taken (the queueing was lost, or
    the worker died inside the task, which rolls its claim back). Queueing
    an event twice is harmless: a task takes only events still received.
    Run by the "tally-webhook-retry" schedule; the number of events queued.
    """
    now = now or timezone.now()
    failed = list(
        WebhookEvent.objects.filter(
            state=WebhookEvent.State.FAILED, next_try__lte=now
        ).values_list("pk", flat=True)[:RETRY_LIMIT]
    )
    WebhookEvent.objects.filter(pk__in=failed, state=WebhookEvent.State.FAILED).update(
        state=WebhookEvent.State.RECEIVED, next_try=None
    )
    stranded = WebhookEvent.objects.filter(
        Q(next_try__isnull=True) | Q(next_try__lte=now),
        state=WebhookEvent.State.RECEIVED,
        received__lte=now - timedelta(minutes=STRANDED_MINUTES),
    ).exclude(pk__in=failed)
    stranded_ids = list(stranded.values_list("pk", flat=True)[:RETRY_LIMIT])
    # Not again for a while, however long the queue is.
    WebhookEvent.objects.filter(pk__in=stranded_ids).update(
        next_try=now + timedelta(minutes=STRANDED_MINUTES)
    )
    queued = sorted([*failed, *stranded_ids])
    for start in range(0, len(queued), MAX_EVENTS):
        enqueue(queued[start : start + MAX_EVENTS])
    if queued:
        logger.info(
            "Webhook events queued again: %d failed, %d stranded",
            len(failed),
            len(stranded_ids),
        )
    return len(queued)


def _process(event_ids: list[int]) -> dict[str, int]:
    with transaction.atomic():
        events = list(
            WebhookEvent.objects.filter(
                pk__in=event_ids, state=WebhookEvent.State.RECEIVED
            ).order_by("occurred_at", "pk")
        )
        claimed = WebhookEvent.objects.filter(
            pk__in=[e.pk for e in events], state=WebhookEvent.State.RECEIVED
        ).update(
            state=WebhookEvent.State.PROCESSED,
            processed_at=timezone.now(),
            next_try=None,
        )
        if claimed != len(events):  # another worker took some: let it do them
            transaction.set_rollback(True)
            return {"processed": 0, "ignored": 0, "failed": 0}
        checked: set[int] = set()
        ignored: dict[int, str] = {}
        results, broken = _act_on_all(events)
        for pk, (items, why) in results.items():
            if items:
                checked.update(items)
            else:
                ignored[pk] = why
        for reason in set(ignored.values()):
            WebhookEvent.objects.filter(
                pk__in=[pk for pk, why in ignored.items() if why == reason]
            ).update(state=WebhookEvent.State.IGNORED, detail=reason)
        if broken:
            WebhookEvent.objects.filter(pk__in=broken).update(
                state=WebhookEvent.State.RECEIVED
            )
            for error in set(broken.values()):
                _failed([pk for pk, e in broken.items() if e == error], error)
        done = [e.pk for e in events if e.pk not in ignored and e.pk not in broken]
        if checked:
            answers = records_changed.send(
                sender=WebhookEvent, item_ids=sorted(checked), event_ids=done
            )
            names = [_named(answer) for _, answer in answers if answer is not None]
            WebhookEvent.objects.filter(pk__in=done).update(
                detail=("Re-check: " + ", ".join(names)) if names else "Re-check asked"
            )
    logger.info(
        "Webhook events: %d acted on (%d items), %d ignored, %d failed",
        len(done),
        len(checked),
        len(ignored),
        len(broken),
    )
    return {"processed": len(done), "ignored": len(ignored), "failed": len(broken)}


def _act_on_all(events: list[WebhookEvent]):
    """Each event's items (or why none) and the events that failed, with why.

    All in one savepoint; only if one fails are they taken again one
    savepoint each, so that a bad event fails alone and the others count.
    """
    try:
        with transaction.atomic():
            held = _Held(events)
            return {e.pk: _act(e, held) for e in events}, {}
    except Exception:  # noqa: BLE001  (each one is taken again just below)
        logger.warning("%d webhook events: one failed; taking each alone", len(events))
    results, broken = {}, {}
    held = _Held(events)
    for event in events:
        try:
            with transaction.atomic():
                results[event.pk] = _act(event, held)
        except Exception as exc:
            logger.exception("Webhook event %s failed", event.pk)
            broken[event.pk] = f"{type(exc).__name__}: {exc}"
            held.forget()
    return results, broken


def _named(answer: Any) -> str:
    """What a re-check is called in an event's detail: "sweep 19", without
    its state, which would be stale once it ends."""
    pk = getattr(answer, "pk", None)
    return f"{type(answer).__name__.lower()} {pk}" if pk else str(answer)


class _Held:
    """The items a task's events name, read in one query and again after a merge."""

    def __init__(self, events: list[WebhookEvent]) -> None:
        self.events = events
        self.items: dict[tuple[str, str], list[SyncItem]] | None = None

    def find(self, ids: list[tuple[str, str]]) -> list[SyncItem]:
        if self.items is None:
            self.items = self._read()
        return [item for key in dict.fromkeys(ids) for item in self.items.get(key, [])]

    def forget(self) -> None:
        """A merge re-pointed items: read them anew when next asked."""
        self.items = None

    def _read(self) -> dict[tuple[str, str], list[SyncItem]]:
        wanted = set()
        for event in self.events:
            object_type, action = classify(event.payload)
            if object_type and action in CHECKED_ACTIONS and action != "merge":
                wanted.update(_ids(event.payload, action, object_type))
        items: dict[tuple[str, str], list[SyncItem]] = {}
        found = SyncItem.objects.filter(
            hubspot_id__in={hubspot_id for _, hubspot_id in wanted}
        ).only("pk", "object_type", "hubspot_id", "properties")
        for item in found:
            key = (item.object_type, item.hubspot_id)
            if key in wanted:
                items.setdefault(key, []).append(item)
        return items


def _act(event: WebhookEvent, held: _Held) -> tuple[list[int], str]:
    """The items to re-check for one event, or none and why it is ignored."""
    payload = event.payload
    object_type, action = classify(payload)
    if object_type is None:
        return [], "Not a deal or a line item."
    if action not in CHECKED_ACTIONS:
        return [], f"Tally does not act on {action or 'this'} events."
    if _own_write(payload):
        return [], "Tally's own write, echoed by HubSpot."
    if action == "merge":
        held.forget()
        return _merge(event, object_type)
    found = held.find(_ids(payload, action, object_type))
    if not found:
        return [], "No item of Tally's has this HubSpot ID."
    if action == "propertyChange":
        name = payload.get("propertyName") or ""
        found = [
            item
            for item in found
            if name in item.properties or name in WATCHED_PROPERTIES
        ]
        if not found:
            return [], f"{name} is not a property Tally syncs."
    return [item.pk for item in found], ""


def _ids(payload, action: str, object_type: str) -> list[tuple[str, str]]:
    if action == "associationChange":
        start, _, end = str(payload.get("associationType", "")).partition("_TO_")
        pairs = [
            (ASSOCIATION_ENDS.get(start), payload.get("fromObjectId")),
            (ASSOCIATION_ENDS.get(end), payload.get("toObjectId")),
        ]
        return [(t, _text(i)) for t, i in pairs if t and i is not None]
    return [(object_type, _text(payload.get("objectId")))]


def _merge(event: WebhookEvent, object_type: str) -> tuple[list[int], str]:
    """Re-point items whose record was merged away to the survivor."""
    payload = event.payload
    primary = _text(payload.get("primaryObjectId"))
    survivor = _text(payload.get("newObjectId") or payload.get("primaryObjectId"))
    if not survivor:
        return [], "A merge event without primaryObjectId or newObjectId."
    merged = payload.get("mergedObjectIds") or []
    if not isinstance(merged, list):  # HubSpot sends a list; take one ID too
        merged = [merged]
    absorbed = {_text(i) for i in merged}
    absorbed.add(primary)
    absorbed.discard(survivor)
    absorbed.discard("")
    items = list(
        SyncItem.objects.filter(
            object_type=object_type, hubspot_id__in=[*absorbed, survivor]
        )
    )
    if not items:
        return [], "No item of Tally's has these HubSpot IDs."
    outcomes = []
    # One record keeps one store key. The survivor stays with the item that
    # held it, else with the primary's item (HubSpot keeps the primary's
    # values), else with the only item; every other absorbed item is gone,
    # merged into a record that is not its own, and is said so plainly.
    owner = next((i for i in items if i.hubspot_id == survivor), None)
    owner = owner or next((i for i in items if i.hubspot_id == primary), None)
    owner = owner or (items[0] if len(items) == 1 else None)
    now = timezone.now()
    for item in items:
        if item.hubspot_id == survivor:
            continue
        detail = {
            "source": "webhook",
            "merged_into": survivor,
            "event": event.pk,
            "changed_at": payload.get("occurredAt"),
            "change_source": payload.get("changeSource"),
        }
        if item is not owner:
            reason = reasons.record_merged(survivor)
            detail["hubspot_id"] = item.hubspot_id
            outcomes.append(
                ItemOutcome(item=item, outcome=Outcome.NOT_FOUND, detail=detail)
            )
            unlinked = {}
            if item.object_type == ObjectType.LINE_ITEM:
                # Its link went with the record: pending, not "linked", until a
                # sync links the record that replaces it.
                unlinked["association"] = Association.PENDING
            SyncItem.objects.filter(pk=item.pk).update(
                state=ItemState.NOT_FOUND,
                state_changed=now,
                reason_code=reason.code,
                reason=reason.text,
                next_step=reason.next_step,
                updated=now,
                **unlinked,
            )
            continue
        detail["hubspot_id"] = survivor
        detail["previous_hubspot_id"] = item.hubspot_id
        outcomes.append(ItemOutcome(item=item, outcome=Outcome.UPDATED, detail=detail))
        SyncItem.objects.filter(pk=item.pk).update(hubspot_id=survivor, updated=now)
    ItemOutcome.objects.bulk_create(outcomes)
    return [item.pk for item in items], ""


def _own_write(payload: dict[str, Any]) -> bool:
    """A change this app made through the API: sourceId names the app itself."""
    if payload.get("changeSource") not in INTEGRATION_SOURCES:
        return False
    source = _text(payload.get("sourceId")).rpartition(":")[2]
    return bool(source) and source == _text(payload.get("appId"))


def _storable(value: Any) -> Any:
    """``value`` with NUL characters and lone surrogates (which JSON allows as
    escapes, but PostgreSQL and UTF-8 do not) replaced by U+FFFD."""
    return map_text(value, _storable_text)


def _storable_text(text: str) -> str:
    if not text.isascii():
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text.replace("\x00", "\ufffd")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_or_none(value: Any) -> int | None:
    """A whole number that fits the database's 64-bit column, else None."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if _is_int(value) and -(2**63) <= value < 2**63:
        return value
    return None


def _text(value: Any) -> str:
    return "" if value is None else str(value)
