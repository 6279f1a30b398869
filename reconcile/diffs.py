"""Field-level differences between the store and HubSpot, as the pages show them.

A mismatch outcome keeps, under ``mismatches`` in its detail, each differing
property with the store's value and HubSpot's (written by the sync's
verification and by reconciliation sweeps; a sweep adds when HubSpot last
changed the field and by what source, where HubSpot said).
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db.models import Max
from django.utils.dateparse import parse_datetime

from hubspot_sync.models import ItemOutcome, ItemState, Outcome, SyncItem


@dataclass(frozen=True)
class FieldDiff:
    item: SyncItem
    field: str
    store: str | None
    hubspot: str | None
    changed_at: datetime | None
    source: str


def latest_mismatches(items: list[SyncItem]) -> list[FieldDiff]:
    """The differing fields of each item now in ``mismatch``, from its latest mismatch.

    One query whatever the number of items: the outcomes whose id is the
    latest mismatch id of their item.
    """
    by_id = {
        item.pk: item for item in items if item and item.state == ItemState.MISMATCH
    }
    if not by_id:
        return []
    latest = (
        ItemOutcome.objects.filter(item_id__in=by_id, outcome=Outcome.MISMATCH)
        .order_by()
        .values("item_id")
        .annotate(last=Max("pk"))
        .values_list("last", flat=True)
    )
    diffs = []
    for outcome in ItemOutcome.objects.filter(pk__in=latest).order_by("item_id"):
        fields = (outcome.detail or {}).get("mismatches") or {}
        for name, values in sorted(fields.items()):
            values = values if isinstance(values, dict) else {}
            diffs.append(
                FieldDiff(
                    item=by_id[outcome.item_id],
                    field=name,
                    store=values.get("store"),
                    hubspot=values.get("hubspot"),
                    changed_at=_moment(values.get("changed_at")),
                    source=_source(values),
                )
            )
    return diffs


def _moment(value) -> datetime | None:
    if not value:
        return None
    if isinstance(value, int | float) or str(value).isdigit():
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    return parse_datetime(str(value).replace("Z", "+00:00"))


def _source(values: dict) -> str:
    """HubSpot's source of the change, with the user where it names one."""
    source = str(values.get("source") or "")
    user = values.get("user_id")
    return f"{source}, user {user}" if source and user else source
