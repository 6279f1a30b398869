"""Failed webhook events are tried again: their tries, and the schedule that does it."""

from django.db import migrations, models

SCHEDULE = "tally-webhook-retry"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=SCHEDULE,
        defaults={
            "func": "hubspot_sync.tasks.retry_webhook_events",
            "schedule_type": "I",  # minutes
            "minutes": 1,
            "repeats": -1,
        },
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("hubspot_sync", "0010_import_jobs"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookevent",
            name="next_try",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="webhookevent",
            name="tries",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddIndex(
            model_name="webhookevent",
            index=models.Index(
                fields=["state", "next_try"], name="hubspot_syn_state_6042f5_idx"
            ),
        ),
        migrations.RunPython(create_schedule, delete_schedule),
    ]
