"""django-q2 entry points for reconciliation sweeps: thin, take ids, safe to run twice."""

from django_q.tasks import async_task

from reconcile import sweep


def enqueue_sweep(sweep_id: int) -> None:
    # A sweep runs longer than a sync batch: its own timeout, above the
    # cluster's retry. The ORM broker may then hand it out a second time while
    # it runs; that delivery finds the sweep claimed and does nothing.
    async_task(
        "reconcile.tasks.run_sweep",
        sweep_id,
        task_name=f"sweep-{sweep_id}",
        timeout=sweep.TASK_TIMEOUT_SECONDS,
    )


def run_sweep(sweep_id: int) -> bool:
    return sweep.run_sweep(sweep_id)


def scheduled_sweep() -> int | None:
    """The "tally-reconcile" schedule: queue a sweep when one is due.

    Returns the new sweep's id, or None when none was due or one is queued
    or running already.
    """
    due = sweep.start_scheduled()
    if due is None:
        return None
    enqueue_sweep(due.pk)
    return due.pk
