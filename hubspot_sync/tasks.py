"""django-q2 entry points: thin, take ids, safe to run twice."""

from datetime import timedelta

from django.db import IntegrityError
from django.utils import timezone
from django_q.models import Schedule
from django_q.tasks import async_task, schedule

from hubspot_sync import engine, webhooks
from hubspot_sync.models import ImportJob

# A poll due within this many seconds waits in its task; a later one is left
# to django-q2's scheduler, which looks about every 15 seconds.
POLL_SLEEP_SECONDS = 5


def enqueue(step: str, arg: int) -> None:
    if step == "poll_import" and _poll_later(arg):
        return
    async_task(f"hubspot_sync.tasks.{step}", arg, task_name=f"{step}-{arg}")


def _poll_later(job_id: int) -> bool:
    """Schedule the job's next poll when it is not due soon; True if scheduled."""
    due = ImportJob.objects.filter(pk=job_id).values_list("next_poll", flat=True)
    when = due.first()
    if when is None or when - timezone.now() <= timedelta(seconds=POLL_SLEEP_SECONDS):
        return False
    try:
        schedule(
            "hubspot_sync.tasks.poll_import",
            job_id,
            name=f"poll_import-{job_id}-{when.timestamp():.0f}",
            schedule_type=Schedule.ONCE,
            next_run=when,
        )
    except IntegrityError:
        pass  # a second delivery of the same step: that poll is scheduled
    return True


def start_run(run_id: int) -> None:
    engine.start_run(run_id, enqueue)


def process_batch(batch_id: int) -> None:
    engine.process_batch(batch_id, enqueue)


def start_import(job_id: int) -> None:
    engine.start_import(job_id, enqueue)


def poll_import(job_id: int) -> None:
    engine.poll_import(job_id, enqueue, max_sleep=POLL_SLEEP_SECONDS)


def cancel_import(job_id: int, requested_by: str) -> bool:
    return engine.cancel_import(job_id, requested_by, enqueue)


def recover_stalled() -> int:
    return engine.recover_stalled(enqueue)


def retry_webhook_events() -> int:
    return webhooks.retry()
