"""Every ten minutes, start a reconciliation sweep if one is due.

Due means the last sweep is TALLY_SWEEP_MINUTES old (read when the schedule
runs, so a changed setting needs no migration) and none is queued or running.
"""

from django.db import migrations

NAME = "tally-reconcile"
CHECK_MINUTES = 10


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=NAME,
        defaults={
            "func": "reconcile.tasks.scheduled_sweep",
            "schedule_type": "I",  # minutes
            "minutes": CHECK_MINUTES,
            "repeats": -1,
        },
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("reconcile", "0002_reconciliation_and_audit"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create_schedule, delete_schedule)]
