"""What hubspot_sync tells the rest of Tally, without knowing who listens.

``run_finished`` is sent once a sync run is done, with ``run_id`` and the
run's ``trigger`` ("command", "retry", "resync", …); reconcile re-checks the
orders a retry or resync sent.
"""

from django.dispatch import Signal

run_finished = Signal()
