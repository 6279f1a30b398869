"""Figures from the ApiCall rows a run stored: calls, 429s, requests per window."""

from bisect import bisect_left
from dataclasses import dataclass
from statistics import median

SETUP_PREFIX = "/crm/v3/properties/"


@dataclass(frozen=True)
class Call:
    start: float  # epoch seconds the request went out
    duration_ms: int
    status: int | None
    endpoint: str


def run_calls(run_id: int) -> list[Call]:
    """The run's calls, by when they were sent.

    A row is stored when the answer is in (``created``); the request went out
    ``duration_ms`` earlier, and that is when HubSpot counts it.
    """
    from hubspot_sync.models import ApiCall

    rows = ApiCall.objects.filter(run_id=run_id).values_list(
        "created", "duration_ms", "status", "endpoint"
    )
    calls = [
        Call(created.timestamp() - duration / 1000, duration, status, endpoint)
        for created, duration, status, endpoint in rows.iterator()
    ]
    return sorted(calls, key=lambda call: call.start)


def window_ratios(
    calls: list[Call], limit: int, interval_s: float = 10.0, steady_only=True
) -> dict:
    """Requests per rolling window over the limit.

    min and median are taken over the whole windows that fit in the steady
    part, one starting every half second. The steady part runs from the
    first object upsert to the last: before it come the one-time property
    setup and the planning of the batches; after it, the association
    requests, few (2,000 pairs each) and not held back by the budget. With
    ``steady_only`` off, the windows run from the first request to the last.
    The max is exact: the busiest window starting at any request, which must
    not exceed 1.0.
    """
    starts = [call.start for call in calls]
    upserts = [call.start for call in calls if call.endpoint.endswith("/upsert")]
    span = upserts if steady_only else starts

    def count(begin: float) -> int:
        return bisect_left(starts, begin + interval_s) - bisect_left(starts, begin)

    ratios = []
    begin = span[0] if span else 0.0
    while span and begin + interval_s <= span[-1]:
        ratios.append(count(begin) / limit)
        begin += 0.5
    return {
        "span_seconds": span[-1] - span[0] if span else 0.0,
        "windows": len(ratios),
        "min": min(ratios) if ratios else None,
        "median": median(ratios) if ratios else None,
        "max": max((count(start) for start in starts), default=0) / limit,
    }


def summary(calls: list[Call], line_items: int) -> dict:
    setup = [call for call in calls if call.endpoint.startswith(SETUP_PREFIX)]
    sync = [call for call in calls if not call.endpoint.startswith(SETUP_PREFIX)]
    by_endpoint = {"properties (setup)": len(setup)}
    for call in sync:
        by_endpoint[call.endpoint] = by_endpoint.get(call.endpoint, 0) + 1
    return {
        "calls": len(calls),
        "setup_calls": len(setup),
        "status_429": sum(1 for call in calls if call.status == 429),
        # A property the setup looks up and does not find answers 404, as it should.
        "sync_errors": sum(1 for call in sync if not 200 <= (call.status or 0) < 300),
        "calls_per_100_lines": 100 * len(calls) / line_items,
        "calls_per_100_lines_without_setup": 100
        * (len(calls) - len(setup))
        / line_items,
        "hubspot_seconds": sum(call.duration_ms for call in calls) / 1000,
        "by_endpoint": by_endpoint,
    }
