"""The log record's owner columns lose their single-column indexes (traces/logs/models.py: the partial (owner,
time_ns) indexes answer every read by owner, and each plain index cost every stored record an entry). On the
partitioned table (0007) dropping the parent index drops each partition's."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0005_namespace_retention"),
        ("traces", "0007_logrecord_partitions"),
    ]

    operations = [
        migrations.AlterField(
            model_name="logrecord",
            name="execution",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="log_records",
                to="jobs.execution",
            ),
        ),
        migrations.AlterField(
            model_name="logrecord",
            name="job",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="log_records",
                to="jobs.job",
            ),
        ),
        migrations.AlterField(
            model_name="logrecord",
            name="shard",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="log_records",
                to="jobs.shard",
            ),
        ),
    ]
