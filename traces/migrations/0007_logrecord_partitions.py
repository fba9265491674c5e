"""The log record table becomes range-partitioned by day on `time_ns` on PostgreSQL, as the span table did in 0006
(traces/migrations/_partitioning.py: on an existing table with data, in one transaction, and back). The idempotence
key (namespace, time_ns, record_hash) already holds the partition key, so it stays as it is; SQLite is unchanged.
"""

from django.conf import settings
from django.db import migrations

from traces.migrations import _partitioning


def _move(cursor, *, partitioned):
    _partitioning.move(
        cursor,
        table="traces_logrecord",
        column="time_ns",
        unique_name="logrecord_ns_time_hash_uniq",
        unique=("namespace_id", "time_ns", "record_hash"),
        partitioned=partitioned,
        ahead_days=settings.JOBTRACE_PARTITIONS_AHEAD_DAYS,
    )


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            _move(cursor, partitioned=True)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            _move(cursor, partitioned=False)


class Migration(migrations.Migration):
    dependencies = [("traces", "0006_span_partitions")]

    operations = [migrations.RunPython(forward, backward)]
