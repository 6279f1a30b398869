"""The dashboard's response times and the CSV export's speed (issue 5, part 7).

    python -m bench.dashboard [--database sqlite|postgres] [--orders 100000]
        [--outcomes 1000000] [--keep] [--reuse] [--requests 30]

Generates the data from the bundled real orders (``bench.dashboard_data``)
into a fresh database: a SQLite file under the system's temporary directory,
or the PostgreSQL database ``tally_bench`` on 127.0.0.1:5432 (created and
dropped here). Then, in this process, with Django's test ``Client`` logged in
as an operator: each dashboard page's median and 95th-percentile response
time, its SQL statements, and for a page over its target the query plans of
its slowest statements. Then the export of every item as CSV, in a child
process: rows per second and the child's peak memory (``VmHWM``).

``--keep`` keeps the generated database; a later run with ``--reuse`` then
skips the generation (it still runs ``migrate``). A missed target is a
figure, not a failure.
"""

import argparse
import csv
import json
import logging
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import ROOT, stop_on_sigterm

PAGE_TARGET_MS = 300
EXPORT_ROWS_TARGET = 50_000
EXPORT_MEMORY_TARGET_MB = 200
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
PG_NAME = "tally_bench"
PG_URL = f"postgres://postgres@127.0.0.1:5432/{PG_NAME}"
BASE = Path(tempfile.gettempdir()) / "tally-bench-dashboard"
OPERATOR = "bench-operator"
SLOW_FIRST_REQUEST_S = 3.0  # a page this slow is measured 5 times, not 30
# Runs a command and prints its peak memory as it exits: Linux carries the
# parent's peak into a child's ru_maxrss, VmHWM is the child's own.
PEAK_WRAPPER = """
import atexit, runpy, sys
def _peak():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                sys.stderr.write("bench-peak-kb " + line.split()[1] + "\\n")
atexit.register(_peak)
if sys.argv[1] == "-m":
    sys.argv = sys.argv[2:]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
else:
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
"""


@dataclass
class Page:
    label: str
    name: str
    kwargs: dict = field(default_factory=dict)
    query: dict = field(default_factory=dict)
    # Empty Django's cache before each request: the page as it is when what
    # it caches has expired.
    uncached: bool = False


def _log(message: str) -> None:
    print(message, flush=True)


# Databases ----------------------------------------------------------------------


def _paths(args) -> tuple[Path, Path]:
    """The SQLite file and the marker that says a generated database is complete."""
    sizes = f"{args.orders}-{args.outcomes}"
    return (
        BASE / f"tally-{sizes}.sqlite3",
        BASE / f"generated-{args.database}-{sizes}.json",
    )


def _pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)


def _pg_exists() -> bool:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [PG_NAME]
        ).fetchone()
    return found is not None


def _drop(args) -> None:
    sqlite_file, marker = _paths(args)
    marker.unlink(missing_ok=True)
    if args.database == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite_file}{suffix}").unlink(missing_ok=True)
    else:
        _pg_admin(f"DROP DATABASE IF EXISTS {PG_NAME} WITH (FORCE)")


def _database_ready(args) -> bool:
    sqlite_file, marker = _paths(args)
    if not marker.exists():
        return False
    if args.database == "sqlite":
        return sqlite_file.exists()
    return _pg_exists()


def _point_django(args) -> None:
    sqlite_file, _ = _paths(args)
    var = BASE / f"var-{args.database}"
    var.mkdir(parents=True, exist_ok=True)
    os.environ["TALLY_VAR_DIR"] = str(var)
    os.environ["DJANGO_SETTINGS_MODULE"] = "reconcile.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.pop("REDIS_URL", None)
    if args.database == "sqlite":
        os.environ["DATABASE_URL"] = f"sqlite:///{sqlite_file}"
    else:
        os.environ["DATABASE_URL"] = PG_URL


# Pages --------------------------------------------------------------------------


# The webhooks page's events: about a day of edits in a busy HubSpot account.
WEBHOOK_EVENTS = 20_000


