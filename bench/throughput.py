"""Throughput against a rate-limited sandbox, on one or more qcluster workers.

    python -m bench.throughput --workers 1    # target a
    python -m bench.throughput --workers 4    # target b

Syncs the bundled file's first whole invoices (20,000 lines and their deals)
into a clean sandbox that allows 190 requests per 10 s, and reads the figures
from the ApiCall rows the run stored.
"""

import argparse

from bench import calls, data, harness

RATE_LIMIT = 190
INTERVAL_S = 10.0
LINES = 20_000
RUN_DEADLINE_S = 600
# Targets (issue 4, item 6).
MIN_RATIO = 0.95
MAX_RATIO = 1.0
MAX_CALLS_PER_100 = 1.1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--lines", type=int, default=LINES)
    options = parser.parse_args()
    workers, lines = options.workers, options.lines
    name = f"throughput-{workers}w" + ("" if lines == LINES else f"-{lines}")
    var = harness.fresh_tally(name)
    try:
        figures = measure(var, workers, lines)
        harness.report(var, name, table(figures), figures)
    finally:
        harness.drop_bulky_files(var)


def measure(var, workers: int, lines: int) -> dict:
    orders = var / "orders.csv"
    rows = data.orders(orders, lines)
    import_seconds = harness.import_orders(orders)
    with harness.Children(var) as children:
        url = harness.start_sandbox(children, "sandbox", RATE_LIMIT)
        cluster = harness.start_workers(children, url, workers)
        sandbox = children.named("sandbox")
        cpu_before = _cpu(cluster, sandbox)
        run, wall = harness.run_on_workers(cluster, children, RUN_DEADLINE_S)
        cpu = [
            after - before
            for after, before in zip(_cpu(cluster, sandbox), cpu_before, strict=True)
        ]
        worker_rss = harness.group_peak_rss_mb(cluster)
        children.stop_all()
        store = harness.sandbox_counts(var / "sandbox.sqlite3")
    accounted = harness.accounted(run)
    run_calls = calls.run_calls(run.pk)
    return {
        "workers": workers,
        "rows_imported": rows,
        "import_seconds": import_seconds,
        "run": run.pk,
        "run_state": run.state,
        "wall_seconds": wall,
        "worker_peak_rss_mb": worker_rss,
        "cpu_seconds_workers": cpu[0],
        "cpu_seconds_sandbox": cpu[1],
        **accounted,
        "sandbox": store,
        **calls.summary(run_calls, accounted["line_items_sent"]),
        "window": calls.window_ratios(run_calls, RATE_LIMIT, INTERVAL_S),
        "window_whole_run": calls.window_ratios(
            run_calls, RATE_LIMIT, INTERVAL_S, steady_only=False
        ),
    }


def _cpu(cluster, sandbox) -> tuple[float, float]:
    return harness.group_cpu_seconds(cluster), harness.group_cpu_seconds(sandbox)


def table(f: dict) -> list[tuple]:
    steady, whole = f["window"], f["window_whole_run"]
    ratio_ok = steady["min"] is not None and steady["min"] >= MIN_RATIO
    ratio_ok = ratio_ok and steady["max"] <= MAX_RATIO
    with_setup = f["calls_per_100_lines"]
    without_setup = f["calls_per_100_lines_without_setup"]
    return [
        ("figure", "measured", "target", "verdict"),
        (
            "requests per 10 s window / 190, steady part: min, median; max",
            _ratios(steady),
            f">= {MIN_RATIO}; max <= {MAX_RATIO}",
            harness.verdict(ratio_ok),
        ),
        ("  the same, whole run to the last request", _ratios(whole), "", ""),
        ("429 answers", f["status_429"], "0", harness.verdict(f["status_429"] == 0)),
        (
            "HubSpot calls per 100 line items, with setup",
            f"{with_setup:.3f} ({f['calls']} calls)",
            f"<= {MAX_CALLS_PER_100}",
            harness.verdict(with_setup <= MAX_CALLS_PER_100),
        ),
        (
            "HubSpot calls per 100 line items, without setup",
            f"{without_setup:.3f} ({f['calls'] - f['setup_calls']} calls)",
            f"<= {MAX_CALLS_PER_100}",
            harness.verdict(without_setup <= MAX_CALLS_PER_100),
        ),
        ("line items / deals sent", _sent(f), "", ""),
        ("every item verified and linked", f["all_verified"], "", ""),
        ("run wall time (queued to done)", f"{f['wall_seconds']:.1f} s", "", ""),
        (
            "worker peak RSS (qcluster group)",
            f"{f['worker_peak_rss_mb']:.0f} MB",
            "",
            "",
        ),
        ("CPU per HubSpot call: qcluster group / sandbox", _cpu_per_call(f), "", ""),
    ]


def _ratios(window: dict) -> str:
    low, middle, high = (window[k] for k in ("min", "median", "max"))
    if low is None:
        return f"no whole window ({window['span_seconds']:.1f} s); max {high:.3f}"
    windows = f"{window['windows']} windows in {window['span_seconds']:.1f} s"
    return f"{low:.3f}, {middle:.3f}; {high:.3f} ({windows})"


def _cpu_per_call(f: dict) -> str:
    workers = 1000 * f["cpu_seconds_workers"] / f["calls"]
    sandbox = 1000 * f["cpu_seconds_sandbox"] / f["calls"]
    return f"{workers:.0f} ms / {sandbox:.0f} ms"


def _sent(f: dict) -> str:
    return f"{f['line_items_sent']:,} / {f['deals_sent']:,}"


if __name__ == "__main__":
    main()
