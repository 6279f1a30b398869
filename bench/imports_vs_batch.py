"""The same 20,000 items through the batch path and through HubSpot imports.

    .venv/bin/python -m bench.imports_vs_batch [--lines 18000] [--orders 2000]

Each path runs with ``engine.run_inline`` in this process against a fresh
sandbox of its own (127.0.0.1, a free port, its default 190 requests per
10 s and 2-second import processing), on a throwaway SQLite database. Prints
wall time, HubSpot calls by endpoint, and the items' final states.
"""

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=2_000)
    parser.add_argument("--lines", type=int, default=9, help="lines per order")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tally-bench-imports-"))
    os.environ["DATABASE_URL"] = f"sqlite:///{work / 'tally.sqlite3'}"
    os.environ["TALLY_VAR_DIR"] = str(work)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reconcile.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    _stage(args.orders, args.lines)
    figures = {name: _measure(work, name) for name in ("batch", "imports")}
    _print(figures)


def _stage(orders: int, lines: int) -> None:
    from reconcile.mapping import stage
    from reconcile.models import LineItem, Order, Store

    store = Store.objects.create(name="Bench store", slug="bench")
    placed = datetime(2010, 12, 1, 8, 26, tzinfo=UTC)
    made = Order.objects.bulk_create(
        Order(
            store=store,
            number=str(536365 + n),
            customer_id="17850",
            country="United Kingdom",
            placed_at=placed,
            currency="GBP",
        )
        for n in range(orders)
    )
    LineItem.objects.bulk_create(
        LineItem(
            order=order,
            position=p,
            sku=f"8512{p}A",
            description="WHITE HANGING HEART T-LIGHT HOLDER",
            quantity=6,
            unit_price=Decimal("2.55"),
        )
        for order in made
        for p in range(1, lines + 1)
    )
    stage(Order.objects.filter(store=store))


def _measure(work: Path, path: str) -> dict:
    from django.conf import settings
    from django.core.cache import cache

    from hubspot_sync import engine
    from hubspot_sync.models import ApiCall, Association, ObjectType, SyncItem
    from hubspot_sync.sandbox.server import SandboxServer

    SyncItem.objects.update(
        state="pending", hubspot_id="", attempts=0, associated_to=""
    )
    SyncItem.objects.filter(object_type=ObjectType.LINE_ITEM).update(
        association=Association.PENDING
    )
    cache.clear()  # a fresh portal: the properties are created again
    with SandboxServer(work / f"sandbox-{path}.sqlite3", port=0) as sandbox:
        settings.HUBSPOT_BASE_URL = sandbox.url
        settings.HUBSPOT_ACCESS_TOKEN = "sandbox-token"
        run = engine.create_run(via_imports=path == "imports")
        started = time.monotonic()
        run = engine.run_inline(run.pk)
        wall = time.monotonic() - started
    calls = ApiCall.objects.filter(run=run)
    endpoints = Counter(
        _shape(c.method, c.endpoint) for c in calls.only("method", "endpoint")
    )
    states = Counter(SyncItem.objects.values_list("state", flat=True))
    return {
        "wall_s": round(wall, 1),
        "calls": calls.count(),
        "endpoints": dict(endpoints.most_common()),
        "states": dict(states),
        "run": run.state,
    }


def _shape(method: str, endpoint: str) -> str:
    parts = [
        p if not p.isdigit() else "{id}" for p in endpoint.split("?")[0].split("/")
    ]
    return f"{method} {'/'.join(parts)}"


def _print(figures: dict) -> None:
    for name, found in figures.items():
        print(
            f"{name:8} wall {found['wall_s']:7.1f} s   HubSpot calls {found['calls']:5}"
            f"   run {found['run']}   items {found['states']}"
        )
        for endpoint, count in found["endpoints"].items():
            print(f"           {count:5}  {endpoint}")


if __name__ == "__main__":
    sys.exit(main())
