"""Tally side by side with the script a user would otherwise write.

    python -m bench.baseline    # target d

Both push the same 20,000 line items and their deals (the payloads Tally
staged, exported first) into a clean sandbox allowing 190 requests per 10 s:
first ``bench.plain_push`` on HubSpot's official client, then Tally on one
qcluster worker, each against a sandbox of its own started the same way.
"""

import json
import sys

from bench import data, harness

RATE_LIMIT = 190
LINES = 20_000
RUN_DEADLINE_S = 600
MAX_WALL_RATIO = 1.05  # target (issue 4, item 6)


def main() -> None:
    var = harness.fresh_tally("baseline")
    try:
        figures = measure(var)
        harness.report(var, "baseline", table(figures), figures)
    finally:
        harness.drop_bulky_files(var)


def measure(var) -> dict:
    orders = var / "orders.csv"
    data.first_invoices(orders, LINES)
    harness.import_orders(orders)
    payload = var / "payload.json"
    payload.write_text(json.dumps(_staged_payload()))
    with harness.Children(var) as children:
        plain = _plain(children, payload)
        plain["sandbox"] = harness.sandbox_counts(var / "sandbox-plain.sqlite3")
        url = harness.start_sandbox(children, "sandbox", RATE_LIMIT)
        cluster = harness.start_workers(children, url, 1)
        run, wall = harness.run_on_workers(cluster, children, RUN_DEADLINE_S)
        children.stop_all()
        tally = {
            "wall_seconds": wall,
            "calls": run.calls.count(),
            "status_429": run.calls.filter(status=429).count(),
            **harness.accounted(run),
            "sandbox": harness.sandbox_counts(var / "sandbox.sqlite3"),
        }
    return {
        "plain": plain,
        "tally": tally,
        "wall_ratio": tally["wall_seconds"] / plain["wall_seconds"],
    }


def _staged_payload() -> dict:
    """What Tally will send, so that the baseline pushes exactly the same."""
    from hubspot_sync.models import SENDABLE_STATES, ObjectType, SyncItem

    items = SyncItem.objects.filter(state__in=SENDABLE_STATES).order_by("key")
    rows = items.values_list("object_type", "key", "parent_key", "properties")
    payload: dict[str, list] = {"deals": [], "lines": []}
    for object_type, key, parent_key, properties in rows:
        record = {"key": key, "properties": properties}
        if object_type == ObjectType.LINE_ITEM:
            payload["lines"].append({**record, "parent_key": parent_key})
        else:
            payload["deals"].append(record)
    return payload


def _plain(children: harness.Children, payload) -> dict:
    url = harness.start_sandbox(children, "sandbox-plain", RATE_LIMIT)
    argv = [sys.executable, "-m", "bench.plain_push", str(payload), url]
    child = children.spawn("plain-push", argv)
    child.wait()
    lines = children.log_tail("plain-push", 20_000).strip().splitlines()
    if child.returncode != 0 or not lines or not lines[-1].startswith("{"):
        raise harness.BenchError(
            f"The plain script failed:\n{children.log_tail('plain-push')}"
        )
    children.stop_all()  # its sandbox, so that both runs have the machine alone
    figures = json.loads(lines[-1])
    figures["status_429"] = figures["retried"].get("429", 0)
    figures["calls"] = (
        figures["setup_calls"]
        + figures["sync_calls"]
        + sum(figures["retried"].values())
    )
    return figures


def table(f: dict) -> list[tuple]:
    plain, tally, ratio = f["plain"], f["tally"], f["wall_ratio"]
    return [
        ("figure", "Tally", "plain script", "target", "verdict"),
        (
            "wall time",
            f"{tally['wall_seconds']:.1f} s",
            f"{plain['wall_seconds']:.1f} s",
            "",
            "",
        ),
        (
            "Tally / plain",
            f"{ratio:.2f}",
            "",
            f"<= {MAX_WALL_RATIO}",
            harness.verdict(ratio <= MAX_WALL_RATIO),
        ),
        ("HubSpot requests", tally["calls"], plain["calls"], "", ""),
        ("429 answers", tally["status_429"], plain["status_429"], "", ""),
        (
            "  plain script's backoff after them",
            "",
            f"{plain['backoff_seconds']:.1f} s",
            "",
            "",
        ),
        (
            "in the sandbox: line items / deals / linked",
            _held(tally["sandbox"]),
            _held(plain["sandbox"]),
            "",
            "",
        ),
        (
            "every item verified and linked",
            tally["all_verified"],
            "(not checked)",
            "",
            "",
        ),
    ]


def _held(counts: dict) -> str:
    return f"{counts['line_items']:,} / {counts['deals']:,} / {counts['line_items_linked']:,}"


if __name__ == "__main__":
    main()
