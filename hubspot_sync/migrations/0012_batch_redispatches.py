"""recover_stalled hands a stalled batch out again less often each time."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('hubspot_sync', '0011_webhook_retries'),
    ]

    operations = [
        migrations.AddField(
            model_name='syncbatch',
            name='redispatched',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='syncbatch',
            name='redispatches',
            field=models.PositiveSmallIntegerField(default=0),
        ),
    ]
