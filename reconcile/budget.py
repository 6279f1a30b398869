"""HubSpot's daily API budget as the dashboard shows it: used today, left today.

HubSpot counts per account per day and says so in two headers on every
private-app answer (X-HubSpot-RateLimit-Daily and -Daily-Remaining), which
the client stores on each ``ApiCall``. The newest call that carried them is
the best word on what is left; without one (no call yet today, or an OAuth
app, which gets no daily limit) Tally counts its own calls since midnight UTC
against ``HUBSPOT_DAILY_LIMIT``.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, time

from django.conf import settings
from django.utils import timezone

from hubspot_sync.models import ApiCall

# Free and Starter accounts' daily limit (api-facts §4): the safe assumption.
DEFAULT_DAILY_LIMIT = 250_000


@dataclass(frozen=True)
class Budget:
    limit: int
    used: int
    remaining: int
    # "hubspot" when HubSpot's own headers gave the figures, else "counted".
    source: str

    @property
    def used_percent(self) -> float:
        return 100 * self.used / self.limit if self.limit else 0.0


def midnight_utc(now: datetime | None = None) -> datetime:
    now = now or timezone.now()
    return datetime.combine(now.astimezone(UTC).date(), time.min, tzinfo=UTC)


def today(now: datetime | None = None) -> Budget:
    since = midnight_utc(now)
    calls_today = ApiCall.objects.filter(created__gte=since)
    latest = (
        calls_today.exclude(rate_limit={})
        .order_by("-pk")
        .values_list("rate_limit", flat=True)
        .first()
    )
    reported = _reported(latest or {})
    if reported:
        limit, remaining = reported
        return Budget(limit, max(limit - remaining, 0), remaining, "hubspot")
    limit = getattr(settings, "HUBSPOT_DAILY_LIMIT", DEFAULT_DAILY_LIMIT)
    used = calls_today.count()
    return Budget(limit, used, max(limit - used, 0), "counted")


def _reported(rate_limit: dict) -> tuple[int, int] | None:
    try:
        limit = int(rate_limit["daily"])
        remaining = int(rate_limit["daily_remaining"])
    except (KeyError, TypeError, ValueError):
        return None
    return (limit, remaining) if limit > 0 else None
