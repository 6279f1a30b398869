"""django-q2 entry points: thin, take ids, safe to run twice."""

from django_q.tasks import async_task

from hubspot_sync import engine


def enqueue(step: str, arg: int) -> None:
    async_task(f"hubspot_sync.tasks.{step}", arg, task_name=f"{step}-{arg}")


def start_run(run_id: int) -> None:
    engine.start_run(run_id, enqueue)


def process_batch(batch_id: int) -> None:
    engine.process_batch(batch_id, enqueue)


def recover_stalled() -> int:
    return engine.recover_stalled(enqueue)