def _pages(gen: dict) -> list[Page]:
    from hubspot_sync.models import SyncItem
    from reconcile import categories

    last_page = SyncItem.objects.count() // 25 + 1
    items = "reconcile:item-list"
    pages = [
        Page("overview", "reconcile:overview"),
        Page("overview, counts not cached", "reconcile:overview", uncached=True),
        Page("items", items),
        Page("items, state failed", items, query={"state": "failed"}),
        Page("items, state verified", items, query={"state": "verified"}),
        Page("items, order number", items, query={"q": gen["sample_order_number"]}),
        Page("items, SKU", items, query={"q": gen["sample_sku"]}),
        Page("items, HubSpot ID", items, query={"q": gen["sample_hubspot_id"]}),
        Page("items, reason code", items, query={"q": "INVALID_OPTION"}),
        Page("items, sorted by key", items, query={"sort": "key"}),
        Page("items, sorted by reason code", items, query={"sort": "reason_code"}),
        Page("items, page 1,000", items, query={"page": 1000}),
        Page(f"items, last page ({last_page:,})", items, query={"page": last_page}),
    ]
    for category in categories.CATEGORIES:
        pages.append(
            Page(
                f"category {category.slug}",
                "reconcile:category-list",
                {"slug": category.slug},
            )
        )
    pages += [
        Page(
            "category failed, reason code",
            "reconcile:category-list",
            {"slug": "failed"},
            {"q": "INVALID_OPTION"},
        ),
        Page(
            "category in-sync, SKU",
            "reconcile:category-list",
            {"slug": "in-sync"},
            {"q": gen["sample_sku"]},
        ),
        Page("errors", "reconcile:error-list"),
        Page(
            f"order ({gen['largest_order_lines']} lines)",
            "reconcile:order-detail",
            {"pk": gen["largest_order_id"]},
        ),
        Page("runs", "reconcile:run-list"),
        Page(
            "run (1,500 calls)", "reconcile:run-detail", {"pk": gen["biggest_run_id"]}
        ),
        Page("call", "reconcile:call-detail", {"pk": gen["sample_call_id"]}),
        Page("audit log", "reconcile:audit-list"),
        Page("sweeps", "reconcile:sweep-list"),
        Page(f"webhooks ({WEBHOOK_EVENTS:,} events)", "reconcile:webhook-list"),
        Page("webhooks, failed", "reconcile:webhook-list", query={"state": "failed"}),
        Page("jobs", "reconcile:job-list"),
        Page(
            "retry preview, category failed",
            "reconcile:retry-preview",
            query={"category": "failed"},
        ),
        Page(
            f"resync preview, order ({gen['largest_order_lines']} lines)",
            "reconcile:resync-preview",
            query={"order": gen["largest_order_id"]},
        ),
        Page(
            "resync preview, one day's orders",
            "reconcile:resync-preview",
            query={"placed_after": "2010-12-01", "placed_before": "2010-12-01"},
        ),
        Page(
            "resync preview, whole store",
            "reconcile:resync-preview",
            query={"store": "online-retail"},
        ),
        Page("sweep preview", "reconcile:sweep-preview"),
    ]
    return pages


def add_webhook_events(count: int = 0) -> int:
    """Give the webhooks page a day's worth of events, once; how many there are.

    Added on first measurement (a database generated before the webhooks
    page existed has none): 2% failed, 20% ignored, the rest processed.
    """
    from datetime import UTC, datetime, timedelta

    from hubspot_sync.models import WebhookEvent

    count = count or WEBHOOK_EVENTS
    held = WebhookEvent.objects.count()
    if held >= count:
        return held
    start = datetime(2011, 1, 10, tzinfo=UTC)
    states = WebhookEvent.State
    rows = [
        WebhookEvent(
            dedupe_key=f"bench-{n:08d}",
            event_id=n,
            subscription_type="line_item.propertyChange",
            object_type="line_items",
            object_id=str(40_000_000_000 + n),
            property_name="quantity",
            property_value=str(n % 50),
            change_source="CRM_UI",
            occurred_at=start + timedelta(seconds=n),
            payload={"eventId": n},
            state=(
                states.FAILED
                if n % 50 == 0
                else states.IGNORED
                if n % 5 == 0
                else states.PROCESSED
            ),
            detail="Re-check: sweep 1",
        )
        for n in range(held, count)
    ]
    WebhookEvent.objects.bulk_create(rows, batch_size=2000)
    return count


def _url(page: Page) -> str | None:
    from urllib.parse import urlencode

    from django.urls import NoReverseMatch, reverse

    try:
        path = reverse(page.name, kwargs=page.kwargs or None)
    except NoReverseMatch:
        if not page.kwargs:
            return None
        try:  # the same arguments, positional
            path = reverse(page.name, args=list(page.kwargs.values()))
        except NoReverseMatch:
            return None
    return f"{path}?{urlencode(page.query)}" if page.query else path


