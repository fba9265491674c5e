"""Per-namespace retention (issue 17): days spans and logs are kept, days records are kept; empty means the site
default (JOBTRACE_SPAN_RETENTION_DAYS, JOBTRACE_RECORD_RETENTION_DAYS)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0004_schedule_monitor'),
    ]

    operations = [
        migrations.AddField(
            model_name='namespace',
            name='record_retention_days',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='namespace',
            name='span_retention_days',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
    ]
