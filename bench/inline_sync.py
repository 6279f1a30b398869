"""One sync with ``engine.run_inline`` in this process, timed from inside.

Started by ``bench.overhead`` with the environment of a fresh Tally; prints
one JSON line. The time inside ``requests.Session.request`` is the time spent
waiting on HubSpot (it is also what ``ApiCall.duration_ms`` measures);
everything else is Tally's own.
"""

import cProfile
import json
import os
import re
import sys
import time
from pathlib import Path

# Runs inside "advance run"; reported apart, counted once.
NESTED = "  of which: plan association batches"


class Stopwatch:
    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0

    def wrap(self, owner: type, name: str) -> None:
        original = getattr(owner, name)
        watch = self

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                watch.seconds += time.perf_counter() - started
                watch.calls += 1

        setattr(owner, name, timed)


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM).

    Not ``getrusage``: across ``exec`` Linux carries over the parent's peak
    into ``ru_maxrss``, so a child of a big parent would report the parent's.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _watch_parts() -> dict[str, Stopwatch]:
    """Time the steps of a batch that cost Tally the most, to say where it goes."""
    from hubspot_sync import associations, client, engine, ledger, ratelimit, upserts

    watched = {
        "rate budget (acquire)": (ratelimit.Budget, "acquire"),
        "claim batch": (engine, "_claim"),
        "renew leases, load items": (engine, "_renew_leases"),
        "store ApiCall row": (client.HubSpotClient, "_record"),
        "parse answer JSON": (client, "_json_or_none"),
        "match answer, compare": (upserts, "_account"),
        "match association answer": (associations, "_account"),
        "ledger flush": (ledger.Ledger, "flush"),
        "advance run": (engine, "_advance"),
        NESTED: (engine, "_plan_associations"),
        "plan object batches": (engine, "_plan_objects"),
    }
    parts = {}
    for name, (owner, attribute) in watched.items():
        parts[name] = Stopwatch()
        parts[name].wrap(owner, attribute)
    return parts


class SqlClock:
    """Time spent in the database driver's execute, by statement shape.

    A SELECT's rows are fetched after execute returns, so reads show here
    with less than their whole cost.
    """

    def __init__(self) -> None:
        self.by_shape: dict[str, list] = {}

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            entry = self.by_shape.setdefault(_shape(sql), [0.0, 0])
            entry[0] += time.perf_counter() - started
            entry[1] += 1

    def top(self, count: int) -> list[dict]:
        ranked = sorted(self.by_shape.items(), key=lambda kv: -kv[1][0])
        return [
            {"sql": shape, "seconds": seconds, "calls": calls}
            for shape, (seconds, calls) in ranked[:count]
        ]


def _shape(sql: str) -> str:
    sql = sql.replace('"', "")
    sql = re.sub(r"^SELECT .*? FROM", "SELECT ... FROM", sql)
    sql = re.sub(r"%s(, %s)+", "...", sql)
    sql = re.sub(r"\b\d+\b", "N", sql)
    return sql[:120]


def _sync(run_id: int, profile_path: str | None) -> float:
    from hubspot_sync import engine

    profiler = cProfile.Profile() if profile_path else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    engine.run_inline(run_id)
    wall = time.perf_counter() - started
    if profiler:
        profiler.disable()
        profiler.dump_stats(profile_path)
    return wall


def main() -> None:
    import django

    django.setup()
    import requests
    from django.db import connection

    from hubspot_sync import engine

    http, sql = Stopwatch(), SqlClock()
    http.wrap(requests.Session, "request")
    parts = _watch_parts()
    rss_before = peak_rss_mb()

    run = engine.create_run(trigger="bench")
    profile_path = os.environ.get("BENCH_PROFILE")
    with connection.execute_wrapper(sql):
        wall = _sync(run.pk, profile_path)
    run.refresh_from_db()
    print(
        json.dumps(
            {
                "run": run.pk,
                "run_state": run.state,
                "wall_seconds": wall,
                "http_seconds": http.seconds,
                "http_calls": http.calls,
                "parts": {
                    name: {"seconds": watch.seconds, "calls": watch.calls}
                    for name, watch in parts.items()
                },
                "sql_seconds": sum(entry[0] for entry in sql.by_shape.values()),
                "sql_statements": sum(e[1] for e in sql.by_shape.values()),
                "sql_top": sql.top(8),
                "rss_before_sync_mb": rss_before,
                "peak_rss_mb": peak_rss_mb(),
                "profiled": bool(profile_path),
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