def _other_url_names(measured: set[str]) -> list[str]:
    from django.urls import get_resolver

    resolver = get_resolver().namespace_dict["reconcile"][1]
    names = {f"reconcile:{n}" for n in resolver.reverse_dict if isinstance(n, str)}
    return sorted(names - measured)


def _get(client, url: str, uncached: bool = False):
    if uncached:
        from django.core.cache import cache

        cache.clear()
    response = client.get(url)
    if getattr(response, "streaming", False):
        for _ in response.streaming_content:
            pass
    else:
        _ = response.content
    return response


def _measure_page(
    client, url: str, warmups: int, requests: int, uncached: bool = False
) -> dict:
    first = time.perf_counter()
    response = _get(client, url, uncached)
    first_s = time.perf_counter() - first
    if response.status_code != 200:
        return {"status": response.status_code}
    if first_s > SLOW_FIRST_REQUEST_S:
        # Far over the target whatever the spread: fewer requests, no more
        # warm-ups, so that a slow page does not hold the run for minutes.
        warmups, requests = 1, min(requests, 5)
    for _ in range(warmups - 1):
        _get(client, url, uncached)
    times = []
    for _ in range(requests):
        if uncached:
            from django.core.cache import cache

            cache.clear()  # outside the time measured
        began = time.perf_counter()
        _get(client, url)
        times.append((time.perf_counter() - began) * 1000)
    return {
        "status": 200,
        "requests": requests,
        "median_ms": statistics.median(times),
        "p95_ms": _p95(times),
        "max_ms": max(times),
    }


def _p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=100, method="inclusive")[94]


def _queries(client, url: str, uncached: bool = False) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if uncached:
        from django.core.cache import cache

        cache.clear()
    with CaptureQueriesContext(connection) as captured:
        _get(client, url)
    queries = [(float(q["time"]) * 1000, q["sql"]) for q in captured.captured_queries]
    slowest = sorted(queries, key=lambda q: q[0], reverse=True)[:3]
    return {
        "count": len(queries),
        "sql_ms": sum(ms for ms, _ in queries),
        "slowest": [{"ms": ms, "sql": sql} for ms, sql in slowest],
    }


def _explain(sql: str) -> str:
    from django.db import connection

    if not sql.lstrip().upper().startswith("SELECT"):
        return ""
    try:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
                return "\n".join(f"{row[0]}|{row[1]} {row[3]}" for row in cursor)
            cursor.execute("SET statement_timeout = '120s'")
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
            return "\n".join(row[0] for row in cursor)
    except Exception as exc:  # noqa: BLE001  (a plan that cannot be had is reported)
        return f"(no plan: {exc})"


def measure_pages(
    gen: dict, warmups: int, requests: int, only: list[str] | None = None
) -> tuple[list, list, list]:
    from django.contrib.auth import get_user_model
    from django.test import Client

    # A page that raises is reported in the list of skipped pages, once.
    logging.getLogger("django.request").setLevel(logging.CRITICAL)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(get_user_model().objects.get(username=OPERATOR))
    results, skipped = [], []
    measured = set()
    for page in _pages(gen):
        if only and not any(part in page.label for part in only):
            continue
        url = _url(page)
        if url is None:
            skipped.append(f"{page.label} ({page.name} does not resolve yet)")
            continue
        measured.add(page.name)
        try:
            figures = _measure_page(client, url, warmups, requests, page.uncached)
        except Exception as exc:  # noqa: BLE001  (a page being built may fail)
            skipped.append(f"{page.label} ({url}: raised {type(exc).__name__}: {exc})")
            continue
        if figures["status"] != 200:
            skipped.append(f"{page.label} ({url}: HTTP {figures['status']})")
            continue
        figures.update(
            label=page.label, url=url, queries=_queries(client, url, page.uncached)
        )
        if figures["p95_ms"] > PAGE_TARGET_MS:
            for query in figures["queries"]["slowest"][:2]:
                query["plan"] = _explain(query["sql"])
        results.append(figures)
        _log(
            f"  {page.label:40} median {figures['median_ms']:8.1f} ms  "
            f"p95 {figures['p95_ms']:8.1f} ms  "
            f"{figures['queries']['count']:3} queries "
            f"({figures['queries']['sql_ms']:.0f} ms SQL)"
        )
    return results, skipped, _other_url_names(measured)


