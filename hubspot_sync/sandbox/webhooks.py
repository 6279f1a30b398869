"""The sandbox delivers webhooks: HubSpot's event batches, signed with v3, from a thread.

``Webhooks`` watches the store (``Store.observer``): every write transaction
notes what it changed, and only a committed one turns its notes into events
(api-facts §7 shapes, legacy ``deal.*`` / ``line_item.*`` subscription
types). A background thread sends them in batches of at most 99 ("under 100
notifications") as a JSON array, POSTed with ``X-HubSpot-Signature-v3`` and
``X-HubSpot-Request-Timestamp``, so a write never waits for delivery. A
failed POST (connection error, timeout over 5 s, any 4xx or 5xx) is tried
again a few times with ``attemptNumber`` counting up, then dropped with a
warning (HubSpot retries up to 10 times over a day; the sandbox is brief).

The target must be a loopback URL: the sandbox talks to this machine only,
ignores proxy variables and follows no redirects.
"""

import base64
import hashlib
import hmac
import itertools
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from hubspot_sync.sandbox.clock import now_ms
from hubspot_sync.sandbox.history import API, APP_ID, Source
from hubspot_sync.sandbox.kinds import find_kind

logger = logging.getLogger(__name__)

BATCH_SIZE = 99  # "will be under 100 notifications" (api-facts §7)
TIMEOUT_SECONDS = 5  # HubSpot gives up on an answer after 5 s
ATTEMPTS = 4
RETRY_DELAYS = (0.2, 1.0, 3.0)
# Read-only properties every write touches: HubSpot offers no subscription
# to them, so they make no propertyChange events.
SYSTEM_PROPERTIES = frozenset(
    {"hs_object_id", "createdate", "hs_lastmodifieddate", "hs_merged_object_ids"}
)
PREFIX = {"deals": "deal", "line_items": "line_item"}
ACTIONS = (
    "creation",
    "deletion",
    "propertyChange",
    "associationChange",
    "merge",
    "restore",
)
# One subscription per type, with stable IDs (sandbox choice).
SUBSCRIPTION_IDS = {
    f"{prefix}.{action}": 7_000_001 + number
    for number, (prefix, action) in enumerate(
        itertools.product(sorted(PREFIX.values()), ACTIONS)
    )
}


def sign_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """HubSpot's v3 signature (api-facts §7): base64 HMAC-SHA256 of method+URI+body+timestamp."""
    message = method.encode() + uri.encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


# api-facts §7, step 2: the characters whose encodings are decoded in the URI
# that is signed. The receiver decodes the URI it was called with the same way.
_DECODINGS = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


def signed_uri(uri: str) -> str:
    for encoded, character in _DECODINGS.items():
        uri = uri.replace(encoded, character)
    return uri


def check_target(url: str) -> str:
    """The URL, if it is http(s) on a loopback host; ValueError otherwise."""
    from hubspot_sync.sandbox.server import is_loopback

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the webhook URL must be an http(s) URL, not {url!r}")
    if not is_loopback(parts.hostname):
        raise ValueError(
            f"the sandbox delivers webhooks to this machine only, not to {parts.hostname!r}"
        )
    return url


def validate(url: Any, secret: Any, own_changes: Any) -> None:
    """ValueError unless these make a delivery the sandbox may do."""
    if not isinstance(url, str):
        raise ValueError("the webhook url must be a string")
    if not isinstance(secret, str) or not secret:
        raise ValueError("a webhook url needs a secret (the app's client secret)")
    if not isinstance(own_changes, bool):
        raise ValueError("own_changes must be true or false")
    check_target(url)


@dataclass
class _Notes:
    """What the open transaction changed, until it commits or rolls back."""

    kinds: dict[str, str] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    survivors: set[str] = field(default_factory=set)
    events: list[tuple] = field(default_factory=list)
    source: Source | None = None


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an answer like any other, never followed


