"""What hubspot_sync tells the rest of Tally, without knowing who listens.

``run_finished`` is sent once a sync run is done, with ``run_id`` and the
run's ``trigger`` ("command", "retry", "resync", …); reconcile re-checks the
orders a retry or resync sent.

``records_changed`` is sent when HubSpot's webhooks say that records Tally
holds changed there (hubspot_sync.webhooks), with ``item_ids`` (the SyncItem
pks) and ``event_ids`` (the WebhookEvent pks), once per batch of events;
reconcile re-checks those items' orders. A receiver may return what it
queued; its ``str()`` is kept on the events.
"""

from django.dispatch import Signal

run_finished = Signal()
records_changed = Signal()