# Export -------------------------------------------------------------------------


def _run_child(argv: list[str], output: Path) -> dict:
    """Run a child under the peak wrapper; its wall time, peak and rows written."""
    began = time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-c", PEAK_WRAPPER, *argv],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - began
    peak_kb = [
        int(line.split()[1])
        for line in child.stderr.splitlines()
        if line.startswith("bench-peak-kb ")
    ]
    if child.returncode != 0 or not output.exists():
        return {
            "error": f"exit status {child.returncode}",
            "stderr": child.stderr[-2000:],
        }
    with output.open(encoding="utf-8-sig", newline="") as source:
        rows = sum(1 for _ in csv.reader(source)) - 1
    return {
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "peak_mb": peak_kb[-1] / 1024 if peak_kb else None,
        "bytes": output.stat().st_size,
        "stdout": child.stdout[-500:],
    }


def measure_export() -> dict:
    from django.core.management import get_commands
    from django.db import connection
    from django.urls import NoReverseMatch, reverse

    from hubspot_sync.models import SyncItem

    items = SyncItem.objects.count()
    output = BASE / f"export-items-{connection.vendor}.csv"
    output.unlink(missing_ok=True)
    try:
        if "export_report" in get_commands():
            argv = [str(ROOT / "manage.py"), "export_report", "items"]
            result = _run_child([*argv, "--output", str(output)], output)
            result["how"] = "manage.py export_report items --output FILE"
            return {**result, "items": items}
        try:
            url = reverse("reconcile:item-export")
        except NoReverseMatch:
            return {"skipped": "neither export_report nor reconcile:item-export exists"}
        argv = ["-m", "bench.dashboard", "--export-child", url, str(output)]
        result = _run_child(argv, output)
        result["how"] = (
            f"GET {url} with the test Client, streamed (export_report absent)"
        )
        return {**result, "items": items}
    finally:
        output.unlink(missing_ok=True)


