"""Re-check what HubSpot's webhooks say changed there (hubspot_sync's records_changed).

One targeted sweep per batch of events: it reads only the orders of the
items named (their deal and line items), compares them with the store and
reads HubSpot's property history for any field that differs, so that an
edit made in HubSpot shows as a mismatch with when and by what source it
was made; a deleted record shows as not found. No key scan, no trend point.
"""

import logging

from django.db import transaction
from django.db.models import Q

from reconcile.models import Order, Sweep
from reconcile.sweep import create_sweep

logger = logging.getLogger(__name__)


def recheck_changed(
    sender, item_ids: list[int], event_ids: list[int], **kwargs
) -> Sweep | None:
    """Queue one re-check of the orders of ``item_ids``; None when there are none."""
    orders = sorted(
        set(
            Order.objects.filter(
                Q(sync_item__in=item_ids) | Q(lines__sync_item__in=item_ids)
            ).values_list("pk", flat=True)
        )
    )
    if not orders:
        return None
    first, last = min(event_ids, default=0), max(event_ids, default=0)
    sweep = create_sweep(
        trigger="webhook",
        requested_by=f"webhook events {first}-{last}"[:150],
        orders=orders,
    )
    from reconcile.tasks import enqueue_sweep

    transaction.on_commit(lambda: enqueue_sweep(sweep.pk))
    logger.info(
        "Webhooks: sweep %s re-checks %d orders (%d items)",
        sweep.pk,
        len(orders),
        len(item_ids),
    )
    return sweep


def connect() -> None:
    """Listen to hubspot_sync's records_changed (called from ReconcileConfig.ready)."""
    from hubspot_sync.models import WebhookEvent
    from hubspot_sync.signals import records_changed

    records_changed.connect(
        recheck_changed, sender=WebhookEvent, dispatch_uid="tally-webhook-checks"
    )
