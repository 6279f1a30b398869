"""The webhook receiver and its task, on the bundled real data.

    .venv/bin/python -m bench.webhooks [--batches 200]

HubSpot gives a webhook target 5 seconds to answer (api-facts §7). This
imports the bundled orders into a throwaway SQLite database, gives every deal
and line item a HubSpot ID as a sync would, then:

- posts ``--batches`` signed batches of 99 new propertyChange events each to
  ``/hubspot/webhooks/`` through Django's test client (the whole request:
  signature check, parse, store, queueing the task in the ORM broker), then
  the same batches again as HubSpot's retries (all duplicates);
- runs ``process_events`` on each stored batch, as the worker would: it finds
  the items named and queues one targeted sweep per batch (the sweeps
  themselves read HubSpot and are not run here).

Prints the median, 95th percentile and slowest time per batch and the
statements each takes. No sandbox is needed: nothing here calls HubSpot.
"""

import argparse
import json
import statistics
import time
from pathlib import Path

from bench import harness

SECRET = "bench-client-secret"
EVENTS_PER_BATCH = 99


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args()
    var = harness.fresh_tally("webhooks")
    from django.conf import settings

    settings.HUBSPOT_CLIENT_SECRET = SECRET
    settings.TALLY_PUBLIC_URL = ""
    data = Path(settings.BASE_DIR) / "data" / "online-retail-2010-12_2011-01.csv.gz"
    imported = harness.import_orders(data)
    ids = _as_if_synced()
    bodies = [_batch(ids, n) for n in range(args.batches)]

    first = _post_all(bodies)
    again = _post_all(bodies)
    processed = _process_all()
    rows = [
        ("step", "batches", "median ms", "p95 ms", "slowest ms", "statements"),
        _row("receive 99 new events", first),
        _row("receive 99 duplicates", again),
        _row("process 99 events", processed),
    ]
    harness.report(
        var,
        "webhooks",
        rows,
        {
            "import_seconds": round(imported, 1),
            "items_with_ids": len(ids),
            "target": "HubSpot's 5 s timeout for the receiver",
        },
    )
    harness.drop_bulky_files(var)


def _as_if_synced() -> list[tuple[str, str]]:
    """Give every item a HubSpot ID; return (kind, ID) per item."""
    from django.db.models import CharField, F, Value
    from django.db.models.functions import Cast, Concat

    from hubspot_sync.models import ItemState, SyncItem

    items = SyncItem.objects.exclude(state=ItemState.EXCLUDED)
    items.update(
        hubspot_id=Concat(Value("4"), Cast(F("pk"), output_field=CharField())),
        state=ItemState.VERIFIED,
    )
    kinds = {"deals": "deal", "line_items": "line_item"}
    return [
        (kinds[kind], hubspot_id)
        for kind, hubspot_id in items.order_by("pk").values_list(
            "object_type", "hubspot_id"
        )
    ]


def _batch(ids: list[tuple[str, str]], n: int) -> bytes:
    """99 edits of `amount` or `quantity`, spread over the items, all distinct."""
    now = int(time.time() * 1000)
    events = []
    for k in range(EVENTS_PER_BATCH):
        serial = n * EVENTS_PER_BATCH + k
        kind, hubspot_id = ids[(serial * 7919) % len(ids)]
        events.append(
            {
                "eventId": 1_000_000 + serial,
                "subscriptionId": 7000001,
                "portalId": 1234567,
                "appId": 1837263,
                "occurredAt": now + serial,
                "subscriptionType": f"{kind}.propertyChange",
                "attemptNumber": 0,
                "objectId": int(hubspot_id),
                "propertyName": "amount" if kind == "deal" else "quantity",
                "propertyValue": str(serial % 97),
                "changeSource": "CRM_UI",
                "sourceId": "userId:98499705",
            }
        )
    return json.dumps(events).encode()


def _post_all(bodies: list[bytes]) -> list[tuple[float, int]]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from hubspot_sync.sandbox.webhooks import sign_v3

    client = Client(HTTP_HOST="127.0.0.1")
    uri = "http://127.0.0.1/hubspot/webhooks/"
    timings = []
    for body in bodies:
        timestamp = str(int(time.time() * 1000))
        headers = {
            "X-HubSpot-Signature-v3": sign_v3(SECRET, "POST", uri, body, timestamp),
            "X-HubSpot-Request-Timestamp": timestamp,
        }
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.post(
                "/hubspot/webhooks/",
                data=body,
                content_type="application/json",
                headers=headers,
            )
            elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise harness.BenchError(f"{response.status_code}: {response.content!r}")
        timings.append((elapsed, len(captured)))
    return timings


def _process_all() -> list[tuple[float, int]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from hubspot_sync import webhooks
    from hubspot_sync.models import WebhookEvent

    ids = list(WebhookEvent.objects.order_by("pk").values_list("pk", flat=True))
    timings = []
    for start in range(0, len(ids), EVENTS_PER_BATCH):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            result = webhooks.process_events(ids[start : start + EVENTS_PER_BATCH])
            elapsed = time.perf_counter() - started
        if result["processed"] != EVENTS_PER_BATCH:
            raise harness.BenchError(f"not every event acted on: {result}")
        timings.append((elapsed, len(captured)))
    return timings


def _row(label: str, timings: list[tuple[float, int]]) -> tuple:
    seconds = sorted(t for t, _ in timings)
    p95 = seconds[min(len(seconds) - 1, round(0.95 * (len(seconds) - 1)))]
    statements = sorted({n for _, n in timings})
    shown = (
        str(statements[0])
        if len(statements) == 1
        else f"{statements[0]}–{statements[-1]}"
    )
    return (
        label,
        len(seconds),
        f"{statistics.median(seconds) * 1000:.1f}",
        f"{p95 * 1000:.1f}",
        f"{seconds[-1] * 1000:.1f}",
        shown,
    )


if __name__ == "__main__":
    main()
