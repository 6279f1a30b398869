"""HubSpot's request limits: a rolling window per app and a daily count per account,
and search's own per-second limit.

Only requests that are let through count; a refused (429) or unauthenticated
request uses up nothing, so a client that backs off gets through at once.
"""

import math
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from hubspot_sync.sandbox.clock import CLOCK
from hubspot_sync.sandbox.messages import Response

ROLLING = "TEN_SECONDLY_ROLLING"
DAILY = "DAILY"
# The search 429's message is the one the official Node client retries on; its
# policyName is unverified (api-facts §4).
SECONDLY = "SECONDLY"


@dataclass(frozen=True)
class Limits:
    max_requests: int = 190  # per window; 0 means unlimited
    interval_ms: int = 10_000
    daily: int = 625_000  # 0 means unlimited
    retry_after: bool = False
    search_per_second: int = 5  # D-SEARCH; 0 means unlimited

    def for_search(self) -> "Limits":
        return Limits(self.search_per_second, 1000, 0, self.retry_after)


class RateLimiter:
    policy = ROLLING
    limit_name = "ten_secondly_rolling"
    sends_headers = True

    def __init__(
        self, limits: Limits, clock: Callable[[], float] = CLOCK.monotonic
    ) -> None:
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._window: deque[float] = deque()
        self._day = _today()
        self._used_today = 0

    def configure(self, limits: Limits) -> None:
        with self._lock:
            self.limits = limits
            self._window.clear()
            self._used_today = 0

    def acquire(self, correlation_id: str) -> tuple[Response | None, dict[str, str]]:
        """Count one request; return the 429 to answer when it is over a limit, and the headers."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            refusal = self._refusal(now, correlation_id)
            if refusal is None:
                self._window.append(now)
                self._used_today += 1
            return refusal, self._headers()

    def headers(self) -> dict[str, str]:
        with self._lock:
            self._expire(self._clock())
            return self._headers()

    def _expire(self, now: float) -> None:
        if self._day != _today():
            self._day, self._used_today = _today(), 0
        horizon = now - self.limits.interval_ms / 1000
        while self._window and self._window[0] <= horizon:
            self._window.popleft()

    def _refusal(self, now: float, correlation_id: str) -> Response | None:
        limits = self.limits
        if limits.daily and self._used_today >= limits.daily:
            response = _too_many(DAILY, "daily", correlation_id)
            wait = _seconds_to_midnight()
        elif limits.max_requests and len(self._window) >= limits.max_requests:
            response = _too_many(self.policy, self.limit_name, correlation_id)
            wait = self._window[0] + limits.interval_ms / 1000 - now
        else:
            return None
        if limits.retry_after:
            response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return response

    def _headers(self) -> dict[str, str]:
        # An unlimited budget sends no headers for it, as HubSpot does for the
        # daily limit under OAuth and for search (api-facts §4).
        limits, headers = self.limits, {}
        if not self.sends_headers:
            return headers
        if limits.daily:
            headers["X-HubSpot-RateLimit-Daily"] = str(limits.daily)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(
                max(0, limits.daily - self._used_today)
            )
        if limits.max_requests:
            headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(
                limits.interval_ms
            )
            headers["X-HubSpot-RateLimit-Max"] = str(limits.max_requests)
            headers["X-HubSpot-RateLimit-Remaining"] = str(
                max(0, limits.max_requests - len(self._window))
            )
        return headers


class SearchLimiter(RateLimiter):
    """Search's limit: five a second per account, and no rate-limit headers (api-facts §4)."""

    policy = SECONDLY
    limit_name = "secondly"
    sends_headers = False


def _too_many(policy: str, name: str, correlation_id: str) -> Response:
    # The 429 body of api-facts §4; "ten_secondly_rolling" wording from a third-party capture.
    body = {
        "status": "error",
        "message": f"You have reached your {name} limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id,
        "policyName": policy,
        "requestId": str(uuid.uuid4()),
    }
    return Response(429, body)


def _now() -> datetime:
    return datetime.fromtimestamp(CLOCK.time_ns() / 1e9, UTC)


def _today() -> date:
    # HubSpot resets at midnight in the account's time zone; the sandbox uses UTC.
    return _now().date()


def _seconds_to_midnight() -> float:
    now = _now()
    midnight = datetime.combine(
        now.date() + timedelta(days=1), datetime.min.time(), UTC
    )
    return (midnight - now).total_seconds()