def export_child(url: str, output: str) -> int:
    """The web export, in a process of its own: stream it to ``output``."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(get_user_model().objects.get(username=OPERATOR))
    response = client.get(url)
    if response.status_code != 200:
        print(f"HTTP {response.status_code}", file=sys.stderr)
        return 1
    with open(output, "wb") as target:
        if response.streaming:
            for chunk in response.streaming_content:
                target.write(chunk)
        else:
            target.write(response.content)
    return 0


# Report -------------------------------------------------------------------------


def _machine(database: str) -> dict:
    import django
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SHOW server_version")
            db_version = f"PostgreSQL {cursor.fetchone()[0]}"
        else:
            db_version = f"SQLite {sqlite3.sqlite_version}"
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    return {
        "commit": commit,
        "uncommitted_changes_in_tree": bool(dirty.strip()),
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "django": django.get_version(),
        "database": db_version,
        "database_option": database,
    }


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def report(pages, export, skipped, others, gen, machine, load) -> list[list[str]]:
    table = [["figure", "median", "p95", "target", "verdict"]]
    for page in pages:
        table.append(
            [
                page["label"],
                f"{page['median_ms']:.0f} ms",
                f"{page['p95_ms']:.0f} ms",
                f"p95 ≤ {PAGE_TARGET_MS} ms",
                _verdict(page["p95_ms"] <= PAGE_TARGET_MS),
            ]
        )
    if "rows" in export:
        table.append(
            [
                f"export, rows per second ({export['rows']:,} rows of "
                f"{export['items']:,} items, {export['seconds']:.1f} s)",
                f"{export['rows_per_s']:,.0f}",
                "",
                f"≥ {EXPORT_ROWS_TARGET:,}",
                _verdict(export["rows_per_s"] >= EXPORT_ROWS_TARGET),
            ]
        )
        peak = export["peak_mb"]
        table.append(
            [
                "export, peak memory (VmHWM)",
                "?" if peak is None else f"{peak:.0f} MB",
                "",
                f"≤ {EXPORT_MEMORY_TARGET_MB} MB",
                _verdict(peak is not None and peak <= EXPORT_MEMORY_TARGET_MB),
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    _log("")
    for row in table:
        _log(
            "  ".join(
                cell.ljust(width) for cell, width in zip(row, widths, strict=True)
            )
        )
    if "how" in export:
        _log(f"export measured as: {export['how']}")
    if "rows" not in export:
        _log(f"export: {export.get('skipped') or export}")
    if skipped:
        _log("\nskipped:")
        for line in skipped:
            _log(f"  {line}")
    if others:
        _log(f"\nother URL names, not measured: {', '.join(others)}")
    _log(
        f"\n{machine['database']}, commit {machine['commit']}"
        f"{' (with uncommitted changes)' if machine['uncommitted_changes_in_tree'] else ''}"
        f", {machine['nproc']} cores, load average {load[0]:.2f} at the start, "
        f"{load[1]:.2f} at the end (the machine is shared)"
    )
    slow = [p for p in pages if p["p95_ms"] > PAGE_TARGET_MS]
    if slow:
        _log("\nslowest statements of the pages over the target:")
    for page in slow:
        _log(f"\n## {page['label']} ({page['url']}), p95 {page['p95_ms']:.0f} ms")
        for query in page["queries"]["slowest"][:2]:
            _log(f"  {query['ms']:.0f} ms: {query['sql'][:1500]}")
            if query.get("plan"):
                _log("    " + query["plan"].replace("\n", "\n    "))
    return table


# Main ---------------------------------------------------------------------------


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--outcomes", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--warmups", type=int, default=3)
    parser.add_argument(
        "--keep", action="store_true", help="keep the generated database"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="use the database a --keep run left (migrated again), if any",
    )
    parser.add_argument(
        "--generate-only",
        action="store_true",
        help="generate (or reuse) the database, keep it and stop: measure later "
        "with --reuse",
    )
    parser.add_argument(
        "--skip-pages", action="store_true", help="measure the export only"
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="TEXT",
        help="measure only the pages whose label contains TEXT (repeatable)",
    )
    parser.add_argument(
        "--skip-export", action="store_true", help="measure the pages only"
    )
    parser.add_argument("--export-child", nargs=2, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> int:
    args = _arguments()
    if args.export_child:
        return export_child(*args.export_child)
    args.keep = args.keep or args.generate_only
    stop_on_sigterm()
    load_start = os.getloadavg()[0]
    BASE.mkdir(parents=True, exist_ok=True)
    _, marker = _paths(args)
    reuse = args.reuse and _database_ready(args)
    if not reuse:
        _drop(args)
        if args.database == "postgres":
            _pg_admin(f"CREATE DATABASE {PG_NAME}")
    _point_django(args)
    try:
        return _bench(args, reuse, marker, load_start)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            _drop(args)
            shutil.rmtree(BASE / f"var-{args.database}", ignore_errors=True)


def _bench(args, reuse: bool, marker: Path, load_start: float) -> int:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    if reuse:
        gen = json.loads(marker.read_text())
        _log(f"reusing the database generated in {gen['seconds']['total']:.0f} s")
    else:
        from bench.dashboard_data import generate

        _log(
            f"generating {args.orders:,} orders and {args.outcomes:,} outcomes "
            f"({args.database})"
        )
        gen = generate(args.orders, args.outcomes, _log).as_dict()
        marker.write_text(json.dumps(gen, indent=1))
        _log(f"generated in {gen['seconds']['total']:.0f} s: {gen['counts']}")
    if args.generate_only:
        return 0
    _log(f"webhook events: {add_webhook_events():,}")
    machine = _machine(args.database)
    _log(
        f"\npages ({args.warmups} warm-ups, {args.requests} requests each; a page "
        f"whose first request takes over {SLOW_FIRST_REQUEST_S:.0f} s: 5 requests):"
    )
    pages, skipped, others = [], ["every page (--skip-pages)"], []
    if not args.skip_pages:
        pages, skipped, others = measure_pages(
            gen, args.warmups, args.requests, args.only
        )
    export = {"skipped": "--skip-export"}
    if not args.skip_export:
        _log("\nexport:")
        export = measure_export()
    load = (load_start, os.getloadavg()[0])
    table = report(pages, export, skipped, others, gen, machine, load)
    part = "-export" if args.skip_pages else ""
    part += "-pages" if args.skip_export else ""
    part += "-only" if args.only else ""
    figures = BASE / f"figures-{args.database}{part}.json"
    figures.write_text(
        json.dumps(
            {
                "machine": machine,
                "load_average": load,
                "generation": gen,
                "pages": pages,
                "export": export,
                "skipped": skipped,
                "other_url_names": others,
                "table": table,
            },
            indent=1,
        )
    )
    _log(f"figures: {figures}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
