"""Tally's own cost with HubSpot out of the way: time and memory.

    python -m bench.overhead              # target c
    python -m bench.overhead --profile    # the same under cProfile, top functions

Imports the whole bundled file plus copies of its invoices under new numbers
(100,000 lines), starts a sandbox without a rate limit, and syncs everything
with ``engine.run_inline`` in a child process: one worker's work, on SQLite.
Tally's own budget is lifted too (``HUBSPOT_RATE_LIMIT``), since the sandbox
announces no limit and Tally would otherwise keep to 190 per 10 s.
"""

import argparse
import json
import pstats
import sys

from bench import calls, data, harness

LINES = 100_000
UNLIMITED = "1000000"  # requests per 10 s for Tally's own budget
# Targets (issue 4, item 6).
MAX_MS_PER_100 = 10.0
MAX_RSS_MB = 300.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--lines", type=int, default=LINES)
    options = parser.parse_args()
    profile = options.profile
    name = "overhead-profiled" if profile else "overhead"
    var = harness.fresh_tally(name)
    try:
        figures = measure(var, options.lines, profile)
        harness.report(var, name, table(figures), figures)
        print_sql(figures)
        if profile:
            stats = pstats.Stats(str(var / "sync.prof"))
            stats.sort_stats("tottime").print_stats(30)
            stats.sort_stats("cumulative").print_stats(40)
    finally:
        harness.drop_bulky_files(var)


def measure(var, lines: int, profile: bool) -> dict:
    orders = var / "orders.csv"
    rows = data.grown(orders, lines)
    import_seconds = harness.import_orders(orders)
    env = {"HUBSPOT_ACCESS_TOKEN": harness.TOKEN, "HUBSPOT_RATE_LIMIT": UNLIMITED}
    if profile:
        env["BENCH_PROFILE"] = str(var / "sync.prof")
    with harness.Children(var) as children:
        env["HUBSPOT_BASE_URL"] = harness.start_sandbox(children, "sandbox", 0)
        inside = _sync_in_child(children, env)
    from hubspot_sync.models import SyncRun

    run = SyncRun.objects.get(pk=inside["run"])
    accounted = harness.accounted(run)
    run_calls = calls.run_calls(run.pk)
    call_figures = calls.summary(run_calls, accounted["line_items_sent"])
    own = inside["wall_seconds"] - inside["http_seconds"]
    items = run.items_total
    return {
        "rows_imported": rows,
        "import_seconds": import_seconds,
        **inside,
        **accounted,
        **call_figures,
        "tally_seconds": own,
        "tally_ms_per_100_items": 1000 * own / items * 100,
        "tally_ms_per_100_lines": 1000 * own / accounted["line_items_sent"] * 100,
        # The same from the stored calls alone, as a cross-check.
        "tally_ms_per_100_items_from_api_calls": 1000
        * (inside["wall_seconds"] - call_figures["hubspot_seconds"])
        / items
        * 100,
    }


def _sync_in_child(children: harness.Children, env: dict) -> dict:
    child = children.spawn(
        "inline-sync", [sys.executable, "-m", "bench.inline_sync"], env
    )
    child.wait()
    lines = children.log_tail("inline-sync", 100_000).strip().splitlines()
    if child.returncode != 0 or not lines or not lines[-1].startswith("{"):
        raise harness.BenchError(
            f"The sync failed:\n{children.log_tail('inline-sync')}"
        )
    return json.loads(lines[-1])


def table(f: dict) -> list[tuple]:
    per_100 = f["tally_ms_per_100_items"]
    rss = f["peak_rss_mb"]
    note = " (profiled: not comparable)" if f["profiled"] else ""
    return [
        ("figure", "measured", "target", "verdict"),
        (
            "Tally's own time per 100 items",
            f"{per_100:.1f} ms{note}",
            f"<= {MAX_MS_PER_100:g} ms",
            harness.verdict(per_100 <= MAX_MS_PER_100),
        ),
        (
            "worker peak RSS (VmHWM, run_inline process)",
            f"{rss:.0f} MB",
            f"<= {MAX_RSS_MB:g} MB",
            harness.verdict(rss <= MAX_RSS_MB),
        ),
        ("  per 100 line items", f"{f['tally_ms_per_100_lines']:.1f} ms", "", ""),
        (
            "  per 100 items, from ApiCall.duration_ms",
            f"{f['tally_ms_per_100_items_from_api_calls']:.1f} ms",
            "",
            "",
        ),
        (
            "wall = Tally + waiting on HubSpot",
            f"{f['wall_seconds']:.1f} s = {f['tally_seconds']:.1f} s "
            f"+ {f['http_seconds']:.1f} s",
            "",
            "",
        ),
        *_breakdown(f),
        ("items sent (line items / deals)", _sent(f), "", ""),
        ("HubSpot calls", f["calls"], "", ""),
        ("every item verified and linked", f["all_verified"], "", ""),
        (
            "RSS after start-up, before the sync",
            f"{f['rss_before_sync_mb']:.0f} MB",
            "",
            "",
        ),
    ]


def print_sql(f: dict) -> None:
    per_100 = 100_000 / f["items_total"]
    total = f["sql_seconds"] * per_100
    statements = f["sql_statements"] / f["http_calls"]
    print(
        f"\nIn the database driver's execute: {total:.1f} ms per 100 items, "
        f"{statements:.1f} statements per HubSpot call; the costliest:"
    )
    for entry in f["sql_top"]:
        cost = entry["seconds"] * per_100
        print(f"  {cost:5.1f} ms  {entry['calls']:6d} x  {entry['sql']}")


def _breakdown(f: dict) -> list[tuple]:
    """Where Tally's own time went, per 100 items, by step."""
    per_100 = 100_000 / f["items_total"]  # seconds -> ms per 100 items
    rows, counted = [], 0.0
    for name, part in f["parts"].items():
        if not name.startswith(" "):
            counted += part["seconds"]
        rows.append((f"  {name}", f"{part['seconds'] * per_100:.1f} ms", "", ""))
    rest = f["tally_seconds"] - counted
    rows.append(("  everything else", f"{rest * per_100:.1f} ms", "", ""))
    return [("Tally's time by step, per 100 items", "", "", ""), *rows]


def _sent(f: dict) -> str:
    return f"{f['items_total']:,} ({f['line_items_sent']:,} / {f['deals_sent']:,})"


if __name__ == "__main__":
    main()