class Webhooks:
    """The store's observer and the delivery thread. Off until ``configure``."""

    def __init__(self, portal_id: int) -> None:
        self.portal_id = portal_id
        self.url: str | None = None
        self.secret = ""
        self.own_changes = False
        self._notes = _Notes()
        self._ids = itertools.count(int(time.time() * 1000))
        self._queue: deque[dict[str, Any]] = deque()
        self._ready = threading.Condition()
        self._busy = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.delivered = 0
        self.failed = 0
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), NoRedirects()
        )

    # Configuration

    def configure(
        self, url: str | None, secret: str | None = None, own_changes: bool = False
    ) -> None:
        """Deliver to ``url`` signed with ``secret``; ``url=None`` switches delivery off."""
        if url is None:
            with self._ready:
                self.url = None
            return
        validate(url, secret, own_changes)
        with self._ready:
            self.url, self.secret, self.own_changes = url, secret, own_changes
            self._stopping = False
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name="hubspot-sandbox-webhooks", daemon=True
            )
            self._thread.start()

    def describe(self) -> dict[str, Any]:
        """The settings and counts, never the secret."""
        return {
            "url": self.url,
            "own_changes": self.own_changes,
            "delivered": self.delivered,
            "failed": self.failed,
            "queued": len(self._queue) + self._busy,
        }

    def flush(self, timeout: float = 10) -> bool:
        """Wait until every queued event was sent or given up; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._ready:
            while self._queue or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._ready.wait(left)
        return True

    def stop(self, drain_seconds: float = 2) -> None:
        if self._thread is not None:
            self.flush(drain_seconds)
            with self._ready:
                self._stopping = True
                self._ready.notify_all()
            self._thread.join(timeout=TIMEOUT_SECONDS + 1)
            self._thread = None

    # The store's observer: called under the store's lock, inside a transaction

    @property
    def active(self) -> bool:
        return self.url is not None

    def saving(self, records: Iterable[Any], existing: set[str]) -> None:
        for record in records:
            self._notes.kinds[record.id] = record.kind
            if record.id not in existing and record.id not in self._notes.survivors:
                self._notes.created.append(record.id)

    def history(
        self, entries: list[tuple[str, str, str]], when_ms: int, source: Source
    ):
        notes = self._notes
        notes.source = notes.source or source
        created = set(notes.created)
        for object_id, name, value in entries:
            kind = notes.kinds.get(object_id)
            if kind is None or object_id in created or name in SYSTEM_PROPERTIES:
                continue
            extra = {"propertyName": name, "propertyValue": value}
            notes.events.append(
                (kind, "propertyChange", object_id, when_ms, source, extra)
            )

    def archived(self, kind: str, object_ids: Iterable[str], when_ms: int, source):
        for object_id in object_ids:
            extra = {"changeFlag": "DELETED"}
            self._notes.events.append(
                (kind, "deletion", object_id, when_ms, source, extra)
            )

    def restored(self, kind: str, object_ids: Iterable[str], when_ms: int, source):
        for object_id in object_ids:
            self._notes.events.append((kind, "restore", object_id, when_ms, source, {}))

    def merged(self, kind: str, absorbed: list[str], survivor: str, when_ms, source):
        primary, *others = absorbed
        self._notes.survivors.add(survivor)
        extra = {
            "primaryObjectId": int(primary),
            "mergedObjectIds": [int(i) for i in others],
            "newObjectId": int(survivor),
            "numberOfPropertiesMoved": 0,
        }
        self._notes.events.append((kind, "merge", survivor, when_ms, source, extra))
        self._notes.source = self._notes.source or source

    def linked(
        self,
        links: list[tuple[str, str, str, str]],
        removed: bool = False,
        source: Source | None = None,
    ) -> None:
        """(from kind, from id, to kind, to id) of each association direction
        made, or with ``removed`` taken away; ``source`` when not the API."""
        when = now_ms()
        for from_kind, from_id, to_kind, to_id in links:
            labels = [find_kind(k).label for k in (from_kind, to_kind)]  # type: ignore[union-attr]
            extra = {
                "associationType": "_TO_".join(labels),
                "fromObjectId": int(from_id),
                "toObjectId": int(to_id),
                "associationRemoved": removed,
                "isPrimaryAssociation": False,
            }
            self._notes.events.append(
                (from_kind, "associationChange", from_id, when, source, extra)
            )

    def committed(self) -> None:
        notes, self._notes = self._notes, _Notes()
        if not self.active:
            return
        source = notes.source or API
        events = [
            self._event(notes.kinds[i], "creation", i, None, source, {})
            for i in notes.created
        ]
        events += [
            self._event(kind, action, object_id, when, given or source, extra)
            for kind, action, object_id, when, given, extra in notes.events
        ]
        events = [e for e in events if e and (self.own_changes or not _own(e))]
        if events:
            with self._ready:
                self._queue.extend(events)
                self._ready.notify_all()

    def rolled_back(self) -> None:
        self._notes = _Notes()

    def _event(self, kind, action, object_id, when_ms, source: Source, extra):
        prefix = PREFIX.get(kind)
        if prefix is None:
            return None
        subscription = f"{prefix}.{action}"
        event = {
            "eventId": next(self._ids),
            "subscriptionId": SUBSCRIPTION_IDS[subscription],
            "portalId": self.portal_id,
            "appId": int(APP_ID),
            "occurredAt": when_ms if when_ms is not None else now_ms(),
            "subscriptionType": subscription,
            "attemptNumber": 0,
            "objectId": int(object_id),
            "changeSource": source.type,
            "sourceId": source.id,
        }
        if action == "creation":
            event["changeFlag"] = "CREATED"
        return event | extra

    # Delivery

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._stopping:
                    self._ready.wait()
                if self._stopping and not self._queue:
                    return
                batch = [
                    self._queue.popleft()
                    for _ in range(min(BATCH_SIZE, len(self._queue)))
                ]
                self._busy = len(batch)
                url, secret = self.url, self.secret
            try:
                if url is not None:
                    self._deliver(url, secret, batch)
            finally:
                with self._ready:
                    self._busy = 0
                    self._ready.notify_all()

    def _deliver(self, url: str, secret: str, batch: list[dict[str, Any]]) -> None:
        for attempt in range(ATTEMPTS):
            for event in batch:
                event["attemptNumber"] = attempt
            problem = self._post(url, secret, batch)
            if problem is None:
                self.delivered += len(batch)
                return
            if attempt + 1 < ATTEMPTS:
                logger.info(
                    "Webhook batch of %d to %s: %s; trying again",
                    len(batch),
                    url,
                    problem,
                )
                time.sleep(RETRY_DELAYS[attempt])
        self.failed += len(batch)
        logger.warning(
            "Webhook batch of %d events to %s given up after %d attempts: %s",
            len(batch),
            url,
            ATTEMPTS,
            problem,
        )

    def _post(self, url: str, secret: str, batch: list[dict[str, Any]]) -> str | None:
        body = json.dumps(batch, separators=(",", ":")).encode()
        timestamp = str(int(time.time() * 1000))  # real time, even under a frozen CLOCK
        request = urllib.request.Request(  # noqa: S310  (loopback http(s), checked in configure)
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-HubSpot-Signature-v3": sign_v3(
                    secret, "POST", signed_uri(url), body, timestamp
                ),
                "X-HubSpot-Request-Timestamp": timestamp,
                "User-Agent": "HubSpot Connect 2.0 (tally sandbox)",
            },
        )
        try:
            with self._opener.open(request, timeout=TIMEOUT_SECONDS) as answer:
                answer.read()
                return None
        except urllib.error.HTTPError as error:
            return f"HTTP {error.code}"
        except (OSError, ValueError) as error:
            return f"{type(error).__name__}: {error}"


def _own(event: dict[str, Any]) -> bool:
    """A change the sandbox's own app made: through the API, or by an import.

    Only the app posts imports to the sandbox, so every import is its own;
    without this a backfill of 80,000 rows sent 80,000 events back.
    """
    if event["changeSource"] == "IMPORT":
        return True
    return event["changeSource"] == API.type and event["sourceId"] == API.id
