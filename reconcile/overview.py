"""What the overview shows beyond raw counts: work in progress, the trend, the budget.

Kept apart from the view so that the figures (progress, time left, chart
points) are plain values a test can check.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from hubspot_sync.models import SyncRun
from reconcile import categories
from reconcile.models import CategorySnapshot, Sweep

# The categories drawn on the trend chart, each with its line colour.
TREND_SERIES = (
    ("mismatch", "#b45309"),
    ("missing", "#b91c1c"),
    ("duplicate", "#7c3aed"),
    ("unreported", "#6b21a8"),
    ("failed", "#991b1b"),
    ("never-synced", "#1d4ed8"),
    ("orphan", "#0f766e"),
    ("order-problem", "#374151"),
)
TREND_POINTS = 60
CHART_WIDTH = 640
CHART_HEIGHT = 160


@dataclass(frozen=True)
class Work:
    """A run or sweep in progress, as a progress bar."""

    kind: str  # "Sync run" or "Sweep"
    pk: int
    url: str | None
    state: str
    what: str  # the unit counted: "batches", "items"
    done: int
    total: int
    started: datetime | None
    requested_by: str

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0

    def time_left(self, now: datetime | None = None) -> timedelta | None:
        """Elapsed time per unit done so far times the units left; None until known."""
        if not self.started or not self.done or not self.total:
            return None
        elapsed = (now or timezone.now()) - self.started
        left = max(self.total - self.done, 0)
        return elapsed * left / self.done


def running_work() -> list[Work]:
    work = []
    active_runs = SyncRun.objects.filter(
        state__in=[SyncRun.State.QUEUED, SyncRun.State.RUNNING]
    ).order_by("created", "pk")
    for run in active_runs:
        work.append(
            Work(
                kind="Sync run",
                pk=run.pk,
                url=reverse("reconcile:run-detail", args=[run.pk]),
                state=run.get_state_display(),
                what=f"batches ({run.get_phase_display().lower()})",
                done=run.batches_done,
                total=run.batches_total,
                started=run.started,
                requested_by=run.requested_by,
            )
        )
    active_sweeps = Sweep.objects.filter(
        state__in=[Sweep.State.QUEUED, Sweep.State.RUNNING]
    ).order_by("created", "pk")
    for sweep in active_sweeps:
        work.append(
            Work(
                kind="Sweep",
                pk=sweep.pk,
                url=reverse("reconcile:sweep-list"),
                state=sweep.get_state_display(),
                what=_sweep_stage(sweep),
                done=sweep.items_checked,
                total=sweep.items_total,
                started=sweep.started,
                requested_by=sweep.requested_by,
            )
        )
    return work


def _sweep_stage(sweep: Sweep) -> str:
    """What the sweep counts, and what it does while it has checked none yet."""
    if sweep.scoped_orders is not None:
        return "items checked (re-check of orders just sent)"
    if sweep.state == Sweep.State.RUNNING and not sweep.items_checked and sweep.calls:
        return (
            f"items checked; listing HubSpot's records first for orphans and "
            f"duplicates ({sweep.calls:,} calls so far)"
        )
    return "items checked"


def list_url(slug: str) -> str:
    """The page listing one category (the items list, filtered, as a fallback)."""
    try:
        return reverse("reconcile:category-list", args=[slug])
    except NoReverseMatch:
        return reverse("reconcile:item-list")


def category_cards(counts: dict[str, int]) -> list[dict]:
    return [
        {
            "slug": category.slug,
            "label": category.label,
            "description": category.description,
            "count": counts.get(category.slug, 0),
            "attention": category.attention and counts.get(category.slug, 0) > 0,
            "url": list_url(category.slug),
        }
        for category in categories.CATEGORIES
    ]


@dataclass(frozen=True)
class Series:
    slug: str
    label: str
    colour: str
    points: str  # SVG polyline points
    latest: int


@dataclass(frozen=True)
class Trend:
    series: list[Series]
    snapshots: list[CategorySnapshot]
    peak: int
    first: datetime | None
    last: datetime | None


def trend(limit: int = TREND_POINTS) -> Trend:
    """The last ``limit`` snapshots as one polyline per category needing attention.

    Snapshots are placed by time, so a gap in sweeps shows as a long segment.
    """
    snapshots = list(CategorySnapshot.objects.order_by("-taken", "-pk")[:limit])
    snapshots.reverse()
    if not snapshots:
        return Trend([], [], 0, None, None)
    peak = max(
        (snap.counts.get(slug, 0) for snap in snapshots for slug, _ in TREND_SERIES),
        default=0,
    )
    first, last = snapshots[0].taken, snapshots[-1].taken
    span = (last - first).total_seconds()
    series = []
    for slug, colour in TREND_SERIES:
        values = [snap.counts.get(slug, 0) for snap in snapshots]
        points = " ".join(
            f"{_x(snap.taken, first, span, i, len(snapshots)):.1f},{_y(v, peak):.1f}"
            for i, (snap, v) in enumerate(zip(snapshots, values, strict=True))
        )
        if len(snapshots) == 1:
            # A zero-length line with round caps is drawn as a dot.
            points = f"{points} {points}"
        series.append(
            Series(slug, categories.get(slug).label, colour, points, values[-1])
        )
    return Trend(series, snapshots, peak, first, last)


def _x(taken: datetime, first: datetime, span: float, index: int, n: int) -> float:
    if span > 0:
        return CHART_WIDTH * (taken - first).total_seconds() / span
    return CHART_WIDTH * index / (n - 1) if n > 1 else CHART_WIDTH / 2


def _y(value: int, peak: int) -> float:
    if peak <= 0:
        return CHART_HEIGHT
    return CHART_HEIGHT - CHART_HEIGHT * value / peak
